//! MySQL: the schema, the pool, the queries and the embedded migrations.

pub mod migrations;
pub mod models;
pub mod pool;
pub mod queries;
pub mod schema;

pub use pool::{DbPool, build_pool};
