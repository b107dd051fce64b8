//! What `GET /metrics` shows operators, in Prometheus' text format. One
//! registry per gateway (not the process-wide default), so that several
//! gateways in one process — the tests — each count only their own.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::status::Status;

/// The backends a request can fail on, as metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Mysql,
    Redis,
    Verification,
    Balance,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Mysql => "mysql",
            Backend::Redis => "redis",
            Backend::Verification => "verification",
            Backend::Balance => "balance",
        }
    }
}

/// How a request ended, as far as the metrics care: the protocol's status
/// and, when a backend failed it, which one. Handlers leave it in the
/// response's extensions; the request metrics middleware reads it.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub status: Status,
    pub backend: Option<Backend>,
}

/// Connections of one pool at the moment of a scrape.
#[derive(Debug, Clone, Copy)]
pub struct PoolUsage {
    pub pool: &'static str,
    pub in_use: u32,
    pub idle: u32,
}

impl PoolUsage {
    pub fn of(pool: &'static str, state: bb8::State) -> PoolUsage {
        PoolUsage {
            pool,
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
        }
    }

    /// A pool whose actor could not tell: counted as empty.
    pub fn unknown(pool: &'static str) -> PoolUsage {
        PoolUsage {
            pool,
            in_use: 0,
            idle: 0,
        }
    }
}

/// A request under way; see [`Metrics::request_started`].
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    in_flight: IntGauge,
    latency: HistogramVec,
    backend_errors: IntCounterVec,
    actor_restarts: IntCounterVec,
    pool_connections: IntGaugeVec,
    hash_jobs: IntCounterVec,
    backend_up: IntGaugeVec,
}

/// What became of a password hashing job, as the `outcome` label names it.
pub const HASH_OUTCOMES: [&str; 3] = ["hashed", "busy", "abandoned"];

/// The supervised actors, as the `actor` label names them.
pub const ACTORS: [&str; 4] = ["captcha", "account", "balance", "limits"];

