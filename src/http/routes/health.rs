//! Liveness and readiness, for load balancers and orchestrators.

use actix_web::HttpResponse;
use actix_web::web::Data;
use serde_json::json;

use crate::actors::{Actors, Health, Probe};

/// `GET /healthz`: the process runs and serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "alive"}))
}

/// `GET /readyz`: 200 when MySQL, Redis and both gRPC peers answer; 503
/// naming what is down otherwise.
pub async fn readyz(actors: Data<Actors>) -> HttpResponse {
    let (captcha, account, balance) = tokio::join!(
        actors.captcha.send(Probe),
        actors.account.send(Probe),
        actors.balance.send(Probe),
    );
    // An actor that cannot answer counts its resources as down.
    let gone = |components: &[&'static str]| -> Vec<Health> {
        components
            .iter()
            .map(|&component| Health {
                component,
                up: false,
            })
            .collect()
    };
    let mut health = captcha.unwrap_or_else(|_| gone(&["redis", "verification"]));
    health.extend(account.unwrap_or_else(|_| gone(&["mysql"])));
    health.extend(balance.unwrap_or_else(|_| gone(&["balance"])));
    let down: Vec<&str> = health
        .iter()
        .filter(|h| !h.up)
        .map(|h| h.component)
        .collect();
    if down.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "down": down}))
    }
}
