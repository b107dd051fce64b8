//! Stopping, as the README promises it: SIGINT like SIGTERM, the cap of
//! `http.shutdown_timeout_secs` on requests under way, and every role
//! (`serve`, `verification`, `balance`, `all`) exiting 0 on SIGTERM.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    BinaryFixture, RunningBinary, TestDatabase, TestKeys, gateway_command, test_settings,
};
use crate::peers::Behaviour;

async fn wait_exit(mut binary: RunningBinary, limit: Duration) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || binary.wait_exit(limit))
        .await
        .unwrap()
}

#[actix_web::test]
async fn sigint_stops_the_gateway_as_sigterm_does() {
    let fixture = BinaryFixture::start().await;
    let mut command = gateway_command(&fixture.settings);
    command.arg("serve");
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let url = format!("http://127.0.0.1:{port}/check_accountexists");
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    let answer = crate::helpers::post_ok(&reqwest::Client::new(), url, &body).await;
    assert_eq!(answer["error"], 12);
    gateway.signal("INT");
    let status = wait_exit(gateway, Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status}");
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "still listening after SIGINT");
}

#[actix_web::test]
async fn requests_under_way_get_at_most_the_shutdown_timeout() {
    let fixture = BinaryFixture::start().await;
    let mut command = gateway_command(&fixture.settings);
    command
        .arg("serve")
        .env("GATEWAY_HTTP__SHUTDOWN_TIMEOUT_SECS", "1")
        .env("GATEWAY_GRPC__TIMEOUT_MS", "30000");
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let code = {
        let answer = crate::helpers::post_ok(
            &client,
            format!("{base}/get_verification"),
            &json!({"email": "cap@example.com"}),
        )
        .await;
        assert_eq!(answer["error"], 0);
        let key = format!("{}cap@example.com", fixture.settings.redis.key_prefix);
        let mut redis = crate::helpers::redis_connection().await;
        redis::AsyncCommands::get::<_, String>(&mut redis, key)
            .await
            .unwrap()
    };
    let body = crate::helpers::account_body("cap", "cap@example.com", "Correct-Horse-7", &code);
    let registered =
        crate::helpers::post_ok(&client, format!("{base}/post_registration"), &body).await;
    assert_eq!(registered["error"], 0);

    // A login the balance service holds far longer than the cap.
    fixture
        .balance
        .behave(Behaviour::Hang(Duration::from_secs(20)));
    let login = client
        .post(format!("{base}/trylogin_server"))
        .json(&json!({"username": "cap", "password": "Correct-Horse-7"}))
        .send();
    let _held = actix_web::rt::spawn(login);
    let deadline = Instant::now() + Duration::from_secs(20);
    while fixture.balance.allocations() == 0 {
        assert!(
            Instant::now() < deadline,
            "the login never reached the balance service"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = Instant::now();
    gateway.terminate();
    let status = wait_exit(gateway, Duration::from_secs(15)).await;
    let took = stopping.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took < Duration::from_secs(4),
        "stopped after {took:?}, not at the 1 s cap"
    );
    assert!(
        took >= Duration::from_millis(900),
        "stopped after {took:?}, before the cap"
    );
}

/// `role` runs until SIGTERM, then exits 0 promptly.
async fn role_stops_on_sigterm(role: &str, marker: &str) {
    let mut settings = test_settings();
    settings.verification.port = 0;
    settings.balance.port = 0;
    let (_database, _keys) = (TestDatabase::new(&settings), TestKeys::new(&settings));
    let mut command = gateway_command(&settings);
    command.arg(role);
    let mut binary = RunningBinary::start(command);
    let port = binary.port_after(marker);
    let stopping = Instant::now();
    binary.terminate();
    let status = wait_exit(binary, Duration::from_secs(10)).await;
    assert!(status.success(), "{role}: exit status {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{role} took {:?} to stop",
        stopping.elapsed()
    );
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "{role} still listening");
}

#[actix_web::test]
async fn the_verification_service_exits_0_on_sigterm() {
    role_stops_on_sigterm("verification", "verification service listening on ").await;
}

#[actix_web::test]
async fn the_balance_service_exits_0_on_sigterm() {
    role_stops_on_sigterm("balance", "balance service listening on ").await;
}

#[actix_web::test]
async fn the_whole_system_exits_0_on_sigterm() {
    role_stops_on_sigterm("all", "gateway listening on ").await;
}

/// What an operator sees of a rolling restart: every client that reached
/// the gateway before or during its SIGTERM gets its answer; the others are
/// refused at connect (so a load balancer can send them elsewhere). None is
/// cut off mid-request.
#[actix_web::test]
async fn no_connection_that_was_let_in_is_dropped_by_a_sigterm() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fixture = BinaryFixture::start().await;
    let mut command = gateway_command(&fixture.settings);
    command
        .arg("serve")
        .env("GATEWAY_LIMITS__IP_BURST", "100000");
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let body = r#"{"username":"nobody","email":"nobody@example.com"}"#;
    let request = format!(
        "POST /check_accountexists HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let client = |delay: u64| {
        let request = request.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let Ok(mut socket) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                return None; // refused: the listener was closed
            };
            let mut answer = Vec::new();
            let sent = socket.write_all(request.as_bytes()).await;
            let read = socket.read_to_end(&mut answer).await;
            Some((
                sent.is_ok() && read.is_ok(),
                String::from_utf8_lossy(&answer).into_owned(),
            ))
        }
    };
    // Clients arriving over 400 ms; the SIGTERM comes after 150 ms.
    let clients = futures_util::future::join_all((0..200).map(|n| client(n * 2)));
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        gateway.terminate();
    };
    let (outcomes, ()) = tokio::join!(clients, terminate);
    let let_in: Vec<&(bool, String)> = outcomes.iter().flatten().collect();
    let refused = outcomes.iter().filter(|outcome| outcome.is_none()).count();
    eprintln!("sigterm: {} answered, {refused} refused", let_in.len());
    assert!(
        let_in.len() > 10 && refused > 10,
        "{} let in, {refused} refused",
        let_in.len()
    );
    for (complete, answer) in let_in {
        assert!(
            *complete && answer.starts_with("HTTP/1.1 200") && answer.contains("\"error\":12"),
            "a client that was let in got {answer:?}"
        );
    }
    let status = wait_exit(gateway, Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status}");
}
