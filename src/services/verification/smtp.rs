//! SMTP sessions to the mail server: opened with `TCP_NODELAY`, pooled and
//! reused.
//!
//! lettre writes a message's body and its closing `.` as two writes. With
//! Nagle's algorithm on, the second waits for the server to acknowledge the
//! first, and the server delays that ACK (~40 ms) because it has nothing to
//! say until the `.` arrives: every mail took ~45 ms, most of it waiting.
//! lettre's own transport neither sets `TCP_NODELAY` nor lets its caller,
//! so the socket is opened here and handed to lettre's connection, which
//! then speaks SMTP on it (EHLO, STARTTLS, AUTH, the mail). A new
//! connection per mail cost a handshake and an EHLO each time: sessions
//! are kept in a bb8 pool (`mail.pool_size`, idle ones closed after
//! `mail.pool_idle_secs`), and a session the server has dropped meanwhile is
//! replaced and the mail sent again, once.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::backend::GuardedPool;
use crate::config::{MailSettings, MailTls};

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: io::Error },
    #[error("TLS with {address}: {source}")]
    Tls { address: String, source: io::Error },
    #[error("the server does not offer STARTTLS")]
    NoStarttls,
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("no SMTP session within {0:?}")]
    TimedOut(Duration),
    #[error("the mail server does not accept connections (the cause is logged once)")]
    Unavailable,
    #[error("mail.tls_ca {path}: {reason}")]
    Ca { path: String, reason: String },
}

/// Where and how to open a session.
struct MailServer {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

/// The transport security of a session, its configuration built once.
enum Tls {
    None,
    Starttls(TlsParameters),
    Implicit(TlsConnector),
}

/// A session and how many mails went through it.
pub struct Session {
    connection: AsyncSmtpConnection,
    sent: u64,
    /// A mail was under way when its future was dropped (the timeout, or
    /// the caller gone): the server's answers are now out of step with
    /// the commands, so the session must not carry another mail.
    unfinished: bool,
}

impl Session {
    async fn send(&mut self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        self.unfinished = true;
        self.connection.send(envelope, message).await?;
        self.unfinished = false;
        self.sent += 1;
        Ok(())
    }
}

/// Opens sessions for the pool.
pub struct Sessions(Arc<MailServer>);

impl bb8::ManageConnection for Sessions {
    type Connection = Session;
    type Error = SmtpError;

    /// A session, within `mail.timeout_ms`: a server that accepts but never
    /// greets must not hold a slot of the pool.
    async fn connect(&self) -> Result<Session, SmtpError> {
        let limit = self.0.timeout;
        tokio::time::timeout(limit, open(&self.0))
            .await
            .unwrap_or(Err(SmtpError::TimedOut(limit)))
    }

    async fn is_valid(&self, _: &mut Session) -> Result<(), SmtpError> {
        // Not called: a NOOP round trip per mail would cost what pooling
        // saves. A dropped session is found by sending, and replaced.
        Ok(())
    }

    fn has_broken(&self, session: &mut Session) -> bool {
        session.unfinished || session.connection.has_broken()
    }
}

/// The pool of sessions to the mail server. While the server refuses
/// connections, a mail fails at once instead of waiting `mail.timeout_ms`
/// for a session that cannot come ([`GuardedPool`]).
#[derive(Clone)]
pub struct SmtpPool {
    pool: GuardedPool<Sessions>,
    server: Arc<MailServer>,
}

impl SmtpPool {
    /// Builds the pool without connecting; fails on a `mail.tls_ca` that
    /// cannot be read.
    pub fn new(settings: &MailSettings) -> Result<SmtpPool, SmtpError> {
        let credentials = (!settings.username.is_empty()).then(|| {
            Credentials::new(
                settings.username.clone(),
                settings.password.expose_secret().to_owned(),
            )
        });
        let ca = match &settings.tls_ca {
            Some(path) => Some(read_ca(path)?),
            None => None,
        };
        let tls = match settings.tls {
            MailTls::None => Tls::None,
            MailTls::Starttls => {
                let mut parameters = TlsParameters::builder(settings.host.clone());
                if let Some((pem, _)) = &ca {
                    parameters = parameters.add_root_certificate(Certificate::from_pem(pem)?);
                }
                Tls::Starttls(parameters.build_rustls()?)
            }
            MailTls::Tls => {
                let extra_roots = ca.map(|(_, roots)| roots).unwrap_or_default();
                Tls::Implicit(tls_connector(&extra_roots))
            }
        };
        let server = Arc::new(MailServer {
            host: settings.host.clone(),
            port: settings.port,
            tls,
            credentials,
            hello: ClientId::default(),
            timeout: settings.timeout(),
        });
        let builder = bb8::Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(None)
            .idle_timeout(Some(settings.pool_idle()))
            // bb8 reaps idle connections on this period, so it must not be
            // longer than the idle timeout itself.
            .reaper_rate(settings.pool_idle().min(Duration::from_secs(30)) / 2)
            .test_on_check_out(false)
            .retry_connection(false);
        let sessions = Sessions(Arc::clone(&server));
        let pool = GuardedPool::build("the mail server", builder, sessions, settings.timeout());
        Ok(SmtpPool { pool, server })
    }