/// Latency buckets from 0.5 ms (a Redis-only answer) to 10 s (past every
/// backend deadline), doubling.
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    4.096, 10.0,
];

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = namespaced_registry()?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by endpoint, HTTP status and protocol status (`error`)",
            ),
            &["endpoint", "status", "error"],
        )?;
        let in_flight = IntGauge::new(
            "http_requests_in_flight",
            "Requests received and not yet answered",
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request to answer, by endpoint",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["endpoint"],
        )?;
        let backend_errors = IntCounterVec::new(
            Opts::new(
                "backend_errors_total",
                "Requests that failed because a backend failed, by backend",
            ),
            &["backend"],
        )?;
        let actor_restarts = IntCounterVec::new(
            Opts::new(
                "actor_restarts_total",
                "Supervisor restarts (each rebuilds the actor's pool or channel), by actor",
            ),
            &["actor"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "pool_connections",
                "Pooled backend connections at scrape time, by pool and state (in_use, idle)",
            ),
            &["pool", "state"],
        )?;
        let hash_jobs = IntCounterVec::new(
            Opts::new(
                "password_hash_jobs_total",
                "Password hashing jobs: hashed, refused because the queue was full (busy), \
                 or dropped unhashed because their request had gone away (abandoned)",
            ),
            &["outcome"],
        )?;
        let backend_up = IntGaugeVec::new(
            Opts::new(
                "backend_up",
                "Whether each backend served this gateway at the last probe (1) or did not \
                 answer or refused it (0), probed at each scrape and each /readyz",
            ),
            &["backend"],
        )?;
        registry.register(Box::new(backend_up.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(hash_jobs.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(backend_errors.clone()))?;
        registry.register(Box::new(actor_restarts.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        // Every backend and actor shows from the start, at 0: a rate() over
        // a series that appears only with the first failure misses it.
        for backend in [
            Backend::Mysql,
            Backend::Redis,
            Backend::Verification,
            Backend::Balance,
        ] {
            backend_errors.with_label_values(&[backend.label()]);
        }
        for actor in ACTORS {
            actor_restarts.with_label_values(&[actor]);
        }
        for outcome in HASH_OUTCOMES {
            hash_jobs.with_label_values(&[outcome]);
        }
        Ok(Metrics {
            registry,
            requests,
            in_flight,
            latency,
            backend_errors,
            actor_restarts,
            pool_connections,
            hash_jobs,
            backend_up,
        })
    }

    /// The counter of password hashing jobs, by outcome (see
    /// [`HASH_OUTCOMES`]), for the hasher to count into.
    pub fn hash_jobs(&self) -> IntCounterVec {
        self.hash_jobs.clone()
    }

    /// Counts a request as under way until the guard is dropped (answered
    /// or abandoned).
    pub fn request_started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub fn requests_in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts one answered request. `endpoint` is the matched route (never
    /// the raw path: unknown paths would make unbounded series).
    pub fn observe_request(
        &self,
        endpoint: &str,
        http_status: &str,
        outcome: Option<Outcome>,
        elapsed: Duration,
    ) {
        let error = outcome.map(|outcome| outcome.status.code().to_string());
        self.requests
            .with_label_values(&[endpoint, http_status, error.as_deref().unwrap_or("")])
            .inc();
        self.latency
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
        if let Some(backend) = outcome.and_then(|outcome| outcome.backend) {
            self.backend_errors
                .with_label_values(&[backend.label()])
                .inc();
        }
    }

    pub fn actor_restarted(&self, actor: &str) {
        self.actor_restarts.with_label_values(&[actor]).inc();
    }

    /// All actors' restarts so far.
    pub fn restarts(&self) -> u64 {
        ACTORS
            .iter()
            .map(|actor| self.actor_restarts.with_label_values(&[actor]).get())
            .sum()
    }

    /// Records whether `backend` (a label of [`Backend`]) answered a probe.
    pub fn record_backend(&self, backend: &str, up: bool) {
        self.backend_up
            .with_label_values(&[backend])
            .set(i64::from(up));
    }

    /// Sets the pool gauges to these readings, each pool's summed over the
    /// workers (every worker has its own share of each pool).
    pub fn record_pools(&self, readings: impl IntoIterator<Item = PoolUsage>) {
        let mut totals: Vec<PoolUsage> = Vec::new();
        for reading in readings {
            match totals.iter_mut().find(|total| total.pool == reading.pool) {
                Some(total) => {
                    total.in_use += reading.in_use;
                    total.idle += reading.idle;
                }
                None => totals.push(reading),
            }
        }
        for total in totals {
            self.pool_connections
                .with_label_values(&[total.pool, "in_use"])
                .set(i64::from(total.in_use));
            self.pool_connections
                .with_label_values(&[total.pool, "idle"])
                .set(i64::from(total.idle));
        }
    }

    /// Shows `collector` too (the balance service's gauge, in `all`).
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// Everything registered, in the text exposition format.
    pub fn render(&self) -> Result<(String, String), prometheus::Error> {
        render(&self.registry)
    }
}

/// A registry of the gateway's namespace, for a process that shows only
/// its own few metrics (the `balance` role).
pub fn namespaced_registry() -> Result<Registry, prometheus::Error> {
    Registry::new_custom(Some("gateway".into()), None)
}

/// What `registry` holds, as content type and text exposition format.
pub fn render(registry: &Registry) -> Result<(String, String), prometheus::Error> {
    let encoder = TextEncoder::new();
    let mut text = Vec::new();
    encoder.encode(&registry.gather(), &mut text)?;
    let text = String::from_utf8(text)
        .map_err(|error| prometheus::Error::Msg(format!("metrics text: {error}")))?;
    Ok((encoder.format_type().to_owned(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_shows_under_its_endpoint_status_and_backend() {
        let metrics = Metrics::new().unwrap();
        let outcome = Outcome {
            status: Status::MysqlInternalError,
            backend: Some(Backend::Mysql),
        };
        metrics.observe_request(
            "/trylogin_server",
            "200",
            Some(outcome),
            Duration::from_millis(3),
        );
        // Two workers' shares of the pool, summed.
        let share = |in_use, idle| PoolUsage {
            pool: "mysql",
            in_use,
            idle,
        };
        metrics.record_pools([share(2, 1), share(0, 2)]);
        let (content_type, text) = metrics.render().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert!(text.contains(
            r#"gateway_http_requests_total{endpoint="/trylogin_server",error="10",status="200"} 1"#
        ));
        assert!(text.contains(
            r#"gateway_http_request_duration_seconds_bucket{endpoint="/trylogin_server",le="0.004"} 1"#
        ));
        assert!(text.contains(r#"gateway_backend_errors_total{backend="mysql"} 1"#));
        assert!(text.contains(r#"gateway_backend_errors_total{backend="redis"} 0"#));
        assert!(text.contains(r#"gateway_pool_connections{pool="mysql",state="in_use"} 2"#));
        assert!(text.contains(r#"gateway_pool_connections{pool="mysql",state="idle"} 3"#));
    }

    #[test]
    fn restarts_add_up_over_actors() {
        let metrics = Metrics::new().unwrap();
        metrics.actor_restarted("captcha");
        metrics.actor_restarted("limits");
        metrics.actor_restarted("limits");
        assert_eq!(metrics.restarts(), 3);
    }
}
