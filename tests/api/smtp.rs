//! A small SMTP server inside the tests: it speaks enough SMTP for lettre
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every message it
//! accepts, counts its connections and MAIL commands, and can be told to
//! refuse mail or to drop every connection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

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
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
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
                let (state, dropped) = (Arc::clone(&state), drops.subscribe());
                tokio::spawn(async move {
                    converse(stream, &state, dropped).await;
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        sink
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

    /// MAIL FROM commands received (accepted or refused).
    pub fn mail_commands(&self) -> usize {
        self.state.mail_commands.load(Ordering::SeqCst)
    }

    /// Closes every open connection without a word, as a server that
    /// restarts or times its clients out does.
    pub fn drop_connections(&self) {
        let _ = DROPS.send(self.port);
    }

    /// Waits until a message for `address` arrived; answers it.
    pub async fn message_to(&self, address: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.messages().into_iter().find(|message| {
                message
                    .lines()
                    .any(|line| line.starts_with("To:") && line.contains(address))
            });
            if let Some(message) = found {
                return message;
            }
            assert!(Instant::now() < deadline, "no mail to {address} arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

async fn converse(stream: TcpStream, state: &State, mut dropped: broadcast::Receiver<u16>) {
    let port = stream
        .local_addr()
        .map(|address| address.port())
        .unwrap_or(0);
    tokio::select! {
        () = speak(stream, state) => {}
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

async fn speak(stream: TcpStream, state: &State) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut reply = async |text: &str| writer.write_all(format!("{text}\r\n").as_bytes()).await;
    if reply("220 sink.test ESMTP").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let sent = match verb.as_str() {
            "EHLO" => reply("250-sink.test\r\n250 8BITMIME").await,
            "HELO" | "RCPT" | "RSET" | "NOOP" => reply("250 OK").await,
            "MAIL" => {
                state.mail_commands.fetch_add(1, Ordering::SeqCst);
                if state.refuse.load(Ordering::SeqCst) {
                    reply("550 5.7.1 mail refused by the test").await
                } else {
                    reply("250 OK").await
                }
            }
            "DATA" => {
                if reply("354 end with <CRLF>.<CRLF>").await.is_err() {
                    return;
                }
                let mut message = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    message.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
                }
                state.messages.lock().unwrap().push(message.join("\n"));
                reply("250 OK queued").await
            }
            "QUIT" => {
                let _ = reply("221 bye").await;
                return;
            }
            _ => reply("502 command not implemented").await,
        };
        if sent.is_err() {
            return;
        }
    }
}
