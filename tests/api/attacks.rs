//! The attacks of the second security round, each as an outsider sends it.
//! Every test here failed on the gateway before its defence (see the README,
//! "Security").

use std::time::{Duration, Instant};

use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use gateway_server::db::schema::Authentication;
use redis::AsyncCommands;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, account_body};

const PASSWORD: &str = "Wonder-Land-42";

/// Registers alice@example.com as `alice`; answers the app.
async fn with_alice() -> TestApp {
    let app = TestApp::spawn().await;
    app.register("alice", "alice@example.com", PASSWORD).await;
    app
}

// 1. One identity, one spelling.

#[actix_web::test]
async fn a_look_alike_domain_cannot_reset_someone_elses_password() {
    let app = with_alice().await;
    // The attacker owns the mailbox of the look-alike domain.
    let look_alike = "alice@exámple.com";
    let answer = app
        .call("/get_verification", json!({ "email": look_alike }))
        .await;
    assert_eq!(answer["error"], 0);
    // One spelling: the address is stored and answered in its IDNA form.
    assert_eq!(answer["email"], "alice@xn--exmple-qta.com");
    let code = app.stored_code("alice@xn--exmple-qta.com").await.unwrap();
    let reset = app
        .call(
            "/reset_password",
            account_body("alice", look_alike, "Attacker-Owns-99", &code),
        )
        .await;
    assert_eq!(reset["error"], 12, "the look-alike reset: {reset}");
    let check = app
        .call(
            "/check_accountexists",
            json!({"username": "alice", "email": look_alike}),
        )
        .await;
    assert_eq!(check["error"], 12, "{check}");
    assert_eq!(app.login_status("alice", "Attacker-Owns-99").await, 13);
    assert_eq!(app.login_status("alice", PASSWORD).await, 0);
}

#[actix_web::test]
async fn look_alike_names_do_not_reach_a_locked_account() {
    let app = with_alice().await;
    for _ in 0..app.settings.limits.login_failures {
        assert_eq!(app.login_status("alice", "Wrong-Password-1").await, 13);
    }
    assert_eq!(app.login_status("alice", PASSWORD).await, 27);
    // Letter case is the same account, so the same lock.
    assert_eq!(app.login_status("ALICE", PASSWORD).await, 27);
    assert_eq!(app.login_status("ａｌｉｃｅ", PASSWORD).await, 27);
    // Look-alikes are other (unknown) names: no way into alice's account.
    for look_alike in ["alicé", "álice", "ALİCE", "alıce", "аlice"] {
        assert_eq!(
            app.login_status(look_alike, PASSWORD).await,
            13,
            "{look_alike}"
        );
    }
}

#[actix_web::test]
async fn look_alike_names_and_addresses_cannot_register() {
    let app = with_alice().await;
    let register = async |username: &str, email: &str| {
        let code = app.request_code(email).await;
        let body = account_body(username, email, "Another-Horse-77", &code);
        app.call("/post_registration", body).await["error"].clone()
    };
    for (n, taken) in [
        "Alice", "alicé", "álice", "ALİCE", "alıce", "a1ice", "aIice",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = register(taken, &format!("other{n}@example.com")).await;
        assert_eq!(answer, 26, "{taken}");
    }
    for (n, taken) in [
        "ALICE@example.com",
        "alice@exámple.com",
        "aIice@example.com",
        "alice@ехample.com",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = register(&format!("someone{n}"), taken).await;
        assert_eq!(answer, 26, "{taken}");
    }
    // Mixed scripts and invisible characters are refused outright.
    for refused in ["аlice2", "bob\u{200b}", "b\u{2060}ob", "Раypal"] {
        let answer = register(refused, "fresh@example.com").await;
        assert_eq!(answer, 25, "{refused:?}");
    }
    assert_eq!(register("alicia", "alicia@example.com").await, 0);
}

