use actix_web::web::Data;

use crate::actors::account::Authenticate;
use crate::actors::balance::AllocateChatServer;
use crate::actors::limits::{ClearLogin, ReserveLogin};
use crate::actors::{ActorKind, Actors};
use crate::domain::{Password, Username};
use crate::http::ApiError;
use crate::http::body::BodyRefused;
use crate::http::body::RequestBody;
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
) -> Result<Answer<ChatServerAssigned>, ApiError> {
    let request: LoginRequest = decode(&body)?;
    let username = Username::parse(&request.username)?;
    let password = Password::parse(request.password)?;
    actors
        .limits
        .send(ReserveLogin {
            username: username.clone(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Limits))??;
    let waiting = RequestGuard::default();
    let uuid = actors
        .account
        .send(Authenticate {
            username: username.clone(),
            password,
            interest: waiting.interest(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Account))??;
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
