//! The migrations of `migrations/`, embedded in the binary: `migrate` and
//! `serve` apply the same ones the diesel CLI does.

use diesel::sql_query;
use diesel_async::{AsyncMigrationHarness, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use super::adoption::adopt_old_accounts;
use super::pool::connect;
use super::queries::widen_name_columns;
use crate::config::MysqlSettings;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot connect to MySQL at {address}: {source}")]
    Connect {
        address: String,
        source: diesel::ConnectionError,
    },
    #[error("cannot create database: {0}")]
    CreateDatabase(diesel::result::Error),
    #[error("migration failed: {0}")]
    Migrate(String),
    #[error("cannot give the old gateway's name columns the utf8mb4 character set: {0}")]
    Widen(diesel::result::Error),
    #[error("cannot adopt the old gateway's accounts: {0}")]
    Adopt(diesel::result::Error),
    #[error("migration runner stopped: {0}")]
    Runner(String),
}

/// Creates the configured database if it is missing and applies pending
/// migrations; returns the versions applied.
///
/// Runs on a thread of its own: diesel's migration harness is synchronous and
/// needs a multi-threaded runtime, while actix runs a single-threaded one.
pub async fn prepare_database(settings: &MysqlSettings) -> Result<Vec<String>, MigrationError> {
    let settings = settings.clone();
    let (reply, outcome) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("migrations".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|error| MigrationError::Runner(error.to_string()))
                .and_then(|runtime| runtime.block_on(migrate(&settings)));
            let _ = reply.send(result);
        })
        .map_err(|error| MigrationError::Runner(error.to_string()))?;
    outcome
        .await
        .map_err(|_| MigrationError::Runner("migration thread panicked".into()))?
}

async fn migrate(settings: &MysqlSettings) -> Result<Vec<String>, MigrationError> {
    let unreachable = |source| MigrationError::Connect {
        address: format!("{}:{}", settings.host, settings.port),
        source,
    };
    let mut server = connect(settings.server_url().expose_secret(), settings)
        .await
        .map_err(unreachable)?;
    // The name is checked to be a plain identifier when settings load.
    sql_query(format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4",
        settings.database
    ))
    .execute(&mut server)
    .await
    .map_err(MigrationError::CreateDatabase)?;
    drop(server);

    let connection = connect(settings.database_url().expose_secret(), settings)
        .await
        .map_err(unreachable)?;
    let mut harness = AsyncMigrationHarness::new(connection);
    let applied: Vec<String> = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|error| MigrationError::Migrate(error.to_string()))?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut connection = harness.into_inner();
    let widened = widen_name_columns(&mut connection)
        .await
        .map_err(MigrationError::Widen)?;
    for column in widened {
        log::info!("{column} now holds every name (utf8mb4)");
    }
    let adopted = adopt_old_accounts(&mut connection)
        .await
        .map_err(MigrationError::Adopt)?;
    if adopted > 0 {
        log::info!("{adopted} account(s) of the old gateway given their identity keys");
    }
    Ok(applied)
}
