use diesel::{ConnectionError, QueryResult};
use diesel_async::AsyncConnection;
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::PoolError;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures_util::FutureExt;
use secrecy::ExposeSecret;

use crate::backend::GuardedPool;
use crate::config::MysqlSettings;

pub type DbPool = GuardedPool<AsyncDieselConnectionManager<AsyncMysqlConnection>>;

/// Opens one connection, bounded by `mysql.connect_timeout_ms` (an
/// unreachable host would otherwise wait for the OS's TCP timeout).
pub async fn connect(
    url: &str,
    settings: &MysqlSettings,
) -> Result<AsyncMysqlConnection, ConnectionError> {
    let limit = settings.connect_timeout();
    tokio::time::timeout(limit, AsyncMysqlConnection::establish(url))
        .await
        .unwrap_or_else(|_| {
            Err(ConnectionError::BadConnection(format!(
                "no connection to MySQL at {}:{} within {limit:?}",
                settings.host, settings.port
            )))
        })
}

/// Builds the pool without connecting, so the gateway starts while MySQL is
/// down; each checkout waits at most `mysql.checkout_timeout_ms`.
pub fn build_pool(settings: &MysqlSettings) -> DbPool {
    let mut config = ManagerConfig::<AsyncMysqlConnection>::default();
    // `Fast` checks only for a left-over transaction; `Verified` would add a
    // `SELECT 1` round trip to every checkout. A dead connection fails its
    // query instead, is marked broken and is dropped by the pool.
    config.recycling_method = RecyclingMethod::Fast;
    let connect_settings = settings.clone();
    config.custom_setup = Box::new(move |url| {
        let settings = connect_settings.clone();
        let url = url.to_owned();
        async move { connect(&url, &settings).await }.boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncMysqlConnection>::new_with_config(
        settings.database_url().expose_secret(),
        config,
    );
    let builder = bb8::Pool::builder()
        .max_size(settings.pool_size)
        .retry_connection(false);
    GuardedPool::build("MySQL", builder, manager, settings.checkout_timeout())
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection: {0}")]
    Checkout(bb8::RunError<PoolError>),
    /// A connection attempt failed within the last seconds (its cause is
    /// logged once, as a warning): the request failed at once.
    #[error("the database does not accept connections")]
    Down,
    #[error("database did not answer within {0:?}")]
    TimedOut(std::time::Duration),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
}

/// Runs `work` on a pooled connection, bounded by
/// `mysql.checkout_timeout_ms` like the checkout (a MySQL that hangs, e.g.
/// stopped or cut off without a reset, would otherwise hold the request
/// forever); a connection whose work timed out is retired. An error that may
/// have come from a dead connection (anything but "no row" and constraint
/// violations) retires it too, so a restarted MySQL is served again at once.
pub async fn with_connection<T>(
    pool: &DbPool,
    work: impl AsyncFnOnce(&mut AsyncMysqlConnection) -> QueryResult<T>,
) -> Result<T, DbError> {
    let limit = pool.timeout();
    let mut pooled = pool.get().await.map_err(|error| match error {
        bb8::RunError::TimedOut if pool.is_down() => DbError::Down,
        error => DbError::Checkout(error),
    })?;
    let Ok(result) = tokio::time::timeout(limit, work(&mut pooled)).await else {
        pooled.mark_broken();
        return Err(DbError::TimedOut(limit));
    };
    if let Err(error) = &result
        && !is_about_the_data(error)
    {
        pooled.mark_broken();
    }
    Ok(result?)
}

fn is_about_the_data(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    matches!(
        error,
        Error::NotFound
            | Error::DatabaseError(
                Kind::UniqueViolation
                    | Kind::ForeignKeyViolation
                    | Kind::NotNullViolation
                    | Kind::CheckViolation,
                _
            )
    )
}