#[actix_web::test]
async fn every_variant_of_an_address_shares_its_code_guesses() {
    let app = TestApp::spawn().await;
    let code = app.request_code("dana@example.com").await;
    let limit = app.settings.limits.code_attempts;
    for n in 0..limit {
        // A new variant each time: all of them are dana@example.com.
        let spelling = match n % 3 {
            0 => "dana@ｅｘａｍｐｌｅ.com",
            1 => "DANA@EXAMPLE.ｃｏｍ",
            _ => " Dana@ｅxample.Com ",
        };
        let body = account_body(&format!("dana{n}"), spelling, PASSWORD, "000000x");
        assert_eq!(app.call("/post_registration", body).await["error"], 9);
    }
    // The limit was reached: the right code is gone too.
    let body = account_body("dana", "dana@example.com", PASSWORD, &code);
    assert_eq!(app.call("/post_registration", body).await["error"], 9);
}

/// The original seed schema, with rows as the C++ gateway wrote them, then
/// the gateway started on it.
#[actix_web::test]
async fn the_old_gateways_rows_are_adopted_with_exact_identities() {
    let settings = crate::helpers::test_settings();
    let name = settings.mysql.database.clone();
    crate::helpers::old_gateway_database(
        &name,
        &[format!(
            "INSERT INTO `{name}`.Authentication (username, password, email) VALUES ('Bob', 'Plain-Text-99', ' Bob@Example.COM'), ('carol', 'Plain-Text-98', 'carol@exámple.com'), ('erin', 'Plain-Text-96', 'érin@example.com')"
        )],
    )
    .await;
    let app = TestApp::spawn_with(|adjusted| adjusted.mysql.database = name).await;
    let check = async |username: &str, email: &str| {
        let body = json!({"username": username, "email": email});
        app.call("/check_accountexists", body).await["error"].clone()
    };
    // The mixed-case address was stored in its one spelling.
    assert_eq!(check("bob", "bob@example.com").await, 0);
    assert_eq!(check("BOB", "BOB@EXAMPLE.COM").await, 0);
    assert_eq!(app.login_status("bob", "Plain-Text-99").await, 0);
    // The plaintext row was re-hashed on that login.
    let stored = app.stored_password("Bob").await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "still plaintext");
    // carol's stored address is the IDNA one; the plain domain is another.
    assert_eq!(check("carol", "carol@exámple.com").await, 0);
    assert_eq!(check("carol", "carol@example.com").await, 12);
    assert_eq!(check("cärol", "carol@exámple.com").await, 12);
    // erin's address (not ASCII before the @) cannot be made canonical: it
    // is kept as it was, and no ASCII spelling reaches it.
    assert_eq!(check("erin", "erin@example.com").await, 12);
    // The old tables were latin1: names beyond it are stored now, as the
    // account's name and its profile's nickname.
    let register = async |username: &str, email: &str| {
        let code = app.request_code(email).await;
        let body = account_body(username, email, "Another-Horse-77", &code);
        app.call("/post_registration", body).await["error"].clone()
    };
    assert_eq!(register("Łukasz", "lukasz@example.com").await, 0);
    assert_eq!(app.login_status("łukasz", "Another-Horse-77").await, 0);

    // A row an old gateway writes while ours runs (a rolling upgrade) is
    // adopted at its first lookup, exactly.
    let mut db = app.db().await;
    diesel::insert_into(Authentication::table)
        .values((
            Authentication::username.eq("Dave"),
            Authentication::password.eq("Plain-Text-97"),
            Authentication::email.eq("Dave@Example.com"),
        ))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(app.login_status("dävé", "Plain-Text-97").await, 13);
    assert_eq!(app.login_status("DAVE", "Plain-Text-97").await, 0);
    assert_eq!(check("dave", "dave@example.com").await, 0);

    // More rows an old gateway writes meanwhile: names not in NFKC or with
    // surrounding spaces; two rows its collation told apart but that are
    // one name for the gateway (the older one is that account); a
    // mixed-case address.
    for (name, password, email) in [
        ("\u{1c5}ura", "Plain-Text-95", "dura@example.com"),
        (" Pat", "Plain-Text-94", "pat@example.com"),
        ("İda", "Victim-Text-93", "ida.victim@example.com"),
        ("i\u{307}da", "Attacker-Text-92", "ida.attacker@example.com"),
        ("İlk", "Plain-Text-91", "ilk@example.com"),
        ("Quinn", "Plain-Text-90", "Quinn@Example.com"),
    ] {
        diesel::insert_into(Authentication::table)
            .values((
                Authentication::username.eq(name),
                Authentication::password.eq(password),
                Authentication::email.eq(email),
            ))
            .execute(&mut db)
            .await
            .unwrap();
    }
    // A newcomer cannot take the identity of a row not adopted yet.
    assert_eq!(register("i\u{307}lk", "newcomer@example.com").await, 26);
    assert_eq!(register("quinn2", "quinn@example.com").await, 26);
    assert_eq!(app.login_status("Džura", "Plain-Text-95").await, 0);
    assert_eq!(app.login_status("Pat", "Plain-Text-94").await, 0);
    assert_eq!(app.login_status("i\u{307}da", "Attacker-Text-92").await, 13);
    assert_eq!(app.login_status("İda", "Victim-Text-93").await, 0);
    assert_eq!(app.login_status("İlk", "Plain-Text-91").await, 0);
    assert_eq!(check("Quinn", "quinn@example.com").await, 0);
}

