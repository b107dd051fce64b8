//! Abuse resistance: every limit with a test that fails without it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, account_body, post_ok};

#[actix_web::test]
async fn wrong_codes_use_up_the_code() {
    let app = TestApp::spawn_with(|settings| settings.limits.code_attempts = 5).await;
    let code = app.request_code("guess@example.com").await;
    for attempt in 0..5 {
        let wrong = app
            .call(
                "/post_registration",
                account_body(
                    "guess",
                    "guess@example.com",
                    "Correct-Horse-7",
                    &format!("x{attempt}"),
                ),
            )
            .await;
        assert_eq!(wrong["error"], 9);
    }
    assert_eq!(
        app.stored_code("guess@example.com").await,
        None,
        "the code was deleted"
    );
    let right = app
        .call(
            "/post_registration",
            account_body("guess", "guess@example.com", "Correct-Horse-7", &code),
        )
        .await;
    assert_eq!(right["error"], 9, "the right code no longer works: {right}");
}

#[actix_web::test]
async fn fewer_wrong_codes_than_the_limit_leave_the_code_usable() {
    let app = TestApp::spawn_with(|settings| settings.limits.code_attempts = 5).await;
    let code = app.request_code("near@example.com").await;
    for attempt in 0..4 {
        let body = account_body(
            "near",
            "near@example.com",
            "Correct-Horse-7",
            &format!("x{attempt}"),
        );
        assert_eq!(app.call("/post_registration", body).await["error"], 9);
    }
    let right = app
        .call(
            "/post_registration",
            account_body("near", "near@example.com", "Correct-Horse-7", &code),
        )
        .await;
    assert_eq!(right["error"], 0, "{right}");
}

#[actix_web::test]
async fn failed_logins_lock_the_account_but_not_others() {
    let app = TestApp::spawn_with(|settings| settings.limits.login_failures = 3).await;
    app.register("locked", "locked@example.com", "Correct-Horse-7")
        .await;
    app.register("other", "other@example.com", "Correct-Horse-7")
        .await;
    for _ in 0..3 {
        assert_eq!(app.login_status("locked", "Wrong-Horse-7").await, 13);
    }
    assert_eq!(
        app.login_status("locked", "Correct-Horse-7").await,
        27,
        "even the right password"
    );
    assert_eq!(
        app.login_status("LOCKED", "Correct-Horse-7").await,
        27,
        "names count case-insensitively"
    );
    assert_eq!(
        app.login_status("other", "Correct-Horse-7").await,
        0,
        "other accounts are unaffected"
    );
}

#[actix_web::test]
async fn the_lock_ends_with_its_window_and_a_success_forgets_failures() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.login_failures = 2;
        settings.limits.login_window_secs = 1;
    })
    .await;
    app.register("window", "window@example.com", "Correct-Horse-7")
        .await;
    assert_eq!(app.login_status("window", "Wrong-Horse-7").await, 13);
    assert_eq!(app.login_status("window", "Correct-Horse-7").await, 0);
    // The success cleared the failure: two more are allowed.
    assert_eq!(app.login_status("window", "Wrong-Horse-7").await, 13);
    assert_eq!(app.login_status("window", "Wrong-Horse-7").await, 13);
    assert_eq!(app.login_status("window", "Correct-Horse-7").await, 27);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.login_status("window", "Correct-Horse-7").await,
        0,
        "the window passed"
    );
}

#[actix_web::test]
async fn twenty_parallel_wrong_logins_do_not_race_past_the_limit() {
    let app = TestApp::spawn_with(|settings| settings.limits.login_failures = 10).await;
    app.register("racer", "racer@example.com", "Correct-Horse-7")
        .await;
    let answers = join_all((0..20).map(|_| app.login_status("racer", "Wrong-Horse-7"))).await;
    let checked = answers.iter().filter(|&&error| error == 13).count();
    let refused = answers.iter().filter(|&&error| error == 27).count();
    assert_eq!((checked, refused), (10, 10), "{answers:?}");
    assert_eq!(app.login_status("racer", "Correct-Horse-7").await, 27);
}

#[actix_web::test]
async fn unknown_names_are_counted_too() {
    let app = TestApp::spawn_with(|settings| settings.limits.login_failures = 2).await;
    assert_eq!(app.login_status("ghost", "Wrong-Horse-7").await, 13);
    assert_eq!(app.login_status("ghost", "Wrong-Horse-7").await, 13);
    assert_eq!(
        app.login_status("ghost", "Wrong-Horse-7").await,
        27,
        "the same as a real account"
    );
}

