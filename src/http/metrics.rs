//! Request metrics: every answer counted by endpoint, HTTP status and
//! protocol status, and timed, as a middleware around the whole app.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::metrics::{Metrics, Outcome};

/// Label of the requests no route matched (their paths are not labels).
const UNMATCHED: &str = "unmatched";

pub async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = request.app_data::<Data<Metrics>>().cloned();
    let endpoint = request
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let in_flight = metrics.as_ref().map(|metrics| metrics.request_started());
    let answered = next.call(request).await;
    drop(in_flight);
    if let Some(metrics) = metrics {
        let (http_status, outcome) = match &answered {
            Ok(response) => (
                response.status(),
                response.response().extensions().get::<Outcome>().copied(),
            ),
            Err(error) => (error.as_response_error().status_code(), None),
        };
        metrics.observe_request(&endpoint, http_status.as_str(), outcome, started.elapsed());
    }
    answered
}
