//! `GET /metrics`: Prometheus' text format, for scrapers.

use actix_web::HttpResponse;
use actix_web::web::Data;

use crate::actors::{Actors, ReportPool};

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Requests by endpoint and status, latency histograms, backend errors, \
            actor restarts and pool usage, in Prometheus' text format 0.0.4",
        content_type = "text/plain; version=0.0.4",
        body = String
    ))
)]
pub async fn metrics(actors: Data<Actors>) -> HttpResponse {
    // Pool gauges are read at scrape time from the actors that own the
    // pools; an actor that cannot answer leaves its last reading.
    let (codes, accounts, limits) = tokio::join!(
        actors.captcha.send(ReportPool),
        actors.account.send(ReportPool),
        actors.limits.send(ReportPool),
    );
    for usage in [codes, accounts, limits].into_iter().flatten() {
        actors.metrics.record_pool(usage);
    }
    match actors.metrics.render() {
        Ok((content_type, text)) => HttpResponse::Ok().content_type(content_type).body(text),
        Err(error) => {
            log::error!("cannot render metrics: {error}");
            HttpResponse::InternalServerError().finish()
        }
    }
}