#[actix_web::test]
async fn a_burst_from_one_address_is_refused_per_endpoint() {
    let app = TestApp::spawn_with(|settings| settings.limits.ip_burst = 3).await;
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    for _ in 0..3 {
        assert_eq!(
            app.call("/check_accountexists", body.clone()).await["error"],
            12
        );
    }
    assert_eq!(
        crate::helpers::failed(&app.call("/check_accountexists", body.clone()).await),
        27
    );
    // Each endpoint has its own count.
    let code = app
        .call("/get_verification", json!({"email": "burst@example.com"}))
        .await;
    assert_eq!(code["error"], 0);
}

async fn check_from(app: &TestApp, forwarded_for: &str) -> Value {
    app.client
        .post(format!("{}/check_accountexists", app.address))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"username": "nobody", "email": "nobody@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(|settings| settings.limits.ip_burst = 2).await;
    assert_eq!(check_from(&app, "198.51.100.1").await["error"], 12);
    assert_eq!(check_from(&app, "198.51.100.2").await["error"], 12);
    // A third "client" is still the same TCP peer.
    assert_eq!(check_from(&app, "198.51.100.3").await["error"], 27);
}

#[actix_web::test]
async fn a_trusted_proxy_passes_on_its_clients_addresses() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.ip_burst = 2;
        settings.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(check_from(&app, client).await["error"], 12, "{client}");
    }
    assert_eq!(check_from(&app, "198.51.100.1").await["error"], 12);
    assert_eq!(check_from(&app, "198.51.100.1").await["error"], 27);
}

