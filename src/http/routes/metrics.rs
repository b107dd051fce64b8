//! `GET /metrics`: Prometheus' text format, for scrapers.

use actix_web::HttpResponse;
use actix_web::web::Data;
use futures_util::FutureExt;
use futures_util::future::join_all;

use super::health::{PROBE_LIMIT, probe, record};
use crate::actors::{Actors, ReportPool, Workers};

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Requests by endpoint and status, latency histograms, backend errors, \
            actor restarts, pool usage and whether each backend answers, in Prometheus' text format 0.0.4",
        content_type = "text/plain; version=0.0.4",
        body = String
    ))
)]
pub async fn metrics(workers: Data<Workers>, actors: Data<Actors>) -> HttpResponse {
    let metrics = workers.metrics();
    record(metrics, &probe(&actors).await);
    // Pool gauges are read at scrape time from every worker's actors, which
    // own the pools; an actor that cannot answer in time counts as an empty
    // pool.
    let readings = workers.running().into_iter().flat_map(|actors| {
        [
            actors.captcha.send(ReportPool).boxed_local(),
            actors.account.send(ReportPool).boxed_local(),
            actors.limits.send(ReportPool).boxed_local(),
        ]
    });
    let readings = readings.map(|reading| tokio::time::timeout(PROBE_LIMIT, reading));
    let readings = join_all(readings).await.into_iter().flatten().flatten();
    metrics.record_pools(readings);
    match metrics.render() {
        Ok((content_type, text)) => HttpResponse::Ok().content_type(content_type).body(text),
        Err(error) => {
            log::error!("cannot render metrics: {error}");
            HttpResponse::InternalServerError().finish()
        }
    }
}