// 2. Stored hashes are not trusted to size memory.

#[actix_web::test]
async fn a_stored_hash_over_the_caps_is_a_wrong_password() {
    use argon2::password_hash::PasswordHasher as _;
    use argon2::{Algorithm, Argon2, Params, Version};
    let app = TestApp::spawn().await;
    // The right password, hashed with 128 MiB (over the 64 MiB cap).
    let heavy = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(128 * 1024, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    // 4 TiB: before the caps, this aborted the whole process.
    let absurd = "$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
    let mut db = app.db().await;
    for (name, stored) in [("heavy", heavy.as_str()), ("absurd", absurd)] {
        diesel::insert_into(Authentication::table)
            .values((
                Authentication::username.eq(name),
                Authentication::username_key.eq(name),
                Authentication::password.eq(stored),
                Authentication::email.eq(format!("{name}@example.com")),
            ))
            .execute(&mut db)
            .await
            .unwrap();
    }
    let started = Instant::now();
    assert_eq!(app.login_status("heavy", PASSWORD).await, 13);
    assert_eq!(app.login_status("absurd", PASSWORD).await, 13);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "computed anyway"
    );
    // Still alive and serving.
    let check = json!({"username": "heavy", "email": "heavy@example.com"});
    assert_eq!(app.call("/check_accountexists", check).await["error"], 0);
}

// 3. Hashing work is bounded.