    /// Sends one mail, within `mail.timeout_ms` in all.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        let limit = self.server.timeout;
        tokio::time::timeout(limit, self.send_once_more_if_dropped(envelope, message))
            .await
            .unwrap_or(Err(SmtpError::TimedOut(limit)))
    }

    async fn send_once_more_if_dropped(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(), SmtpError> {
        let mut session = self.pool.get().await.map_err(|error| match error {
            bb8::RunError::User(error) => error,
            bb8::RunError::TimedOut if self.pool.is_down() => SmtpError::Unavailable,
            bb8::RunError::TimedOut => SmtpError::TimedOut(self.server.timeout),
        })?;
        match session.send(envelope, message).await {
            Ok(()) => Ok(()),
            // A session that has sent before may have been closed by the
            // server since (its idle timeout, a restart): a new one gets
            // the mail. A refusal (5xx) is the server's answer, not a
            // dropped session.
            Err(SmtpError::Smtp(error)) if session.sent > 0 && !error.is_permanent() => {
                log::debug!("SMTP session dropped ({error}); sending on a new one");
                session.mark_broken();
                drop(session);
                // A session of its own (another pooled one may be as stale).
                let mut fresh = open(&self.server).await?;
                fresh.send(envelope, message).await?;
                fresh.connection.quit().await.ok();
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// Opens a session: TCP with `TCP_NODELAY`, TLS when configured, EHLO,
/// STARTTLS when configured, AUTH when credentials are set.
async fn open(server: &MailServer) -> Result<Session, SmtpError> {
    let address = format!("{}:{}", server.host, server.port);
    let tcp = connect(server).await?;
    let stream: Box<dyn AsyncTokioStream> = match &server.tls {
        Tls::Implicit(connector) => {
            let peer = tcp.peer_addr().map_err(|source| SmtpError::Connect {
                address: address.clone(),
                source,
            })?;
            let tls = connector
                .connect(server_name(&server.host)?, tcp)
                .await
                .map_err(|source| SmtpError::Tls { address, source })?;
            Box::new(ImplicitTls { tls, peer })
        }
        Tls::None | Tls::Starttls(_) => Box::new(tcp),
    };
    let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &server.hello).await?;
    if let Tls::Starttls(parameters) = &server.tls {
        if !connection.can_starttls() {
            connection.abort().await;
            return Err(SmtpError::NoStarttls);
        }
        connection
            .starttls(parameters.clone(), &server.hello)
            .await?;
    }
    if let Some(credentials) = &server.credentials {
        connection
            .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
            .await?;
    }
    Ok(Session {
        connection,
        sent: 0,
        unfinished: false,
    })
}

/// The TCP connection to the mail server, with `TCP_NODELAY` on.
pub(super) async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

async fn connect(server: &MailServer) -> Result<TcpStream, SmtpError> {
    let address = format!("{}:{}", server.host, server.port);
    match tokio::time::timeout(server.timeout, connect_tcp(&server.host, server.port)).await {
        Ok(Ok(tcp)) => Ok(tcp),
        Ok(Err(source)) => Err(SmtpError::Connect { address, source }),
        Err(_) => Err(SmtpError::TimedOut(server.timeout)),
    }
}

/// The file `mail.tls_ca` (PEM) and its certificates: CAs trusted besides
/// the public roots, for a mail relay with a private CA.
type Ca = (Vec<u8>, Vec<CertificateDer<'static>>);

fn read_ca(path: &std::path::Path) -> Result<Ca, SmtpError> {
    let invalid = |reason: String| SmtpError::Ca {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("not PEM certificates: {error}")))?;
    if roots.is_empty() {
        return Err(invalid("holds no certificate".into()));
    }
    Ok((pem, roots))
}

fn tls_connector(extra_roots: &[CertificateDer<'static>]) -> TlsConnector {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        // Each was parsed as a certificate above; one that rustls cannot
        // use as an anchor is left out, as the public roots it joins.
        if let Err(error) = roots.add(root.clone()) {
            log::warn!("mail.tls_ca: a certificate is not usable as a root: {error}");
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, SmtpError> {
    rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|error| SmtpError::Tls {
        address: host.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, error),
    })
}

/// A TLS stream (implicit TLS, `mail.tls = "tls"`) as lettre takes one.
#[derive(Debug)]
struct ImplicitTls {
    tls: TlsStream<TcpStream>,
    peer: SocketAddr,
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_connection_to_the_mail_server_does_not_wait_for_acks() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = connect_tcp("127.0.0.1", port).await.unwrap();
        assert!(tcp.nodelay().unwrap(), "TCP_NODELAY is off");
    }
}
