//! gateway-server: the HTTP front door of the chat system.
//!
//! Data flows one way: HTTP handler (`http`) → domain values (`domain`) →
//! actor message (`actors`) → resource (`db`, `kv`, `grpc`) → reply → the
//! wire JSON (`http::Reply`) with a status code (`status`).

pub mod actors;
pub mod backend;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod kv;
pub mod metrics;
pub mod security;
pub mod services;
pub mod shutdown;
pub mod startup;
pub mod status;
pub mod telemetry;