/// Sends a login and walks away after `patience`.
async fn abandoned_login(address: &str, n: usize, patience: Duration) {
    let body = json!({"username": format!("flood{n}"), "password": "Flood-Password-1"}).to_string();
    let Ok(mut socket) = TcpStream::connect(address.trim_start_matches("http://")).await else {
        return;
    };
    let request = format!(
        "POST /trylogin_server HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(request.as_bytes()).await;
    let mut answer = [0u8; 256];
    let _ = tokio::time::timeout(patience, socket.read(&mut answer)).await;
}

#[actix_web::test]
async fn abandoned_logins_do_not_delay_a_real_one() {
    let app = TestApp::spawn_with(|settings| settings.security.hash_threads = 1).await;
    app.register("patient", "patient@example.com", PASSWORD)
        .await;
    let flood: Vec<_> = (0..400)
        .map(|n| abandoned_login(&app.address, n, Duration::from_millis(300)))
        .collect();
    futures_util::future::join_all(flood).await;
    // A client that is told 27 (the queue is full) tries again, as a user
    // would; within 3 s it is served.
    let started = Instant::now();
    let mut answers = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let answer = app.login_status("patient", PASSWORD).await;
        answers.push(answer);
        if answer != 27 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = started.elapsed();
    assert_eq!(answers.last(), Some(&0), "{answers:?} in {waited:?}");
    assert!(waited < Duration::from_secs(3), "served after {waited:?}");
    // Jobs of clients that had gone were dropped unhashed: the gateway
    // stops a request whose client closed its connection.
    let metrics = app.request(reqwest::Method::GET, "/metrics").await;
    let text = metrics.text().await.unwrap();
    let count = |outcome: &str| -> u64 {
        let series = format!("gateway_password_hash_jobs_total{{outcome=\"{outcome}\"}} ");
        let line = text.lines().find(|line| line.starts_with(&series));
        line.and_then(|line| line[series.len()..].parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert!(count("abandoned") > 0, "no abandoned job was dropped");
    assert!(count("hashed") < 400, "every abandoned login was hashed");
}

#[actix_web::test]
async fn a_full_hashing_queue_answers_27_at_once() {
    let app = TestApp::spawn_with(|settings| {
        settings.security.hash_threads = 1;
        settings.security.max_pending_hashes = 2;
    })
    .await;
    let names: Vec<String> = (0..24).map(|n| format!("busy{n}")).collect();
    let logins: Vec<_> = names
        .iter()
        .map(|name| app.login_status(name, "Busy-Password-1"))
        .collect();
    let answers = futures_util::future::join_all(logins).await;
    let refused = answers.iter().filter(|&&answer| answer == 27).count();
    assert!(refused >= 1, "{answers:?}");
    assert!(answers.iter().all(|&answer| answer == 27 || answer == 13));
}

// 4. Our Redis keys cannot be spelled by someone else's input.

#[actix_web::test]
async fn an_address_cannot_spell_another_addresss_cooldown_or_attempts() {
    use crate::verification_service;
    let mut settings = crate::helpers::test_settings();
    settings.verification.resend_cooldown_secs = 60;
    let prefix = settings.redis.key_prefix.clone();
    let mut service = verification_service::start(settings).await;
    // What used to be carol's cooldown key.
    let (error, _) = service.ask("verification_cooldown_carol@example.com").await;
    assert_eq!(error, 0);
    let (error, _) = service.ask("carol@example.com").await;
    assert_eq!(error, 0, "carol was kept out by someone else's request");
    // The keys of an address carry it as their hash tag.
    let mut redis = crate::helpers::redis_connection().await;
    let cooldown = format!("{{{prefix}carol@example.com}}:cooldown");
    assert!(redis.exists::<_, bool>(&cooldown).await.unwrap());
}

#[actix_web::test]
async fn an_address_cannot_spell_another_addresss_attempt_counter() {
    let app = TestApp::spawn().await;
    let code = app.request_code("dave@example.com").await;
    // What used to be dave's attempt counter gets a 6-digit "count".
    app.request_code("verification_attempts_dave@example.com")
        .await;
    let typo = account_body("dave", "dave@example.com", PASSWORD, "not-the-code");
    assert_eq!(app.call("/post_registration", typo).await["error"], 9);
    // dave's own counter, read back where the README says it is.
    let attempts = format!(
        "{{{}dave@example.com}}:attempts",
        app.settings.redis.key_prefix
    );
    let counted: Option<u32> = app.redis().await.get(&attempts).await.unwrap();
    assert_eq!(counted, Some(1));
    let right = account_body("dave", "dave@example.com", PASSWORD, &code);
    assert_eq!(app.call("/post_registration", right).await["error"], 0);
}

// 5. Client addresses are normalised before counting.

#[actix_web::test]
async fn an_ipv6_client_counts_by_its_64_and_mapped_addresses_as_ipv4() {
    let app = TestApp::spawn_with(|settings| {
        // Dual stack: IPv4 peers arrive as ::ffff:a.b.c.d.
        settings.http.host = "::".into();
        settings.limits.ip_burst = 3;
        settings.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap();
    let from = async |client: &str| {
        let response = app
            .client
            .post(format!("http://127.0.0.1:{port}/check_accountexists"))
            .header("X-Forwarded-For", client)
            .json(&json!({"username": "nobody", "email": "nobody@example.com"}))
            .send()
            .await
            .unwrap();
        response.json::<serde_json::Value>().await.unwrap()["error"].clone()
    };
    // One /64, a new address per request: one budget.
    for n in 1..=3 {
        assert_eq!(from(&format!("2001:db8:0:1::{n}")).await, 12);
    }
    assert_eq!(from("2001:db8:0:1:ffff::9").await, 27);
    // Another /64 has its own budget: the proxy's own (mapped) address was
    // recognised as trusted, and its X-Forwarded-For believed.
    assert_eq!(from("2001:db8:0:2::1").await, 12);
    // A mapped address is its IPv4 address.
    for _ in 0..3 {
        assert_eq!(from("203.0.113.5").await, 12);
    }
    assert_eq!(from("::ffff:203.0.113.5").await, 27);
}

// 6. A password reset revokes the chat token.

#[actix_web::test]
async fn a_password_reset_revokes_the_chat_token() {
    let app = TestApp::spawn().await;
    let uuid = app.register("alice", "alice@example.com", PASSWORD).await;
    let key = format!("{}user_token_{uuid}", app.settings.redis.key_prefix);
    let mut redis = app.redis().await;
    // The token the balance service stored at alice's login.
    let _: () = redis.set_ex(&key, "live-token", 600).await.unwrap();
    let code = app.request_code("alice@example.com").await;
    let reset = account_body("alice", "alice@example.com", "Brand-New-Horse-8", &code);
    assert_eq!(app.call("/reset_password", reset).await["error"], 0);
    let left: Option<String> = redis.get(&key).await.unwrap();
    assert_eq!(left, None, "the old token survived the reset");
}

// 7. A whole request has a deadline.

#[actix_web::test]
async fn a_trickled_body_is_cut_off_with_408() {
    let app = TestApp::spawn_with(|settings| settings.http.client_request_timeout_ms = 1000).await;
    let mut socket = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let body = br#"{"username":"a","email":"a@example.com"}"#;
    let head = format!(
        "POST /check_accountexists HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for byte in body {
        // One byte every 200 ms: 8 s for the whole body.
        if socket.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(200), socket.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        assert!(started.elapsed() < Duration::from_secs(4), "still reading");
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );
    // And the connection is closed.
    let mut rest = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
}

// 9. The gRPC services authenticate their callers.

mod grpc {
    use gateway_server::grpc::auth::BearerToken;
    use gateway_server::grpc::proto::balancer_service_client::BalancerServiceClient;
    use gateway_server::grpc::proto::verification_service_client::VerificationServiceClient;
    use gateway_server::grpc::proto::{GetVerificationRequest, PeerListsRequest};
    use serde_json::json;
    use tonic::service::interceptor::InterceptedService;
    use tonic::transport::Channel;

    use crate::balance_service::{Balance, server};
    use crate::helpers::{RunningBinary, TestDatabase, TestKeys, gateway_command, test_settings};
    use crate::system::System;

    /// A code request through the gateway, which calls the verification
    /// service over gRPC.
    async fn ask_for_a_code(system: &System) -> serde_json::Value {
        system
            .call("/get_verification", json!({"email": "grpc@example.com"}))
            .await
    }

    fn with_token(channel: Channel, token: &str) -> InterceptedService<Channel, BearerToken> {
        let token = BearerToken::new(&token.to_owned().into()).unwrap();
        InterceptedService::new(channel, token)
    }

    async fn channel(port: u16) -> Channel {
        Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    #[actix_web::test]
    async fn the_services_refuse_callers_without_the_token_and_the_gateway_sends_it() {
        let token = "a-long-random-shared-secret";
        let system = System::start_with(&[("GATEWAY_GRPC__AUTH_TOKEN", token.into())]).await;
        assert_eq!(ask_for_a_code(&system).await["error"], 0);

        for presented in [None, Some("a-long-random-shared-secreT")] {
            let channel = channel(system.balance).await;
            let refused = match presented {
                None => BalancerServiceClient::new(channel)
                    .register_chatting_server_instance(server("mallory", "6666"))
                    .await
                    .unwrap_err(),
                Some(wrong) => BalancerServiceClient::new(with_token(channel, wrong))
                    .register_chatting_server_instance(server("mallory", "6666"))
                    .await
                    .unwrap_err(),
            };
            assert_eq!(
                refused.code(),
                tonic::Code::Unauthenticated,
                "{presented:?}"
            );
        }
        let refused = VerificationServiceClient::new(channel(system.verification).await)
            .get_verification_code(GetVerificationRequest {
                email: "spam@example.com".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);

        let mut allowed =
            BalancerServiceClient::new(with_token(channel(system.balance).await, token));
        let answer = allowed
            .register_chatting_server_instance(server("chat-1", "8090"))
            .await
            .unwrap();
        assert_eq!(answer.into_inner().error, 0);
        let log = system.binary.stop();
        assert!(!log.contains(token), "the token reached the log");
    }

    /// A gateway whose token the services refuse serves nothing through
    /// them: it must not call itself ready.
    #[actix_web::test]
    async fn a_gateway_with_the_wrong_token_is_not_ready() {
        let system =
            System::start_with(&[("GATEWAY_GRPC__AUTH_TOKEN", "the-right-token".into())]).await;
        let mut settings = test_settings();
        settings.verification.port = system.verification;
        settings.balance.port = system.balance;
        let (_database, _keys) = (TestDatabase::new(&settings), TestKeys::new(&settings));
        let mut command = gateway_command(&settings);
        command
            .arg("serve")
            .env("GATEWAY_GRPC__AUTH_TOKEN", "a-wrong-token");
        let mut gateway = RunningBinary::start(command);
        let port = gateway.port_after("gateway listening on ");
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz?verbose"))
            .await
            .unwrap();
        assert_eq!(ready.status(), 503);
        let report: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(report["refused"], json!(["balance"]), "{report}");
        assert_eq!(report["backends"]["balance"], "refuses-us", "{report}");
    }

    #[actix_web::test]
    async fn tls_guards_the_services_and_the_gateways_channels() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let directory = std::env::temp_dir().join(crate::helpers::unique_name("tls"));
        std::fs::create_dir_all(&directory).unwrap();
        let (cert, key) = (directory.join("cert.pem"), directory.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let path = |file: &std::path::Path| file.display().to_string();
        let system = System::start_with(&[
            ("GATEWAY_GRPC__TLS_CERT", path(&cert)),
            ("GATEWAY_GRPC__TLS_KEY", path(&key)),
            // The gateway trusts the (self-signed) certificate for its peers.
            ("GATEWAY_GRPC__TLS_CA", path(&cert)),
            ("GATEWAY_GRPC__TLS_DOMAIN", "localhost".into()),
        ])
        .await;
        assert_eq!(ask_for_a_code(&system).await["error"], 0);
        // A plaintext caller gets nowhere.
        let plaintext = Channel::from_shared(format!("http://127.0.0.1:{}", system.balance))
            .unwrap()
            .connect()
            .await;
        let refused = match plaintext {
            Err(_) => true,
            Ok(channel) => BalancerServiceClient::new(channel)
                .get_peer_chatting_server_info(PeerListsRequest::default())
                .await
                .is_err(),
        };
        assert!(refused, "a plaintext call was answered");
        drop(system);
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[tokio::test]
    async fn registrations_are_bounded() {
        let mut balance = Balance::start_with(test_settings()).await;
        let long_name = "n".repeat(65);
        let long_host = format!("{}.example.com", "h".repeat(250));
        let mut refused = vec![
            crate::balance_service::server(&long_name, "8090"),
            crate::balance_service::server("ok-name", "0"),
            crate::balance_service::server("ok-name", "65536"),
            crate::balance_service::server("ok-name", "http"),
            crate::balance_service::server("ok-name", " 80"),
            crate::balance_service::server("evil\n[FAKE] INFO injected", "8090"),
        ];
        let mut spaced = server("ok-name", "8090");
        spaced.info.as_mut().unwrap().host = "127.0.0.1\r\nX: y".into();
        refused.push(spaced);
        let mut long = server("ok-name", "8090");
        long.info.as_mut().unwrap().host = long_host;
        refused.push(long);
        for request in refused {
            let answer = balance
                .client
                .register_chatting_server_instance(request.clone())
                .await
                .unwrap();
            assert_eq!(answer.into_inner().error, 25, "{request:?}");
        }
        let at_limit = server(&"n".repeat(64), "65535");
        let answer = balance
            .client
            .register_chatting_server_instance(at_limit)
            .await;
        assert_eq!(answer.unwrap().into_inner().error, 0);
        for n in 1..1024 {
            let answer = balance
                .client
                .register_chatting_grpc_server(server(&format!("g{n}"), "9000"))
                .await;
            assert_eq!(answer.unwrap().into_inner().error, 0);
        }
        let answer = balance
            .client
            .register_chatting_grpc_server(server("g1024", "9000"))
            .await;
        assert_eq!(answer.unwrap().into_inner().error, 0, "the 1,024th");
        let answer = balance
            .client
            .register_chatting_grpc_server(server("g1025", "9000"))
            .await;
        assert_eq!(answer.unwrap().into_inner().error, 25, "the 1,025th");
        // Full of dead servers is not full for ever: the one down longest
        // makes room (as probes would have marked them).
        let failures = format!(
            "{{{}redis_server}}:grpc_failures",
            balance.settings.redis.key_prefix
        );
        let mut redis = crate::helpers::redis_connection().await;
        let _: () = redis::AsyncCommands::hset_multiple(
            &mut redis,
            &failures,
            &[("g7", 5), ("g8", 9), ("g9", 1)],
        )
        .await
        .unwrap();
        let answer = balance
            .client
            .register_chatting_grpc_server(server("g1025", "9000"))
            .await;
        assert_eq!(answer.unwrap().into_inner().error, 0, "room made");
        let peers = balance
            .client
            .get_peer_grpc_server_info(PeerListsRequest {
                cur_server: "g1025".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let names: Vec<&str> = peers.lists.iter().map(|info| info.name.as_str()).collect();
        assert!(!names.contains(&"g8"), "the longest down was forgotten");
        assert!(names.contains(&"g7") && names.contains(&"g9"));
        // Down ones are listed last.
        assert_eq!(&names[names.len() - 1..], ["g7"]);
        // Hosts are addresses or DNS names: the probes look them up.
        for host in ["evil host", "-flag", "a/b", "x@y", ".hidden"] {
            let mut odd = server("odd", "9000");
            odd.info.as_mut().unwrap().host = host.into();
            let answer = balance.client.register_chatting_server_instance(odd).await;
            assert_eq!(answer.unwrap().into_inner().error, 25, "{host:?}");
        }
    }

    #[tokio::test]
    async fn an_unregistered_server_gets_no_peer_list() {
        let mut balance = Balance::start_with(test_settings()).await;
        for (name, port) in [("a", "8090"), ("b", "8091")] {
            let answer = balance
                .client
                .register_chatting_server_instance(server(name, port))
                .await;
            assert_eq!(answer.unwrap().into_inner().error, 0);
            let answer = balance
                .client
                .register_chatting_grpc_server(server(name, port))
                .await;
            assert_eq!(answer.unwrap().into_inner().error, 0);
        }
        let stranger = || PeerListsRequest {
            cur_server: "stranger".into(),
        };
        let chat = balance
            .client
            .get_peer_chatting_server_info(stranger())
            .await
            .unwrap()
            .into_inner();
        assert_eq!((chat.error, chat.lists.len()), (6, 0));
        let grpc = balance
            .client
            .get_peer_grpc_server_info(stranger())
            .await
            .unwrap()
            .into_inner();
        assert_eq!((grpc.error, grpc.lists.len()), (4, 0));
        let known = PeerListsRequest {
            cur_server: "a".into(),
        };
        let peers = balance
            .client
            .get_peer_chatting_server_info(known)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(peers.error, 0);
        let names: Vec<&str> = peers.lists.iter().map(|info| info.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }
}
