//! The five endpoints (POST only), each limited per client address; health,
//! readiness, metrics and the OpenAPI document (GET). Another method on one
//! of these paths is a plain-text 405 naming the allowed one; an unknown
//! path is a plain-text 404.

pub(super) mod account;
mod code;
pub(super) mod health;
pub(super) mod login;
pub(super) mod metrics;
pub(super) mod registration;
pub(super) mod verification;

use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{Handler, HttpResponse, Resource, Responder, web};

use super::limits::admit_address;
use super::openapi::openapi_json;

pub fn configure(config: &mut web::ServiceConfig) {
    let endpoints = web::scope("")
        .wrap(from_fn(admit_address))
        .service(only(
            "/get_verification",
            Method::POST,
            verification::get_verification,
        ))
        .service(only(
            "/post_registration",
            Method::POST,
            registration::post_registration,
        ))
        .service(only(
            "/check_accountexists",
            Method::POST,
            account::check_account_exists,
        ))
        .service(only(
            "/reset_password",
            Method::POST,
            account::reset_password,
        ))
        .service(only(
            "/trylogin_server",
            Method::POST,
            login::try_login_server,
        ));
    config
        .service(only("/healthz", Method::GET, health::healthz))
        .service(only("/readyz", Method::GET, health::readyz))
        .service(only("/metrics", Method::GET, metrics::metrics))
        .service(only("/openapi.json", Method::GET, openapi_json))
        .service(endpoints)
        .default_service(web::to(not_found));
}

/// `path` served by `handler` for `method`, 405 for any other method.
fn only<F, Args>(path: &str, method: Method, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let allowed = method.to_string();
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || {
            let allowed = allowed.clone();
            async move {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, allowed))
                    .content_type("text/plain; charset=utf-8")
                    .body("method not allowed\n")
            }
        }))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not found\n")
}
