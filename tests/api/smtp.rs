//! A small SMTP server inside the tests: it speaks enough SMTP for lettre
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every message it
//! accepts, counts its connections and MAIL commands, and can be told to
//! refuse mail or to drop every connection.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_rustls::TlsAcceptor;

/// How a TLS sink secures its conversations.
#[derive(Debug, Clone, Copy)]
pub enum SinkTls {
    /// Plain text first, TLS after STARTTLS (`mail.tls = "starttls"`).
    Starttls,
    /// TLS from the first byte (`mail.tls = "tls"`).
    Implicit,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    messages: Mutex<Vec<String>>,
    refuse: AtomicBool,
    /// Connections accepted so far, open now, open at most at once.
    accepted: AtomicUsize,
    open: AtomicUsize,
    most_open: AtomicUsize,
    mail_commands: AtomicUsize,
    starttls_done: AtomicUsize,
    /// New connections are held open without a greeting.
    silent: AtomicBool,
    /// How long the answer to a mail's end (`.`) waits, in milliseconds.
    data_reply_delay_ms: AtomicU64,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_with(None).await
    }

    /// A sink that speaks TLS as `kind` says, with a self-signed
    /// certificate for `localhost`; answers it and the certificate's PEM
    /// file (for `mail.tls_ca`).
    pub async fn start_tls(kind: SinkTls) -> (SmtpSink, std::path::PathBuf) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let directory = std::env::temp_dir().join(crate::helpers::unique_name("smtp-tls"));
        std::fs::create_dir_all(&directory).unwrap();
        let ca = directory.join("ca.pem");
        std::fs::write(&ca, certified.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        (Self::start_with(Some((kind, acceptor))).await, ca)
    }

    async fn start_with(tls: Option<(SinkTls, TlsAcceptor)>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            state: Arc::default(),
        };
        let (state, drops) = (Arc::clone(&sink.state), DROPS.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.accepted.fetch_add(1, Ordering::SeqCst);
                let open = state.open.fetch_add(1, Ordering::SeqCst) + 1;
                state.most_open.fetch_max(open, Ordering::SeqCst);
                let (state, dropped, tls) = (Arc::clone(&state), drops.subscribe(), tls.clone());
                tokio::spawn(async move {
                    converse(stream, &state, tls, dropped).await;
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        sink
    }

    /// From now on, accept connections but never greet on them (or, with
    /// `false`, greet again on new ones).
    pub fn silent(&self, silent: bool) {
        self.state.silent.store(silent, Ordering::SeqCst);
    }

    /// From now on, answer the end of each mail only after `delay`.
    pub fn delay_data_reply(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state
            .data_reply_delay_ms
            .store(millis, Ordering::SeqCst);
    }

    /// From now on, answer MAIL FROM with a permanent failure.
    pub fn refuse_mail(&self, refuse: bool) {
        self.state.refuse.store(refuse, Ordering::SeqCst);
    }

    pub fn messages(&self) -> Vec<String> {
        self.state.messages.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn most_open_connections(&self) -> usize {
        self.state.most_open.load(Ordering::SeqCst)
    }

    /// Conversations secured by STARTTLS.
    pub fn starttls_done(&self) -> usize {
        self.state.starttls_done.load(Ordering::SeqCst)
    }

    /// MAIL FROM commands received (accepted or refused).
    pub fn mail_commands(&self) -> usize {
        self.state.mail_commands.load(Ordering::SeqCst)
    }

    /// Closes every open connection without a word, as a server that
    /// restarts or times its clients out does.
    pub fn drop_connections(&self) {
        let _ = DROPS.send(self.port);
    }

    /// The messages to `address` so far, oldest first.
    pub fn messages_to(&self, address: &str) -> Vec<String> {
        let to = |message: &String| {
            message
                .lines()
                .any(|line| line.starts_with("To:") && line.contains(address))
        };
        self.messages().into_iter().filter(to).collect()
    }

    /// Waits until the `nth` message (1-based) to `address` arrived;
    /// answers it.
    pub async fn nth_message_to(&self, address: &str, nth: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(message) = self.messages_to(address).into_iter().nth(nth - 1) {
                return message;
            }
            assert!(
                Instant::now() < deadline,
                "no mail #{nth} to {address} arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a message for `address` arrived; answers it.
    pub async fn message_to(&self, address: &str) -> String {
        self.nth_message_to(address, 1).await
    }
}

/// The six-digit code in a verification mail.
pub fn code_in(message: &str) -> String {
    let line = message
        .lines()
        .find(|line| line.starts_with("Your verification code is "))
        .expect("the mail states the code");
    line.trim_start_matches("Your verification code is ")
        .trim()
        .to_owned()
}

/// Tells the conversations of the sink on a port to hang up.
static DROPS: std::sync::LazyLock<broadcast::Sender<u16>> =
    std::sync::LazyLock::new(|| broadcast::channel(64).0);

async fn converse(
    stream: TcpStream,
    state: &State,
    tls: Option<(SinkTls, TlsAcceptor)>,
    mut dropped: broadcast::Receiver<u16>,
) {
    let port = stream
        .local_addr()
        .map(|address| address.port())
        .unwrap_or(0);
    let silent = state.silent.load(Ordering::SeqCst);
    let talk = async {
        if silent {
            // Held open, never a word, until the sink hangs up.
            let _held = stream;
            return std::future::pending::<()>().await;
        }
        match tls {
            None => speak(stream, state, None).await,
            Some((SinkTls::Starttls, acceptor)) => speak(stream, state, Some(acceptor)).await,
            Some((SinkTls::Implicit, acceptor)) => {
                if let Ok(stream) = acceptor.accept(stream).await {
                    speak(stream, state, None).await;
                }
            }
        }
    };
    tokio::select! {
        () = talk => {}
        () = async {
            while let Ok(dropped_port) = dropped.recv().await {
                if dropped_port == port {
                    return;
                }
            }
            std::future::pending::<()>().await
        } => {}
    }
}

/// A byte stream of either kind, plain or TLS.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Duplex for S {}

/// One SMTP conversation on `stream`; with `starttls`, EHLO offers
/// STARTTLS and the conversation goes on over TLS after it.
async fn speak<S: Duplex + 'static>(stream: S, state: &State, starttls: Option<TlsAcceptor>) {
    let mut stream = BufReader::new(Box::new(stream) as Box<dyn Duplex>);
    if write(&mut stream, "220 sink.test ESMTP").await.is_err() {
        return;
    }
    converse_on(stream, state, starttls).await;
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    stream
        .get_mut()
        .write_all(format!("{text}\r\n").as_bytes())
        .await
}

async fn read_line<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> Option<String> {
    let mut line = String::new();
    match stream.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

async fn converse_on(
    mut stream: BufReader<Box<dyn Duplex>>,
    state: &State,
    starttls: Option<TlsAcceptor>,
) {
    while let Some(line) = read_line(&mut stream).await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let sent = match verb.as_str() {
            "EHLO" if starttls.is_some() => {
                write(&mut stream, "250-sink.test\r\n250-STARTTLS\r\n250 8BITMIME").await
            }
            "EHLO" => write(&mut stream, "250-sink.test\r\n250 8BITMIME").await,
            "STARTTLS" if starttls.is_some() => {
                if write(&mut stream, "220 go ahead").await.is_err() {
                    return;
                }
                let acceptor = starttls.expect("checked above");
                if let Ok(secured) = acceptor.accept(stream.into_inner()).await {
                    state.starttls_done.fetch_add(1, Ordering::SeqCst);
                    // No new greeting after STARTTLS: the client sends EHLO.
                    let secured = Box::new(secured) as Box<dyn Duplex>;
                    Box::pin(converse_on(BufReader::new(secured), state, None)).await;
                }
                return;
            }
            "HELO" | "RCPT" | "RSET" | "NOOP" => write(&mut stream, "250 OK").await,
            "MAIL" => {
                state.mail_commands.fetch_add(1, Ordering::SeqCst);
                if state.refuse.load(Ordering::SeqCst) {
                    write(&mut stream, "550 5.7.1 mail refused by the test").await
                } else {
                    write(&mut stream, "250 OK").await
                }
            }
            "DATA" => {
                if write(&mut stream, "354 end with <CRLF>.<CRLF>")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut message = Vec::new();
                while let Some(line) = read_line(&mut stream).await {
                    if line == "." {
                        break;
                    }
                    message.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
                }
                state.messages.lock().unwrap().push(message.join("\n"));
                let delay = state.data_reply_delay_ms.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                write(&mut stream, "250 OK queued").await
            }
            "QUIT" => {
                let _ = write(&mut stream, "221 bye").await;
                return;
            }
            _ => write(&mut stream, "502 command not implemented").await,
        };
        if sent.is_err() {
            return;
        }
    }
}
