//! The graceful stop of the HTTP server, in the order that loses nothing:
//!
//! 1. close the listener, without dropping a connection that already
//!    reached it (`close_for_new_connections`);
//! 2. answer every further request with `Connection: close`
//!    ([`Draining`]), so that clients stop reusing their connections;
//! 3. wait for the requests under way;
//! 4. only then stop the server's workers. (actix-server can end a worker
//!    before it waited for its connections — when its accept thread stops
//!    first — and ending a worker drops its connections.)
//!
//! Behind a load balancer, a connection the gateway refuses is retried on
//! another instance, but one that the kernel had already accepted into the
//! listener's queue is reset when the listener closes — after the balancer
//! sent the request on it, so a POST is lost. Hence the order: wait until
//! the accept loop has taken every queued connection, close the listener
//! (new connections are refused from then on), give the workers a moment to
//! pick up the connections just handed to them, and only then stop.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::metrics::Metrics;

/// What the graceful stop needs, set aside when the server is built.
pub struct GracefulStop {
    /// The listening socket, shared with the server.
    pub listener: TcpListener,
    pub draining: Draining,
    /// `http.shutdown_timeout_secs`: the wait for requests under way.
    pub timeout: Duration,
}

impl GracefulStop {
    /// The four steps above.
    pub async fn run(self, server: ServerHandle, metrics: &Metrics) {
        close_for_new_connections(&self.listener).await;
        // The listener is closed: the accept loop has nothing to do.
        server.pause().await;
        self.draining.start();
        let deadline = Instant::now() + self.timeout;
        while metrics.requests_in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.stop(true).await;
    }
}

/// Set once the gateway is stopping.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Middleware: while draining, every answer closes its connection.
pub async fn close_when_draining(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = request.app_data::<Data<Draining>>().cloned();
    let mut response = next.call(request).await?;
    if draining.is_some_and(|draining| draining.is_on()) {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

/// How long the accept loop may take to empty the queue before the
/// listener closes anyway.
const QUEUE_DRAIN_LIMIT: Duration = Duration::from_millis(500);
/// How long the workers get to pick up the last accepted connections.
const HANDOVER_PAUSE: Duration = Duration::from_millis(100);

/// Closes `listener` for new connections once its accept queue is empty
/// (or after [`QUEUE_DRAIN_LIMIT`]), then waits [`HANDOVER_PAUSE`].
async fn close_for_new_connections(listener: &TcpListener) {
    let deadline = Instant::now() + QUEUE_DRAIN_LIMIT;
    while accept_queue_length(listener).is_some_and(|queued| queued > 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // No await between the check above and this call: the window for a
    // connection to slip into the queue is a few microseconds.
    if let Err(error) = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Read) {
        log::warn!("cannot close the listener before stopping: {error}");
    }
    tokio::time::sleep(HANDOVER_PAUSE).await;
}

/// Connections waiting in the listener's accept queue (Linux: TCP_INFO's
/// `tcpi_unacked` of a listening socket); `None` where unknown.
#[cfg(target_os = "linux")]
fn accept_queue_length(listener: &TcpListener) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable tcp_info and `length` its size; the
    // kernel writes at most `length` bytes.
    let answered = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut length,
        )
    };
    (answered == 0).then_some(info.tcpi_unacked)
}

#[cfg(not(target_os = "linux"))]
fn accept_queue_length(_: &TcpListener) -> Option<u32> {
    None
}
