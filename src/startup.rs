//! Builds the running gateway: settings → migrations → actors → HTTP server.
//! The listener is bound before the server is built so tests can ask for
//! port 0 and read the port the OS chose.

use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Logger, from_fn};
use actix_web::{App, HttpServer, web};

use crate::actors::{StartError, Workers};
use crate::config::Settings;
use crate::db::migrations::{MigrationError, prepare_database};
use crate::http;
use crate::services::{self, ServiceError};
use crate::shutdown::{Draining, GracefulStop, close_when_draining};

#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signal(std::io::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    workers: Workers,
    stop: GracefulStop,
    /// SIGINT/SIGTERM, listened for from before the listener is announced.
    signal: Pin<Box<dyn Future<Output = ()>>>,
}

/// One access-log line per request: peer, method, path (never the query
/// string, nor any body), status, size, duration.
const ACCESS_LOG_FORMAT: &str = r#"%a "%{method}xi %U" %s %b %Dms"#;

impl Application {
    /// Must be called inside an actix system. Each HTTP worker starts its
    /// own actors on its own arbiter when the server first runs.
    pub async fn build(settings: Settings) -> Result<Application, ApplicationError> {
        let signal = shutdown_signal().map_err(ApplicationError::Signal)?;
        Self::build_stopped_by(settings, Box::pin(signal)).await
    }

