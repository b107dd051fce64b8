//! A small SMTP server inside the tests: it speaks enough SMTP for lettre
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every message it
//! accepts, and can be told to refuse mail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicBool>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            messages: Arc::default(),
            refuse: Arc::default(),
        };
        let (messages, refuse) = (Arc::clone(&sink.messages), Arc::clone(&sink.refuse));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, Arc::clone(&messages), Arc::clone(&refuse)));
            }
        });
        sink
    }

    /// From now on, answer MAIL FROM with a permanent failure.
    pub fn refuse_mail(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
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

async fn converse(stream: TcpStream, messages: Arc<Mutex<Vec<String>>>, refuse: Arc<AtomicBool>) {
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
            "MAIL" if refuse.load(Ordering::SeqCst) => {
                reply("550 5.7.1 mail refused by the test").await
            }
            "MAIL" => reply("250 OK").await,
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
                messages.lock().unwrap().push(message.join("\n"));
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
