//! The per-client-address limit of the endpoints, as a middleware: a
//! request over `limits.ip_burst` in the window is answered 27 without
//! reaching its handler. The count is kept per route pattern, which is
//! matched on the path as sent: a path the router would match only once
//! decoded (`/get%5Fverification`) has no pattern here, and is answered 404
//! instead of being let through uncounted (no client spells its path so).

use actix_web::ResponseError;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::ApiError;
use crate::actors::Actors;
use crate::actors::limits::{AdmitAddress, LimitError};
use crate::config::LimitSettings;
use crate::security::client_address::client_address;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

pub async fn admit_address(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let Some(pattern) = request.match_pattern() else {
        let unknown = super::reply::not_found();
        return Ok(request.into_response(unknown).map_into_right_body());
    };
    let admitted = match (
        Some(pattern),
        request.peer_addr(),
        request.app_data::<Data<Actors>>(),
        request.app_data::<Data<LimitSettings>>(),
    ) {
        (Some(endpoint), Some(peer), Some(actors), Some(limits)) => {
            let forwarded: Vec<&str> = request
                .headers()
                .get_all(X_FORWARDED_FOR)
                .filter_map(|value| value.to_str().ok())
                .collect();
            let address = client_address(peer.ip(), &forwarded, &limits.trusted_proxies);
            // A limiter that cannot answer lets the request through (see AdmitAddress).
            actors
                .limits
                .send(AdmitAddress { endpoint, address })
                .await
                .unwrap_or(true)
        }
        _ => true,
    };
    if admitted {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let refused = ApiError::Limit(LimitError::Refused).error_response();
    Ok(request.into_response(refused).map_into_right_body())
}