    /// Like [`Application::build`], stopped gracefully when `signal`
    /// resolves.
    async fn build_stopped_by(
        settings: Settings,
        signal: Pin<Box<dyn Future<Output = ()>>>,
    ) -> Result<Application, ApplicationError> {
        if settings.mysql.run_migrations {
            let applied = prepare_database(&settings.mysql).await?;
            log::info!("database ready, {} migration(s) applied", applied.len());
        }
        let address = listen_address(&settings.http.host, settings.http.port);
        let listener = TcpListener::bind(&address).map_err(|source| ApplicationError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| ApplicationError::Bind {
                address: address.clone(),
                source,
            })?
            .port();
        let workers = Workers::new(&settings)?;
        let shared = listener
            .try_clone()
            .map_err(|source| ApplicationError::Bind {
                address: address.clone(),
                source,
            })?;
        let draining = Draining::default();
        let server = serve(shared, &settings, workers.clone(), draining.clone())?;
        log::info!("gateway listening on {}:{port}", settings.http.host);
        let stop = GracefulStop {
            listener,
            draining,
            timeout: Duration::from_secs(settings.http.shutdown_timeout_secs),
        };
        Ok(Application {
            port,
            server,
            workers,
            stop,
            signal,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every HTTP worker's actors (registered as the workers start).
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully: new connections
    /// are refused at once (a load balancer retries them on another
    /// instance), requests under way finish, in the order of
    /// [`crate::shutdown`] (within `http.shutdown_timeout_secs`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (handle, stop, signal) = (self.server.handle(), self.stop, self.signal);
        let metrics = Arc::clone(self.workers.metrics());
        actix_web::rt::spawn(async move {
            signal.await;
            stop.run(handle, &metrics).await;
        });
        self.server.await
    }
}

/// `host:port`, with an IPv6 host in brackets (`::` listens on every
/// address, IPv4 peers arriving as `::ffff:a.b.c.d`).
fn listen_address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn serve(
    listener: TcpListener,
    settings: &Settings,
    workers: Workers,
    draining: Draining,
) -> Result<Server, ApplicationError> {
    let metrics = web::Data::from(Arc::clone(workers.metrics()));
    let workers = web::Data::new(workers);
    let draining = web::Data::new(draining);
    let limits = web::Data::new(settings.limits.clone());
    let body_rules = web::Data::new(http::body::BodyRules::from(&settings.http));
    let pages = settings.http.pages;
    let waits = web::Data::new(http::messages::Waits::of(settings));
    let mut server = HttpServer::new(move || {
        // Runs on each worker's own thread: its actors start on its arbiter,
        // and the backend I/O of its requests runs there too.
        let actors = web::Data::new(workers.start_here());
        App::new()
            .wrap(
                Logger::new(ACCESS_LOG_FORMAT)
                    .custom_request_replace("method", |request| request.method().to_string()),
            )
            .wrap(from_fn(close_when_draining))
            .wrap(from_fn(http::record_request))
            .app_data(actors)
            .app_data(workers.clone())
            .app_data(metrics.clone())
            .app_data(draining.clone())
            .app_data(limits.clone())
            .app_data(body_rules.clone())
            .app_data(waits.clone())
            .configure(|config| {
                // Before the endpoints' scope, which takes every path.
                if pages {
                    http::pages::configure(config);
                }
                http::configure(config);
            })
    });
    // Answers go out at once: actix leaves Nagle's algorithm on for the
    // connections it accepts, and an answer written in two parts would wait
    // for the client's delayed ACK.
    server = server.on_connect(|connection, _| {
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
            && let Err(error) = tcp.set_nodelay(true)
        {
            log::debug!("TCP_NODELAY not set on a connection: {error}");
        }
    });
    // Slow-loris: a client that does not finish its request head in time is
    // answered 408 and dropped, without holding up anyone else.
    server = server.client_request_timeout(Duration::from_millis(
        settings.http.client_request_timeout_ms,
    ));
    // SIGTERM/SIGINT: stop accepting, let requests under way finish.
    // Signals are handled by `Application::run_until_stopped`, which stops
    // in the order of `crate::shutdown`.
    // A client that closes its side has gone away: stop its request rather
    // than finish it for nobody (a hash waiting for it is then skipped).
    server = server.h1_allow_half_closed(false);
    server = server
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .keep_alive(Duration::from_secs(settings.http.keep_alive_secs));
    // The same count the pools were shared out by.
    server = server.workers(settings.http.worker_count());
    if let Some(per_worker) = settings.http.connections_per_worker() {
        server = server.max_connections(per_worker);
    }
    let address = listener
        .local_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    Ok(server
        .listen(listener)
        .map_err(|source| ApplicationError::Bind { address, source })?
        .run())
}

/// The whole system in one process (`gateway-server all`): the verification
/// and balance services on their own ports, and the gateway talking to them
/// over real gRPC on those ports.
pub struct AllInOne {
    pub gateway: Application,
    pub verification_port: u16,
    pub balance_port: u16,
}

impl AllInOne {
    /// Binds both services (port 0: any free port, which the gateway is then
    /// pointed at), starts them, then builds the gateway.
    pub async fn build(mut settings: Settings) -> Result<AllInOne, ApplicationError> {
        // Before any listener is announced (see `shutdown_signal`).
        let signal = shutdown_signal().map_err(ApplicationError::Signal)?;
        let verification =
            services::bind(&settings.verification.host, settings.verification.port).await?;
        let balance = services::bind(&settings.balance.host, settings.balance.port).await?;
        settings.verification.port = local_port(&verification)?;
        settings.balance.port = local_port(&balance)?;
        // Build both services before serving, so bad settings fail start-up.
        let verification_service = services::verification::VerificationServer::new(&settings)?;
        let balance_service = services::balance::BalanceServer::new(&settings)?;
        let balance_up = balance_service.up_gauge();
        let (verification_port, balance_port) = (settings.verification.port, settings.balance.port);
        let forever = std::future::pending::<()>;
        actix_web::rt::spawn(async move {
            let served =
                services::serve_verification(verification_service, verification, forever());
            if let Err(error) = served.await {
                log::error!("verification service stopped: {error}");
            }
        });
        actix_web::rt::spawn(async move {
            let served = services::serve_balance(balance_service, balance, forever());
            if let Err(error) = served.await {
                log::error!("balance service stopped: {error}");
            }
        });
        let gateway = Application::build_stopped_by(settings, Box::pin(signal)).await?;
        // One `/metrics` for the whole system.
        if let Err(error) = gateway.workers().metrics().register(Box::new(balance_up)) {
            log::warn!("balance gauge not shown in /metrics: {error}");
        }
        Ok(AllInOne {
            gateway,
            verification_port,
            balance_port,
        })
    }
}

fn local_port(listener: &tokio::net::TcpListener) -> Result<u16, ApplicationError> {
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|source| ApplicationError::Bind {
            address: "gRPC listener".into(),
            source,
        })
}

/// Listens for SIGINT and SIGTERM from this call on, and resolves on the
/// first. Call it before announcing a listener: a signal that arrives
/// between the two must stop the process gracefully, not by the signal's
/// default action.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            log::info!("shutdown signal received");
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        log::info!("shutdown signal received");
    })
}
