//! The HTTP face of the gateway (docs/PROTOCOL.md §1): routes, the JSON shapes of
//! requests and answers, and the mapping of every failure to a status code.

pub mod body;
mod error;
mod limits;
pub mod messages;
mod metrics;
pub mod pages;
pub mod reply;
mod request;
mod routes;

pub use error::ApiError;
pub use metrics::record_request;
pub use routes::{configure, document as openapi_document};
