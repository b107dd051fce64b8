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

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, join_all};
use serde::Serialize;
use utoipa::ToSchema;

use crate::actors::{ActorKind, Actors, BackendState, Health, Probe, Workers};
use crate::metrics::Metrics;
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

/// Whether `?verbose` is in the query (with any value, none, or several).
fn verbose(request: &HttpRequest) -> bool {
    request
        .query_string()
        .split('&')
        .any(|pair| pair == "verbose" || pair.starts_with("verbose="))
}

/// How long a probe waits for one actor's answer: a backend that hangs must
/// not make the probe itself time out (that would fail it), nor hide the
/// answers of the others.
pub const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// `GET /readyz`: 200 when this process can serve: it listens, its actors
/// run, its settings are accepted by the services it calls, and it is not
/// stopping. Shared backends being down does not make it unready.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    params(("verbose" = Option<String>, Query, description = "Present (with any value, or none): also say how each backend answers. Does not change the HTTP status.")),
    responses(
        (status = 200, description = "This process can serve requests", body = HealthReport),
        (status = 503, description = "An actor is gone, a service refuses this instance's credentials, or the process is stopping", body = HealthReport)
    )
)]
pub async fn readyz(
    request: HttpRequest,
    workers: Data<Workers>,
    actors: Data<Actors>,
    draining: Data<Draining>,
) -> HttpResponse {
    let gone = workers.gone();
    let health = probe(&actors).await;
    record(workers.metrics(), &health);
    let refused: Vec<&'static str> = health
        .iter()
        .filter(|probed| probed.health.state == BackendState::RefusesUs)
        .map(|probed| probed.health.component)
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
    if verbose(&request) {
        let health: Vec<Health> = health.iter().map(|probed| probed.health).collect();
        report = report.with_backends(&health);
    }
    answer.json(report)
}

/// A backend's state, and whether the backend itself was asked (not an
/// actor that is gone, or a probe that panicked).
pub struct Probed {
    pub health: Health,
    pub measured: bool,
}

/// Asks this worker's actors how their backends answer, each within
/// [`PROBE_LIMIT`]: a backend that takes longer is down.
pub async fn probe(actors: &Actors) -> Vec<Probed> {
    let ask = |components: &'static [&'static str], answer: LocalBoxFuture<'static, _>| async move {
        match tokio::time::timeout(PROBE_LIMIT, answer).await {
            Ok(Ok(health)) => measured(health),
            Ok(Err(_)) => unmeasured(Health::all_down(components)),
            Err(_) => measured(Health::all_down(components)),
        }
    };
    let probes = [
        ask(
            &["redis", "verification"],
            actors.captcha.send(Probe).boxed_local(),
        )
        .boxed_local(),
        ask(&["mysql"], actors.account.send(Probe).boxed_local()).boxed_local(),
        ask(&["balance"], actors.balance.send(Probe).boxed_local()).boxed_local(),
    ];
    join_all(probes).await.into_iter().flatten().collect()
}

fn measured(health: Vec<Health>) -> Vec<Probed> {
    let probed = |health| Probed {
        health,
        measured: true,
    };
    health.into_iter().map(probed).collect()
}

fn unmeasured(health: Vec<Health>) -> Vec<Probed> {
    let probed = |health| Probed {
        health,
        measured: false,
    };
    health.into_iter().map(probed).collect()
}

/// `gateway_backend_up`: 1 for a backend that serves this gateway, 0 for
/// one that does not answer or refuses it; nothing when it was not asked.
pub fn record(metrics: &Metrics, health: &[Probed]) {
    for probed in health.iter().filter(|probed| probed.measured) {
        let up = probed.health.state == BackendState::Up;
        metrics.record_backend(probed.health.component, up);
    }
}