#[actix_web::test]
async fn guessable_passwords_are_refused_at_registration_and_reset() {
    let app = TestApp::spawn().await;
    let code = app.request_code("weak@example.com").await;
    for weak in [
        "Password123",
        "password1234",
        "weakling1",
        "weak@example.com",
    ] {
        let answer = app
            .call(
                "/post_registration",
                account_body("weakling1", "weak@example.com", weak, &code),
            )
            .await;
        assert_eq!(answer["error"], 25, "{weak}: {answer}");
    }
    // The code survived the refusals.
    let ok = app
        .call(
            "/post_registration",
            account_body("weakling1", "weak@example.com", "Correct-Horse-7", &code),
        )
        .await;
    assert_eq!(ok["error"], 0, "{ok}");

    let code = app.request_code("weak@example.com").await;
    let reset = app
        .call(
            "/reset_password",
            json!({"username": "weakling1", "email": "weak@example.com", "password": "Password123", "cpatcha": code}),
        )
        .await;
    assert_eq!(reset["error"], 25, "{reset}");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[actix_web::test]
async fn an_unknown_name_takes_as_long_as_a_wrong_password() {
    let app = TestApp::spawn_with(|settings| settings.limits.login_failures = 0).await;
    app.register("timed", "timed@example.com", "Correct-Horse-7")
        .await;
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for round in 0..15 {
        for (samples, username) in [
            (&mut unknown, format!("nobody{round}")),
            (&mut wrong, "timed".into()),
        ] {
            let started = Instant::now();
            assert_eq!(app.login_status(&username, "Wrong-Horse-7").await, 13);
            samples.push(started.elapsed());
        }
    }
    let (unknown, wrong) = (median(unknown), median(wrong));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    eprintln!(
        "login timing: unknown user median {unknown:?}, wrong password median {wrong:?}, ratio {ratio:.2}"
    );
    assert!((0.5..=2.0).contains(&ratio), "ratio {ratio:.2}");
}

#[actix_web::test]
async fn a_slow_request_head_is_cut_off_without_holding_up_others() {
    let app = TestApp::spawn_with(|settings| settings.http.client_request_timeout_ms = 500).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        stream
            .write_all(b"POST /check_accountexists HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        // Never finish the head; see what the server does. Keep whatever
        // arrived before the connection ended, reset or not.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 512];
        while let Ok(read @ 1..) = stream.read(&mut chunk) {
            answer.extend_from_slice(&chunk[..read]);
        }
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = app
        .call(
            "/check_accountexists",
            json!({"username": "x", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(other["error"], 12, "another client is served meanwhile");
    let (elapsed, answer) = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    assert!(
        elapsed < Duration::from_secs(3),
        "the slow client was held {elapsed:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[actix_web::test]
async fn an_announced_oversized_body_is_refused_before_it_is_sent() {
    let app = TestApp::spawn_with(|settings| settings.http.max_body_bytes = 1024).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream
            .write_all(b"POST /get_verification HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{\"email\":")
            .unwrap();
        let mut answer = [0u8; 512];
        let read = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[actix_web::test]
async fn a_parallel_burst_is_counted_exactly() {
    let app = TestApp::spawn_with(|settings| settings.limits.ip_burst = 150).await;
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    let answers = join_all((0..200).map(|_| app.call("/check_accountexists", body.clone()))).await;
    let served = answers
        .iter()
        .filter(|answer| answer["error"] == 12)
        .count();
    let refused = answers
        .iter()
        .filter(|answer| answer["error"] == 27)
        .count();
    assert_eq!((served, refused), (150, 50));
}

/// Each HTTP worker has its own limits actor (coalescing its own hits), and
/// the counts in Redis stay exact across them.
#[actix_web::test]
async fn a_parallel_burst_over_several_workers_is_counted_exactly() {
    let app = TestApp::spawn_with(|settings| {
        settings.http.workers = 4;
        settings.limits.ip_burst = 150;
    })
    .await;
    // Every worker started its own actors.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.workers.running().len() < 4 {
        assert!(Instant::now() < deadline, "workers did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Many connections, so that the requests spread over the workers.
    let clients: Vec<reqwest::Client> = (0..8).map(|_| reqwest::Client::new()).collect();
    let url = format!("{}/check_accountexists", app.address);
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    let answers = join_all((0..200).map(|n| {
        let (client, url, body) = (&clients[n % clients.len()], url.clone(), &body);
        async move { post_ok(client, url, body).await["error"].as_i64().unwrap() }
    }))
    .await;
    let served = answers.iter().filter(|error| **error == 12).count();
    let refused = answers.iter().filter(|error| **error == 27).count();
    assert_eq!((served, refused), (150, 50));
}

#[actix_web::test]
async fn every_limit_set_to_0_is_off() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.code_attempts = 0;
        settings.limits.login_failures = 0;
        settings.limits.ip_burst = 0;
    })
    .await;
    // ip_burst = 0: off, not "nothing allowed".
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    let answers = join_all((0..60).map(|_| app.call("/check_accountexists", body.clone()))).await;
    assert!(answers.iter().all(|answer| answer["error"] == 12));
    // code_attempts = 0: wrong codes never use the code up.
    let code = app.request_code("off@example.com").await;
    for attempt in 0..12 {
        let wrong = account_body(
            "off",
            "off@example.com",
            "Correct-Horse-7",
            &format!("x{attempt}"),
        );
        assert_eq!(app.call("/post_registration", wrong).await["error"], 9);
    }
    let right = account_body("off", "off@example.com", "Correct-Horse-7", &code);
    assert_eq!(app.call("/post_registration", right).await["error"], 0);
    // login_failures = 0: no lock after many failures.
    for _ in 0..15 {
        assert_eq!(app.login_status("off", "Wrong-Horse-7").await, 13);
    }
    assert_eq!(app.login_status("off", "Correct-Horse-7").await, 0);
}

#[actix_web::test]
async fn an_address_is_served_again_when_its_window_passes() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits.ip_burst = 2;
        settings.limits.ip_window_secs = 1;
    })
    .await;
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    for expected in [12, 12, 27] {
        let answer = app.call("/check_accountexists", body.clone()).await;
        assert_eq!(answer["error"], expected);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = app.call("/check_accountexists", body).await;
    assert_eq!(answer["error"], 12, "the window passed");
}

/// The per-address limit fails open when Redis cannot count, and says so
/// in the log.
#[actix_web::test]
async fn a_limit_that_cannot_count_lets_requests_through_with_a_warning() {
    use crate::helpers::{BinaryFixture, RunningBinary, gateway_command};

    let fixture = BinaryFixture::start().await;
    let mut command = gateway_command(&fixture.settings);
    command
        .arg("serve")
        .env(
            "GATEWAY_REDIS__PORT",
            crate::peers::closed_port().await.to_string(),
        )
        .env("GATEWAY_LIMITS__IP_BURST", "1");
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let url = format!("http://127.0.0.1:{port}/check_accountexists");
        let body = json!({"username": "nobody", "email": "nobody@example.com"});
        let answer = crate::helpers::post_ok(&client, url, &body).await;
        assert_eq!(answer["error"], 12, "served although nothing was counted");
    }
    let log = gateway.stop();
    assert!(
        log.lines()
            .any(|line| line.contains("WARN") && line.contains("requests not counted")),
        "{log}"
    );
}

/// The counters live at the keys the README's key table names, read back
/// from Redis as an operator (or another service) would.
#[actix_web::test]
async fn the_counters_are_at_the_keys_the_readme_names() {
    use redis::AsyncCommands;

    let app = TestApp::spawn().await;
    app.register("keyed", "keyed@example.com", "Correct-Horse-7")
        .await;
    for name in ["keyed", "KEYED"] {
        assert_eq!(app.login_status(name, "Wrong-Horse-7").await, 13);
    }
    let prefix = &app.settings.redis.key_prefix;
    let mut redis = app.redis().await;
    let logins: Option<u32> = redis
        .get(format!("{prefix}login_attempts:keyed"))
        .await
        .unwrap();
    assert_eq!(logins, Some(2), "both spellings count for one account");
    let requests: Option<u32> = redis
        .get(format!("{prefix}requests:/trylogin_server:127.0.0.1"))
        .await
        .unwrap();
    assert_eq!(requests, Some(2));
}

/// Carrier-grade NAT: 200 people behind one address, each with a whole
/// session (a code, a registration, a login), with the shipped limits.
#[actix_web::test]
async fn two_hundred_users_behind_one_address_are_all_served() {
    let app = TestApp::spawn_with(|settings| {
        settings.limits = gateway_server::config::LimitSettings::default();
        settings.security.max_pending_hashes = 64;
    })
    .await;
    let session = |n: usize| {
        let app = &app;
        async move {
            let (name, email) = (format!("nat{n}"), format!("nat{n}@example.com"));
            app.register(&name, &email, "Correct-Horse-7").await;
            app.login_status(&name, "Correct-Horse-7").await
        }
    };
    let mut logins = Vec::new();
    for batch in (0..200).collect::<Vec<_>>().chunks(20) {
        logins.extend(join_all(batch.iter().map(|n| session(*n))).await);
    }
    assert_eq!(logins.len(), 200);
    let refused: Vec<_> = logins
        .iter()
        .enumerate()
        .filter(|(_, status)| **status != 0)
        .collect();
    assert!(refused.is_empty(), "logins not served: {refused:?}");
}

/// The router matches a path once decoded; the limit counts by the path as
/// sent. A percent-encoded spelling of an endpoint is not a way around it:
/// it is answered 404, uncounted and unserved.
#[actix_web::test]
async fn a_percent_encoded_path_is_not_a_way_around_the_limit() {
    let app = TestApp::spawn_with(|settings| settings.limits.ip_burst = 2).await;
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    for spelling in [
        "/check%5Faccountexists",
        "/check%5faccountexists",
        "/%63heck_accountexists",
        "/get%5Fverification",
        "/trylogin%5Fserver",
    ] {
        let response = app
            .client
            .post(format!("{}{spelling}", app.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{spelling}");
    }
    assert!(
        app.verification.requests().is_empty(),
        "no code was asked for"
    );
    let answers: Vec<i64> =
        join_all((0..3).map(|_| app.call("/check_accountexists", body.clone())))
            .await
            .iter()
            .map(|answer| answer["error"].as_i64().unwrap())
            .collect();
    let mut sorted = answers.clone();
    sorted.sort();
    assert_eq!(sorted, [12, 12, 27]);
}

/// A lock from guesses (anyone can make them) ends with a password reset,
/// which proves the mailbox: the lock's message says so.
#[actix_web::test]
async fn a_password_reset_lifts_the_login_lock() {
    let app = TestApp::spawn_with(|settings| settings.limits.login_failures = 3).await;
    app.register("locked2", "locked2@example.com", "Correct-Horse-7")
        .await;
    for _ in 0..3 {
        assert_eq!(app.login_status("locked2", "Wrong-Horse-7").await, 13);
    }
    assert_eq!(app.login_status("locked2", "Correct-Horse-7").await, 27);
    let code = app.request_code("locked2@example.com").await;
    let reset = app
        .call(
            "/reset_password",
            account_body("locked2", "locked2@example.com", "Battery-Staple-8", &code),
        )
        .await;
    assert_eq!(reset["error"], 0, "{reset}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.login_status("locked2", "Battery-Staple-8").await != 0 {
        assert!(Instant::now() < deadline, "still locked after the reset");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A code given back after failed work (a taken name: 26) keeps only the
/// life it had left: failing over and over cannot keep it alive.
#[actix_web::test]
async fn a_code_given_back_keeps_ageing() {
    let app = TestApp::spawn().await;
    app.register("taken", "taken@example.com", "Correct-Horse-7")
        .await;
    let code = app.request_code("ageing@example.com").await;
    let key = app.code_key("ageing@example.com");
    let before: i64 = redis::AsyncCommands::pttl(&mut app.redis().await, &key)
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..20 {
        let answer = app
            .call(
                "/post_registration",
                account_body("taken", "ageing@example.com", "Correct-Horse-7", &code),
            )
            .await;
        assert_eq!(answer["error"], 26);
    }
    let elapsed = started.elapsed().as_millis() as i64;
    let after: i64 = redis::AsyncCommands::pttl(&mut app.redis().await, &key)
        .await
        .unwrap();
    assert!(after > 0, "the code is still there");
    assert!(
        after <= before - elapsed + 100,
        "{before} ms left before, {after} ms after {elapsed} ms of failed registrations"
    );
}
