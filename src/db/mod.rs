//! MySQL: the schema, the pool, the queries and the embedded migrations.

pub mod adoption;
pub mod migrations;
pub mod models;
pub mod pool;
pub mod queries;
// Written by the diesel CLI (`diesel migration run`, see diesel.toml): keep
// it exactly as generated, so running the CLI leaves the tree unchanged.
#[rustfmt::skip]
#[allow(non_snake_case, non_upper_case_globals)]
pub mod schema;

pub use pool::{DbError, DbPool, build_pool, with_connection};
