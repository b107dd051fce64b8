use std::time::Duration;

use actix_web::web::Data;

use super::code::settle;

use crate::actors::account::{AccountError, Authenticate, FindAddress};
use crate::actors::balance::AllocateChatServer;
use crate::actors::limits::{ClearLogin, ReserveLogin};
use crate::actors::resets::{AccountNotice, SendNotice};
use crate::actors::{ActorKind, Actors};
use crate::domain::{Password, Username};
use crate::http::ApiError;
use crate::http::body::BodyRefused;
use crate::http::body::RequestBody;
use crate::http::messages::Waits;
use crate::http::reply::{Answer, Answered, ChatServerAssigned, Succeeded};
use crate::http::request::{LoginRequest, decode};
use crate::security::password::RequestGuard;

/// `/trylogin_server`: checks the credentials and relays the least-loaded
/// chat server and the user's token there. The gateway logs nobody in.
/// Every attempt is counted before the password is checked; a success
/// forgets the account's earlier failures.
#[utoipa::path(
    post,
    path = "/trylogin_server",
    tag = "accounts",
    summary = "Check credentials and get a chat server",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The chat server to connect to (0), or why not", body = Answered<ChatServerAssigned>),
        BodyRefused
    )
)]
pub async fn try_login_server(
    body: RequestBody,
    actors: Data<Actors>,
    waits: Data<Waits>,
) -> Result<Answer<ChatServerAssigned>, ApiError> {
    let request: LoginRequest = decode(&body)?;
    let username = Username::parse(&request.username)?;
    let password = Password::parse(request.password)?;
    let attempt = actors
        .limits
        .send(ReserveLogin {
            username: username.clone(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Limits))??;
    let waiting = RequestGuard::default();
    let checked = actors
        .account
        .send(Authenticate {
            username: username.clone(),
            password,
            interest: waiting.interest(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Account))?;
    if attempt.last_allowed && matches!(checked, Err(AccountError::WrongCredentials)) {
        // The lock starts with this failure: its one notice, after the
        // answer (whether a mail goes out must not change its timing).
        let actors = actors.clone();
        let username = username.clone();
        let window = waits.login;
        actix_web::rt::spawn(async move { mail_lock_notice(&actors, username, window).await });
    }
    let uuid = checked?;
    actors.limits.do_send(ClearLogin { username });
    let lease = actors
        .balance
        .send(AllocateChatServer { uuid })
        .await
        .map_err(ApiError::gone(ActorKind::Balance))??;
    Ok(Answer(ChatServerAssigned {
        error: Succeeded,
        uuid: uuid.to_string(),
        host: lease.host,
        port: lease.port,
        token: lease.token,
    }))
}

/// Mails the owner of `username` (if the name is an account's) that its
/// sign-ins are refused for now, with the reset page's link. Once per
/// window: only the window's last allowed attempt, failed, calls this.
/// The verification service states the lock's start and end from the
/// name's login window in Redis; ours are what the settings say.
async fn mail_lock_notice(actors: &Actors, username: Username, window: Duration) {
    let (name, email) = match settle(actors.account.send(FindAddress { username }).await) {
        Ok(Some(address)) => address,
        Ok(None) => return,
        Err(error) => return log::warn!("lockout notice: no address: {error}"),
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.as_secs());
    let notice = SendNotice {
        email,
        username: name,
        locale: None,
        notice: AccountNotice::LoginLocked {
            started: started as i64,
            ends: (started + window.as_secs()) as i64,
        },
    };
    match settle(actors.captcha.send(notice).await) {
        Ok(()) => log::info!("an account's sign-ins are paused: its owner was told"),
        Err(error) => log::warn!("lockout notice not mailed: {error}"),
    }
}
