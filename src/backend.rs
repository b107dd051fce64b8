//! Pools that fail fast while their backend is down, and drop connections
//! that died with it.
//!
//! A pooled connection to a server that restarted is dead, but neither
//! bb8-redis nor diesel-async can tell without a round trip on every
//! checkout. Instead, the code that sees a connection-level error marks the
//! connection ([`Tracked::mark_broken`]); the pool then drops it and opens a
//! new one, so a restarted backend is served again on the next request.
//!
//! A bb8 pool whose backend refuses connections makes every checkout wait
//! out the whole connection timeout: connection errors go to the pool's
//! error sink, never to the waiting request. [`GuardedPool`] listens to that
//! sink: a checkout that is waiting when a connection attempt fails gives up
//! at once, and while the backend failed within the last [`OUTAGE_MEMORY`],
//! a checkout waits at most [`PROBE_WAIT`] — long enough for a connection to
//! a backend that is back, short enough that clients get their status code
//! at once. Each such checkout is also the probe that notices the recovery.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bb8::{ErrorSink, ManageConnection, Pool, PooledConnection, RunError};
use tokio::sync::Notify;

/// How long a connection failure marks the backend as down.
pub const OUTAGE_MEMORY: Duration = Duration::from_secs(5);
/// The checkout wait while the backend is marked down.
pub const PROBE_WAIT: Duration = Duration::from_millis(250);

/// When connecting last failed, as milliseconds since `epoch` (0: never, or
/// since recovered).
#[derive(Clone)]
pub struct Outage {
    epoch: Instant,
    failed_at_ms: Arc<AtomicU64>,
    /// Wakes the checkouts waiting when a connection attempt fails.
    failed: Arc<Notify>,
    backend: &'static str,
}

impl Outage {
    pub fn new(backend: &'static str) -> Self {
        Self {
            epoch: Instant::now(),
            failed_at_ms: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(Notify::new()),
            backend,
        }
    }

    fn now_ms(&self) -> u64 {
        // +1 keeps a failure in the very first millisecond distinct from 0.
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn record_failure(&self) {
        self.failed_at_ms.store(self.now_ms(), Ordering::Relaxed);
        self.failed.notify_waiters();
    }

    fn record_success(&self) {
        if self.failed_at_ms.swap(0, Ordering::Relaxed) != 0 {
            log::info!("{} answers again", self.backend);
        }
    }

    /// True while a connection failure is recent.
    pub fn is_down(&self) -> bool {
        match self.failed_at_ms.load(Ordering::Relaxed) {
            0 => false,
            failed => self.now_ms().saturating_sub(failed) < OUTAGE_MEMORY.as_millis() as u64,
        }
    }
}

impl fmt::Debug for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outage")
            .field("backend", &self.backend)
            .finish()
    }
}

impl<E: fmt::Display> ErrorSink<E> for Outage {
    fn sink(&self, error: E) {
        if !self.is_down() {
            log::warn!("cannot connect to {}: {error}", self.backend);
        }
        self.record_failure();
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<E>> {
        Box::new(self.clone())
    }
}

/// A pooled connection and whether its user found it dead.
pub struct Tracked<C> {
    connection: C,
    broken: bool,
}

impl<C> Tracked<C> {
    /// The connection failed in a way that may have killed it: the pool
    /// drops it instead of handing it out again.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl<C> std::ops::Deref for Tracked<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.connection
    }
}

impl<C> std::ops::DerefMut for Tracked<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.connection
    }
}

/// Wraps a connection manager so that its connections can be marked broken.
pub struct Tracking<M>(M);

impl<M: ManageConnection> ManageConnection for Tracking<M> {
    type Connection = Tracked<M::Connection>;
    type Error = M::Error;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let connection = self.0.connect().await?;
        Ok(Tracked {
            connection,
            broken: false,
        })
    }

    async fn is_valid(&self, connection: &mut Self::Connection) -> Result<(), Self::Error> {
        self.0.is_valid(&mut connection.connection).await
    }

    fn has_broken(&self, connection: &mut Self::Connection) -> bool {
        connection.broken || self.0.has_broken(&mut connection.connection)
    }
}

/// A checked-out connection of a [`GuardedPool`].
pub type Checkout<'a, M> = PooledConnection<'a, Tracking<M>>;

/// A bb8 pool and what it knows about its backend's health.
pub struct GuardedPool<M: ManageConnection> {
    pool: Pool<Tracking<M>>,
    outage: Outage,
    checkout_timeout: Duration,
}

impl<M: ManageConnection> Clone for GuardedPool<M> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            outage: self.outage.clone(),
            checkout_timeout: self.checkout_timeout,
        }
    }
}

impl<M> GuardedPool<M>
where
    M: ManageConnection,
    M::Error: fmt::Display,
{
    /// Builds the pool without connecting. `builder` carries the pool's own
    /// settings; its error sink and connection timeout are set here.
    pub fn build(
        backend: &'static str,
        builder: bb8::Builder<Tracking<M>>,
        manager: M,
        checkout_timeout: Duration,
    ) -> Self {
        let outage = Outage::new(backend);
        let pool = builder
            .connection_timeout(checkout_timeout)
            .error_sink(Box::new(outage.clone()))
            .build_unchecked(Tracking(manager));
        Self {
            pool,
            outage,
            checkout_timeout,
        }
    }

    /// A connection, waiting at most the checkout timeout, or only
    /// [`PROBE_WAIT`] while the backend is known to be down.
    pub async fn get(&self) -> Result<Checkout<'_, M>, RunError<M::Error>> {
        let wait = if self.outage.is_down() {
            PROBE_WAIT.min(self.checkout_timeout)
        } else {
            self.checkout_timeout
        };
        let attempt_failed = self.outage.failed.notified();
        tokio::select! {
            biased;
            got = self.pool.get() => {
                if got.is_ok() {
                    self.outage.record_success();
                }
                got
            }
            () = attempt_failed => Err(RunError::TimedOut),
            () = tokio::time::sleep(wait) => Err(RunError::TimedOut),
        }
    }

    /// The checkout timeout, which also bounds the work done on a
    /// connection (a backend that hangs must not hang the request).
    pub fn timeout(&self) -> Duration {
        self.checkout_timeout
    }

    pub fn state(&self) -> bb8::State {
        self.pool.state()
    }

    /// True while a connection attempt failed recently.
    pub fn is_down(&self) -> bool {
        self.outage.is_down()
    }
}
