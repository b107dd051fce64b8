//! The five endpoints (POST only), each limited per client address; health,
//! readiness and metrics (GET); a plain-text 404 for everything else (other methods
//! on the five paths too).

mod account;
mod code;
mod health;
mod login;
mod metrics;
mod registration;
mod verification;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};

use super::limits::admit_address;

pub fn configure(config: &mut web::ServiceConfig) {
    let endpoints = web::scope("")
        .wrap(from_fn(admit_address))
        .route(
            "/get_verification",
            web::post().to(verification::get_verification),
        )
        .route(
            "/post_registration",
            web::post().to(registration::post_registration),
        )
        .route(
            "/check_accountexists",
            web::post().to(account::check_account_exists),
        )
        .route("/reset_password", web::post().to(account::reset_password))
        .route("/trylogin_server", web::post().to(login::try_login_server));
    config
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .service(endpoints)
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not found\n")
}
