//! Liveness and readiness, for load balancers and orchestrators.

use actix_web::HttpResponse;
use actix_web::web::Data;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actors::{Actors, Health, Probe};

/// The state of the gateway, as health checks see it.
#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `alive` (liveness), `ready` or `unavailable` (readiness).
    #[schema(example = "ready")]
    status: &'static str,
    /// What does not answer: `mysql`, `redis`, `verification`, `balance`
    /// (readiness, when unavailable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    down: Vec<&'static str>,
}

impl HealthReport {
    fn new(status: &'static str, down: Vec<&'static str>) -> HealthReport {
        HealthReport { status, down }
    }
}

/// `GET /healthz`: the process runs and serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process serves HTTP", body = HealthReport))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthReport::new("alive", Vec::new()))
}

/// `GET /readyz`: 200 when MySQL, Redis and both gRPC peers answer; 503
/// naming what is down otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "MySQL, Redis and both gRPC services answer", body = HealthReport),
        (status = 503, description = "Something the gateway needs does not answer", body = HealthReport)
    )
)]
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
    let down: Vec<&'static str> = health
        .iter()
        .filter(|h| !h.up)
        .map(|h| h.component)
        .collect();
    if down.is_empty() {
        HttpResponse::Ok().json(HealthReport::new("ready", down))
    } else {
        HttpResponse::ServiceUnavailable().json(HealthReport::new("unavailable", down))
    }
}
