//! Liveness and readiness, for load balancers and orchestrators.
//!
//! Neither depends on the shared backends: when MySQL or the single balance
//! replica restarts, every gateway instance would fail its probe at once,
//! and the orchestrator would take them all out of service (or restart them
//! all) while they could still answer, e.g. `/check_accountexists` without
//! the balance service, or a status code telling the client what failed.
//! The backends' state is for dashboards and alerts: `/readyz?verbose` and
//! the `gateway_backend_up` gauge.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::{Data, Query};
use futures_util::FutureExt;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::{ActorKind, Actors, BackendState, Health, Probe, Workers};
use crate::shutdown::Draining;

/// The state of the gateway, as health checks see it.
#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `alive` or `broken` (liveness); `ready`, `unavailable` or
    /// `draining` (readiness).
    #[schema(example = "ready")]
    status: &'static str,
    /// Actors that are gone for good (a restart failed): the process cannot
    /// serve their requests until it is restarted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    gone: Vec<&'static str>,
    /// Backends that answer but refuse this instance's credentials (a
    /// wrong `grpc.auth_token`): its configuration is wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    refused: Vec<&'static str>,
    /// With `?verbose`: how each backend answers (`up`, `down`,
    /// `refuses-us`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    backends: Option<BTreeMap<&'static str, &'static str>>,
    /// With `?verbose`: the backends that do not answer, of `mysql`,
    /// `redis`, `verification` and `balance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    down: Option<Vec<&'static str>>,
}

impl HealthReport {
    fn new(status: &'static str, gone: &[ActorKind]) -> HealthReport {
        HealthReport {
            status,
            gone: gone.iter().map(|kind| kind.name()).collect(),
            refused: Vec::new(),
            backends: None,
            down: None,
        }
    }

    fn with_backends(mut self, health: &[Health]) -> HealthReport {
        let down = health.iter().filter(|h| h.state == BackendState::Down);
        self.backends = Some(
            health
                .iter()
                .map(|h| (h.component, h.state.label()))
                .collect(),
        );
        self.down = Some(down.map(|h| h.component).collect());
        self
    }
}

/// `GET /healthz`: 200 while the process can recover by itself; 503 when
/// an actor is gone for good, so that the orchestrator restarts it.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses(
        (status = 200, description = "The process serves HTTP and its actors run", body = HealthReport),
        (status = 503, description = "An actor could not be restarted: restart the process", body = HealthReport)
    )
)]
pub async fn healthz(workers: Data<Workers>) -> HttpResponse {
    let gone = workers.gone();
    let (mut answer, status) = match gone.is_empty() {
        true => (HttpResponse::Ok(), "alive"),
        false => (HttpResponse::ServiceUnavailable(), "broken"),
    };
    answer.json(HealthReport::new(status, &gone))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadinessQuery {
    /// Present (with any value, or none): also say how each backend
    /// answers. Does not change the HTTP status.
    #[param(required = false)]
    verbose: Option<String>,
}

/// How long readiness waits for the backends' answers: a backend that hangs
/// must not make the probe itself time out (that would fail it).
const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// `GET /readyz`: 200 when this process can serve: it listens, its actors
/// run, its settings are accepted by the services it calls, and it is not
/// stopping. Shared backends being down does not make it unready.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    params(ReadinessQuery),
    responses(
        (status = 200, description = "This process can serve requests", body = HealthReport),
        (status = 503, description = "An actor is gone, a service refuses this instance's credentials, or the process is stopping", body = HealthReport)
    )
)]
pub async fn readyz(
    query: Query<ReadinessQuery>,
    workers: Data<Workers>,
    actors: Data<Actors>,
    draining: Data<Draining>,
) -> HttpResponse {
    let gone = workers.gone();
    let health = tokio::time::timeout(PROBE_LIMIT, probe(&actors))
        .await
        .unwrap_or_default();
    for backend in &health {
        workers
            .metrics()
            .record_backend(backend.component, backend.state == BackendState::Up);
    }
    let refused: Vec<&'static str> = health
        .iter()
        .filter(|h| h.state == BackendState::RefusesUs)
        .map(|h| h.component)
        .collect();
    let (mut answer, status) = if draining.is_on() {
        (HttpResponse::ServiceUnavailable(), "draining")
    } else if !gone.is_empty() || !refused.is_empty() {
        (HttpResponse::ServiceUnavailable(), "unavailable")
    } else {
        (HttpResponse::Ok(), "ready")
    };
    let mut report = HealthReport::new(status, &gone);
    report.refused = refused;
    if query.verbose.is_some() {
        report = report.with_backends(&health);
    }
    answer.json(report)
}

/// Asks this worker's actors how their backends answer. An actor that
/// cannot answer counts its backends as down.
pub async fn probe(actors: &Actors) -> Vec<Health> {
    let probes = [
        actors
            .captcha
            .send(Probe)
            .map(|answer| answer.unwrap_or_else(|_| Health::all_down(&["redis", "verification"])))
            .boxed_local(),
        actors
            .account
            .send(Probe)
            .map(|answer| answer.unwrap_or_else(|_| Health::all_down(&["mysql"])))
            .boxed_local(),
        actors
            .balance
            .send(Probe)
            .map(|answer| answer.unwrap_or_else(|_| Health::all_down(&["balance"])))
            .boxed_local(),
    ];
    join_all(probes).await.into_iter().flatten().collect()
}
