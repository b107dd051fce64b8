//! The load of the benchmark's mail section (`bench/run.sh`).
//!
//! * `mail_load grpc PORT IN_FLIGHT SECONDS`: `GetVerificationCode` calls to
//!   the verification service on PORT, IN_FLIGHT at a time, each for a new
//!   address;
//! * `mail_load bare SMTP_PORT IN_FLIGHT SECONDS`: the same mails sent
//!   straight through the service's own mailer (the same crate, the same
//!   pool, `mail.*` settings as the service's defaults) to the SMTP server
//!   on SMTP_PORT: the limit the service can approach;
//! * `mail_load count ...`: like `grpc`, but a number of calls instead of
//!   seconds (the soak).
//!
//! Prints one line: `calls N errors E calls/s R p50 P50ms p99 P99ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gateway_server::config::{MailTls, MailTransport, Settings};
use gateway_server::domain::Email;
use gateway_server::grpc::proto::GetVerificationRequest;
use gateway_server::grpc::proto::verification_service_client::VerificationServiceClient;
use gateway_server::services::verification::mailer::Mailer;
use gateway_server::services::verification::templates::Mail;

enum Until {
    Elapsed(Instant),
    Calls(u64),
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: mail_load grpc|bare|count PORT IN_FLIGHT SECONDS|CALLS";
    let [_, mode, port, in_flight, amount] = args.as_slice() else {
        panic!("{usage}")
    };
    let port: u16 = port.parse().expect(usage);
    let in_flight: usize = in_flight.parse().expect(usage);
    let amount: u64 = amount.parse().expect(usage);
    let until = match mode.as_str() {
        "count" => Until::Calls(amount),
        _ => Until::Elapsed(Instant::now() + Duration::from_secs(amount)),
    };
    let until = Arc::new(until);
    let run = std::process::id();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let (until, next) = (Arc::clone(&until), Arc::clone(&next));
        let mut call = caller(mode, port).await;
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match *until {
                    Until::Elapsed(end) if Instant::now() >= end => break,
                    Until::Calls(calls) if n >= calls => break,
                    _ => {}
                }
                let address = format!("load{run}_{n}@example.com");
                let sent = Instant::now();
                if !call(address).await {
                    errors += 1;
                }
                latencies.push(sent.elapsed());
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (mine, failed) = worker.await.expect("a caller panicked");
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |share: f64| {
        latencies
            .get(((latencies.len() as f64 * share) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    println!(
        "calls {} errors {errors} calls/s {:.1} p50 {:.2}ms p99 {:.2}ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.50),
        at(0.99)
    );
}

type Call = Box<dyn FnMut(String) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> + Send>;

/// A function that makes one call for an address and says whether it
/// succeeded.
async fn caller(mode: &str, port: u16) -> Call {
    match mode {
        "grpc" | "count" => {
            let client = VerificationServiceClient::connect(format!("http://127.0.0.1:{port}"))
                .await
                .expect("the verification service answers");
            Box::new(move |email| {
                let mut client = client.clone();
                Box::pin(async move {
                    let request = GetVerificationRequest {
                        email,
                        ..Default::default()
                    };
                    matches!(client.get_verification_code(request).await,
                        Ok(reply) if reply.get_ref().error == 0)
                })
            })
        }
        "bare" => {
            let mut settings = Settings::default();
            settings.mail.transport = MailTransport::Smtp;
            settings.mail.port = port;
            settings.mail.tls = MailTls::None;
            let mailer = MAILER.get_or_init(|| {
                Mailer::new(&settings.mail, Duration::from_secs(180)).expect("mail settings")
            });
            Box::new(move |email| {
                Box::pin(async move {
                    let email = Email::parse(&email).expect("a valid address");
                    let mail = Mail::Code {
                        email: email.as_str(),
                        code: "123456",
                        valid_for: Duration::from_secs(180),
                    };
                    mailer.send(&email, &mail, None).await.is_ok()
                })
            })
        }
        other => panic!("unknown mode {other}"),
    }
}

/// One mailer (one pool) for every caller of the bare loop.
static MAILER: std::sync::OnceLock<Mailer> = std::sync::OnceLock::new();
