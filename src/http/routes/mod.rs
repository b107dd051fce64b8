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
        .service(post("/get_verification", verification::get_verification))
        .service(post("/post_registration", registration::post_registration))
        .service(post("/check_accountexists", account::check_account_exists))
        .service(post("/reset_password", account::reset_password))
        .service(post("/trylogin_server", login::try_login_server));
    config
        .service(get("/healthz", health::healthz))
        .service(get("/readyz", health::readyz))
        .service(get("/metrics", metrics::metrics))
        .service(get("/openapi.json", openapi_json))
        .service(endpoints)
        .default_service(web::to(not_found));
}

fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    only(path, Method::POST, handler)
}

fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    only(path, Method::GET, handler)
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
