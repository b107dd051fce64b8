use actix_web::web::{Bytes, Data};

use crate::actors::Actors;
use crate::actors::account::Authenticate;
use crate::actors::balance::AllocateChatServer;
use crate::domain::{Password, Username};
use crate::http::request::{LoginRequest, decode};
use crate::http::{ApiError, Reply};

/// `/trylogin_server`: checks the credentials and relays the least-loaded
/// chat server and the user's token there. The gateway logs nobody in.
pub async fn try_login_server(body: Bytes, actors: Data<Actors>) -> Result<Reply, ApiError> {
    let request: LoginRequest = decode(&body)?;
    let username = Username::parse(&request.username)?;
    let password = Password::parse(request.password)?;
    let uuid = actors
        .account
        .send(Authenticate { username, password })
        .await
        .map_err(ApiError::account_gone)??;
    let lease = actors
        .balance
        .send(AllocateChatServer { uuid })
        .await
        .map_err(ApiError::balance_gone)??;
    Ok(Reply::success()
        .uuid(uuid)
        .chat_server(lease.host, lease.port, lease.token))
}
