//! Fault injection: the test's own Redis and MariaDB are stopped and started
//! again mid-test; the gateway must answer the right status quickly while
//! they are down and serve again on its own when they return.

use std::time::{Duration, Instant};

use gateway_server::services::{self, verification::VerificationServer};
use serde_json::{Value, json};

use crate::backends::{OwnMariadb, OwnRedis, skip};
use crate::helpers::{TestApp, test_settings};

/// Every timeout of a stopped backend is set to this, far above
/// [`AT_ONCE`]: an answer within `AT_ONCE` proves the gateway did not wait
/// a timeout out (a refused port must fail at once).
const PATIENT_MS: u64 = 10_000;
/// "At once" (measured: 1-3 ms), with room for a loaded machine.
const AT_ONCE: Duration = Duration::from_millis(500);

/// Calls `ask` every 100 ms until it answers `wanted`; answers how long
/// that took. Fails after `limit`.
async fn time_until(wanted: i64, limit: Duration, mut ask: impl AsyncFnMut() -> i64) -> Duration {
    let started = Instant::now();
    loop {
        let got = ask().await;
        if got == wanted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still {got} (not {wanted}) after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Answers the status and how long the request took.
async fn timed(app: &TestApp, path: &str, body: Value) -> (i64, Duration) {
    let started = Instant::now();
    let answer = app.call(path, body).await;
    (answer["error"].as_i64().unwrap(), started.elapsed())
}

/// Spawns `serve` with a shutdown future that resolves when the returned
/// sender is used (a peer the test stops and starts again).
fn until_stopped<F>(
    serve: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<F::Output>,
)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = Box::pin(async move {
        let _ = stopped.await;
    });
    (stop, tokio::spawn(serve(shutdown)))
}

fn registration(n: usize) -> Value {
    json!({"username": format!("r{n}"), "email": format!("r{n}@example.com"), "password": "Correct-Horse-7", "cpatcha": "000000"})
}

#[actix_web::test]
async fn redis_stops_and_returns() {
    let Some(mut redis) = OwnRedis::start() else {
        return skip("redis-server");
    };
    let app = TestApp::spawn_with(|settings| {
        settings.redis.port = redis.port;
        settings.redis.timeout_ms = PATIENT_MS;
    })
    .await;
    assert_eq!(
        timed(&app, "/post_registration", registration(1)).await.0,
        9,
        "up: no such code"
    );

    redis.stop();
    for (n, path) in [
        (2, "/post_registration"),
        (3, "/reset_password"),
        (4, "/trylogin_server"),
    ] {
        let (status, took) = timed(&app, path, registration(n)).await;
        assert_eq!(status, 8, "{path} while Redis is down");
        assert!(took < AT_ONCE, "{path} took {took:?}");
        eprintln!("redis down: {path} answered 8 in {took:?}");
    }
    let (status, _) = timed(
        &app,
        "/check_accountexists",
        json!({"username": "x", "email": "x@example.com"}),
    )
    .await;
    assert_eq!(status, 12, "MySQL-only work goes on");

    redis.resume();
    let recovered = time_until(9, Duration::from_secs(15), || async {
        timed(&app, "/post_registration", registration(5)).await.0
    })
    .await;
    eprintln!("redis back: served again after {recovered:?}");
}

#[actix_web::test]
async fn mysql_stops_and_returns() {
    let Some(mut mariadb) = OwnMariadb::start() else {
        return skip("mariadbd");
    };
    let app = TestApp::spawn_with(|settings| {
        settings.mysql.port = mariadb.port;
        settings.mysql.connect_timeout_ms = PATIENT_MS;
        settings.mysql.checkout_timeout_ms = PATIENT_MS;
    })
    .await;
    let check = json!({"username": "nobody", "email": "nobody@example.com"});
    assert_eq!(
        timed(&app, "/check_accountexists", check.clone()).await.0,
        12
    );
    app.register("kept", "kept@example.com", "Correct-Horse-7")
        .await;
    let code = app.request_code("kept@example.com").await;

    mariadb.stop();
    // A reset while MySQL is down: 10 at once, and the code is given back.
    let reset = crate::helpers::account_body("kept", "kept@example.com", "Another-Horse-8", &code);
    let (status, took) = timed(&app, "/reset_password", reset).await;
    assert_eq!(status, 10, "/reset_password while MySQL is down");
    assert!(took < AT_ONCE, "/reset_password took {took:?}");
    assert_eq!(
        app.stored_code("kept@example.com").await.as_deref(),
        Some(code.as_str())
    );
    for path in ["/check_accountexists", "/trylogin_server"] {
        let body =
            json!({"username": "kept", "email": "kept@example.com", "password": "Correct-Horse-7"});
        let (status, took) = timed(&app, path, body).await;
        assert_eq!(status, 10, "{path} while MySQL is down");
        assert!(took < AT_ONCE, "{path} took {took:?}");
        eprintln!("mysql down: {path} answered 10 in {took:?}");
    }

    mariadb.resume();
    let recovered = time_until(12, Duration::from_secs(20), || async {
        timed(&app, "/check_accountexists", check.clone()).await.0
    })
    .await;
    eprintln!("mysql back: served again after {recovered:?}");
    let login = app
        .call(
            "/trylogin_server",
            json!({"username": "kept", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(login["error"], 0, "the account survived: {login}");
}

#[actix_web::test]
async fn a_grpc_peer_stops_and_returns_on_the_same_address() {
    let mut service_settings = test_settings();
    service_settings.verification.resend_cooldown_secs = 0;
    let listener = services::bind("127.0.0.1", 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let start_peer = |listener| {
        let service = VerificationServer::new(&service_settings).unwrap();
        until_stopped(|stopped| services::serve_verification(service, listener, stopped))
    };
    let (stop, serving) = start_peer(listener);
    let app = TestApp::spawn_with(|settings| {
        settings.verification.port = port;
        settings.redis.key_prefix = service_settings.redis.key_prefix.clone();
        settings.grpc.timeout_ms = PATIENT_MS;
        settings.grpc.connect_timeout_ms = PATIENT_MS;
    })
    .await;
    let ask = |n: u32| {
        let app = &app;
        async move {
            let body = json!({"email": format!("peer{n}@example.com")});
            timed(app, "/get_verification", body).await
        }
    };
    assert_eq!(ask(0).await.0, 0);

    let _ = stop.send(());
    let _ = serving.await;
    let (status, took) = ask(1).await;
    assert_eq!(status, 3, "peer down");
    assert!(took < AT_ONCE, "a refused port answered after {took:?}");
    eprintln!("verification down: answered 3 in {took:?}");

    let listener = services::bind("127.0.0.1", port).await.unwrap();
    let (_stop, _serving) = start_peer(listener);
    let mut n = 2;
    let recovered = time_until(0, Duration::from_secs(20), || {
        n += 1;
        let attempt = ask(n);
        async move { attempt.await.0 }
    })
    .await;
    eprintln!("verification back: served again after {recovered:?}");
}

#[tokio::test]
async fn the_verification_service_survives_redis_going_away() {
    let Some(mut redis) = OwnRedis::start() else {
        return skip("redis-server");
    };
    let mut settings = test_settings();
    settings.redis.port = redis.port;
    settings.redis.timeout_ms = PATIENT_MS;
    settings.verification.resend_cooldown_secs = 0;
    let mut service = crate::verification_service::start(settings).await;
    let mut ask = async || service.ask("v@example.com").await.0;
    assert_eq!(ask().await, 0);
    redis.stop();
    let started = Instant::now();
    assert_eq!(
        ask().await,
        1,
        "Redis failure, as the original service answers"
    );
    assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
    redis.resume();
    let recovered = time_until(0, Duration::from_secs(15), async || i64::from(ask().await)).await;
    eprintln!("verification service: served again {recovered:?} after Redis returned");
}

/// A bounded soak: registrations from 8 concurrent clients while MySQL is
/// killed and started again; then every answer is compared with the
/// database.
#[actix_web::test]
async fn registrations_during_a_mysql_restart_lose_nothing() {
    use diesel::QueryDsl;
    use diesel_async::RunQueryDsl;
    use gateway_server::db::schema::{Authentication, UserProfile};
    use redis::AsyncCommands;

    let Some(mariadb) = OwnMariadb::start() else {
        return skip("mariadbd");
    };
    let app = TestApp::spawn_with(|settings| {
        settings.mysql.port = mariadb.port;
        settings.mysql.connect_timeout_ms = 1000;
        settings.mysql.checkout_timeout_ms = 2000;
    })
    .await;
    // Codes as the verification service would store them.
    let mut redis = app.redis().await;
    // Each client registers until MySQL is back and it was served five
    // times in a row since, at most PER_CLIENT times (however long the
    // restart takes on a loaded machine).
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 150;
    for n in 0..CLIENTS * PER_CLIENT {
        let _: () = redis
            .set_ex(
                app.code_key(&format!("soak{n}@example.com")),
                format!("c{n}"),
                300,
            )
            .await
            .unwrap();
    }

    let mariadb = std::sync::Arc::new(std::sync::Mutex::new(mariadb));
    let back = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let restarter = {
        let (mariadb, back) = (
            std::sync::Arc::clone(&mariadb),
            std::sync::Arc::clone(&back),
        );
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            mariadb.lock().unwrap().stop();
            std::thread::sleep(Duration::from_secs(2));
            mariadb.lock().unwrap().resume();
            back.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let served_again = |answers: &[(usize, i64, Duration)]| {
        answers.len() >= 5 && answers[answers.len() - 5..].iter().all(|a| a.1 == 0)
    };
    let clients = (0..CLIENTS).map(|client| {
        let (app, back) = (&app, &back);
        async move {
            let mut answers = Vec::new();
            let mut since_back = 0;
            for i in 0..PER_CLIENT {
                if std::sync::atomic::AtomicBool::load(back, std::sync::atomic::Ordering::SeqCst) {
                    if since_back >= 5 && served_again(&answers[answers.len() - since_back..]) {
                        break;
                    }
                    since_back += 1;
                }
                let n = client * PER_CLIENT + i;
                let body = json!({
                    "username": format!("soak{n}"), "email": format!("soak{n}@example.com"),
                    "password": "Correct-Horse-7", "cpatcha": format!("c{n}"),
                });
                let (status, took) = timed(app, "/post_registration", body).await;
                answers.push((n, status, took));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        }
    });
    let per_client: Vec<Vec<(usize, i64, Duration)>> =
        futures_util::future::join_all(clients).await;
    tokio::task::spawn_blocking(move || restarter.join().unwrap())
        .await
        .unwrap();
    let answers: Vec<(usize, i64, Duration)> = per_client.iter().flatten().copied().collect();

    let ok: std::collections::BTreeSet<usize> =
        answers.iter().filter(|a| a.1 == 0).map(|a| a.0).collect();
    let failed = answers.iter().filter(|a| a.1 != 0).count();
    let slowest = answers.iter().map(|a| a.2).max().unwrap();
    eprintln!(
        "soak: {} registrations, {} answered 0, {failed} failed (MySQL down), slowest {slowest:?}",
        answers.len(),
        ok.len()
    );
    assert!(
        answers.iter().all(|a| [0, 10].contains(&a.1)),
        "only 0 or 10 expected"
    );
    assert!(failed > 0, "the restart happened while registrations ran");
    assert!(!ok.is_empty(), "no registration succeeded at all");
    // After MySQL returned, every client was served again: its last
    // answers are successes.
    for (client, answers) in per_client.iter().enumerate() {
        let last: Vec<i64> = answers.iter().rev().take(5).map(|a| a.1).collect();
        assert_eq!(last, [0; 5], "client {client} was not served again");
    }
    assert!(
        slowest < Duration::from_secs(10),
        "a request took {slowest:?}"
    );

    let mut db = app.db().await;
    let names: Vec<String> = Authentication::table
        .select(gateway_server::db::schema::Authentication::username)
        .load(&mut db)
        .await
        .unwrap();
    // Both directions. Every name answered 0 is stored. A stored name not
    // answered 0 can only be a commit whose acknowledgement died with the
    // server (killed between COMMIT and its OK): at most the one request
    // each client had under way at the kill, and answered 10.
    let stored: std::collections::BTreeSet<usize> = names
        .iter()
        .map(|name| name.trim_start_matches("soak").parse().unwrap())
        .collect();
    let lost: Vec<&usize> = ok.difference(&stored).collect();
    assert!(lost.is_empty(), "answered 0 but not stored: {lost:?}");
    let unacknowledged: Vec<usize> = stored.difference(&ok).copied().collect();
    eprintln!("soak: stored though answered 10 (commit unacknowledged): {unacknowledged:?}");
    assert!(
        unacknowledged.len() <= CLIENTS,
        "stored though not answered 0, more than one per client: {unacknowledged:?}"
    );
    for n in &unacknowledged {
        let answer = answers.iter().find(|a| a.0 == *n).map(|a| a.1);
        assert_eq!(answer, Some(10), "soak{n} stored, answered {answer:?}");
    }
    let profiles: i64 = UserProfile::table
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    assert_eq!(
        profiles as usize,
        names.len(),
        "every stored account has its profile"
    );
}

#[actix_web::test]
async fn the_balance_service_survives_redis_going_away() {
    use gateway_server::grpc::proto::RegisterToBalancer;

    let Some(mut redis) = OwnRedis::start() else {
        return skip("redis-server");
    };
    let mut settings = test_settings();
    settings.redis.port = redis.port;
    settings.redis.timeout_ms = PATIENT_MS;
    // A listed chat server, listening: registered again when Redis comes
    // back empty (this one keeps nothing on disk).
    let chat = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    settings.balance.chat_servers = vec![gateway_server::config::StaticChatServer {
        name: "chat".into(),
        host: "127.0.0.1".into(),
        port: chat.local_addr().unwrap().port(),
    }];
    settings.balance.probe_interval_secs = 1;
    let balance = crate::balance_service::Balance::start_with(settings).await;
    let mut client = balance.client.clone();
    let mut allocate = async move || {
        let request = RegisterToBalancer { uuid: 1 };
        client
            .add_new_user_to_server(request)
            .await
            .unwrap()
            .into_inner()
            .error
    };
    assert_eq!(allocate().await, 0);
    redis.stop();
    let started = Instant::now();
    assert_eq!(allocate().await, 8);
    assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
    redis.resume();
    let recovered = time_until(0, Duration::from_secs(15), async || {
        i64::from(allocate().await)
    })
    .await;
    eprintln!("balance service: served again {recovered:?} after Redis returned");
}

#[actix_web::test]
async fn sigterm_finishes_requests_under_way_and_exits_0() {
    use crate::helpers::{BinaryFixture, RunningBinary, gateway_command};
    use crate::peers::Behaviour;

    let fixture = BinaryFixture::start().await;
    let (settings, balance) = (&fixture.settings, &fixture.balance);
    let mut command = gateway_command(settings);
    command
        .arg("serve")
        .env("GATEWAY_GRPC__TIMEOUT_MS", "10000");
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let post = |path: &'static str, body: Value| {
        let request = client.post(url(path)).json(&body).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };

    post("/get_verification", json!({"email": "term@example.com"})).await;
    let code: String = redis::AsyncCommands::get(
        &mut crate::helpers::redis_connection().await,
        format!("{}term@example.com", settings.redis.key_prefix),
    )
    .await
    .unwrap();
    let body = json!({"username": "term", "email": "term@example.com", "password": "Correct-Horse-7", "cpatcha": code});
    assert_eq!(post("/post_registration", body).await["error"], 0);

    // A login that the slow balance service holds for 1.5 s, then SIGTERM.
    balance.behave(Behaviour::Hang(Duration::from_millis(1500)));
    let login = client
        .post(url("/trylogin_server"))
        .json(&json!({"username": "term", "password": "Correct-Horse-7"}))
        .send();
    let in_flight = actix_web::rt::spawn(async move {
        let response = login.await.unwrap();
        let connection = response.headers().get("connection").cloned();
        (connection, response.json::<Value>().await.unwrap())
    });
    // Wait until the login is surely under way: it reached the balance service.
    let deadline = Instant::now() + Duration::from_secs(20);
    while balance.allocations() == 0 {
        assert!(
            Instant::now() < deadline,
            "the login never reached the balance service"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "no new connections once stopping");

    let (connection, answer) = in_flight.await.unwrap();
    assert_eq!(
        connection.as_ref().and_then(|value| value.to_str().ok()),
        Some("close"),
        "an answer given while stopping closes its connection"
    );
    assert_eq!(
        answer["error"], 0,
        "the request under way was finished: {answer}"
    );
    let status = tokio::task::spawn_blocking(move || gateway.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// How long a hung backend is waited for in the hang tests.
const HANG_MS: u64 = 700;

/// An answer to a request that met a hung backend: within its timeout
/// (`HANG_MS`; the Redis client's own response timeout may answer
/// earlier), give or take scheduling.
fn after_the_timeout(path: &str, took: Duration) {
    let timeout = Duration::from_millis(HANG_MS);
    assert!(
        took < timeout + AT_ONCE,
        "{path}: {took:?}, long after the timeout"
    );
}

#[actix_web::test]
async fn a_hung_redis_answers_8_after_redis_timeout() {
    let Some(redis) = OwnRedis::start() else {
        return skip("redis-server");
    };
    let app = TestApp::spawn_with(|settings| {
        settings.redis.port = redis.port;
        settings.redis.timeout_ms = HANG_MS;
        // The per-address count would meet the hang first (and fail open);
        // see the README's failure table.
        settings.limits.ip_burst = 0;
    })
    .await;
    assert_eq!(
        timed(&app, "/post_registration", registration(1)).await.0,
        9
    );

    redis.freeze();
    for (n, path) in [
        (2, "/post_registration"),
        (3, "/reset_password"),
        (4, "/trylogin_server"),
    ] {
        let (status, took) = timed(&app, path, registration(n)).await;
        assert_eq!(status, 8, "{path} while Redis hangs");
        after_the_timeout(path, took);
    }
    redis.thaw();
    let recovered = time_until(9, Duration::from_secs(15), || async {
        timed(&app, "/post_registration", registration(5)).await.0
    })
    .await;
    eprintln!("redis thawed: served again after {recovered:?}");
}

#[actix_web::test]
async fn a_hung_mysql_answers_10_after_the_checkout_timeout() {
    let Some(mariadb) = OwnMariadb::start() else {
        return skip("mariadbd");
    };
    let app = TestApp::spawn_with(|settings| {
        settings.mysql.port = mariadb.port;
        settings.mysql.connect_timeout_ms = HANG_MS;
        settings.mysql.checkout_timeout_ms = HANG_MS;
    })
    .await;
    app.register("held", "held@example.com", "Correct-Horse-7")
        .await;
    let check = json!({"username": "held", "email": "held@example.com"});

    mariadb.freeze();
    // The first meets a pooled connection whose query hangs, the next ones
    // a checkout that cannot connect: each is bounded.
    for (path, body) in [
        ("/check_accountexists", check.clone()),
        ("/check_accountexists", check.clone()),
        (
            "/trylogin_server",
            json!({"username": "held", "password": "Correct-Horse-7"}),
        ),
    ] {
        let (status, took) = timed(&app, path, body).await;
        assert_eq!(status, 10, "{path} while MySQL hangs");
        assert!(
            took < Duration::from_millis(HANG_MS) + AT_ONCE,
            "{path} took {took:?}"
        );
    }
    mariadb.thaw();
    let recovered = time_until(0, Duration::from_secs(20), || async {
        timed(&app, "/check_accountexists", check.clone()).await.0
    })
    .await;
    eprintln!("mysql thawed: served again after {recovered:?}");
}

#[actix_web::test]
async fn the_balance_service_on_a_refused_port_is_3_at_once_and_reconnects() {
    use gateway_server::services::balance::BalanceServer;

    let mut service_settings = test_settings();
    service_settings.balance.chat_servers = vec![gateway_server::config::StaticChatServer {
        name: "chat-1".into(),
        host: "127.0.0.1".into(),
        port: 8090,
    }];
    let listener = services::bind("127.0.0.1", 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let start_peer = |listener| {
        let service = BalanceServer::new(&service_settings).unwrap();
        until_stopped(|stopped| services::serve_balance(service, listener, stopped))
    };
    let (stop, serving) = start_peer(listener);
    let _service_keys = crate::helpers::TestKeys::new(&service_settings);
    let app = TestApp::spawn_with(|settings| {
        settings.balance.port = port;
        settings.grpc.timeout_ms = PATIENT_MS;
        settings.grpc.connect_timeout_ms = PATIENT_MS;
    })
    .await;
    app.register("bal", "bal@example.com", "Correct-Horse-7")
        .await;
    let login = || app.login_status("bal", "Correct-Horse-7");
    assert_eq!(login().await, 0);

    let _ = stop.send(());
    let _ = serving.await;
    let started = Instant::now();
    assert_eq!(login().await, 3, "balance service down");
    let took = started.elapsed();
    assert!(took < AT_ONCE, "a refused port answered after {took:?}");

    let listener = services::bind("127.0.0.1", port).await.unwrap();
    let (_stop, _serving) = start_peer(listener);
    let recovered = time_until(0, Duration::from_secs(20), async || login().await).await;
    eprintln!("balance back: served again after {recovered:?}");
}
