//! Backends that are down answer their status code instead of hanging, and
//! supervised actors come back with rebuilt resources.

use std::time::{Duration, Instant};

use gateway_server::actors::Restart;
use serde_json::json;

use crate::helpers::TestApp;
use crate::peers::closed_port;

/// Far above what a refused connection may take: an answer within
/// [`AT_ONCE`] proves the gateway did not wait out a timeout.
const PATIENT_MS: u64 = 10_000;
/// "Within milliseconds" (measured: 1-3 ms), with room for a loaded machine.
const AT_ONCE: Duration = Duration::from_millis(500);

/// A gateway whose MySQL is down (nothing listens on its port), with every
/// MySQL timeout set far above [`AT_ONCE`].
async fn spawn_without_mysql() -> TestApp {
    let port = closed_port().await;
    TestApp::spawn_with(|settings| {
        settings.mysql.port = port;
        settings.mysql.run_migrations = false;
        settings.mysql.connect_timeout_ms = PATIENT_MS;
        settings.mysql.checkout_timeout_ms = PATIENT_MS;
    })
    .await
}

#[actix_web::test]
async fn mysql_down_is_status_10() {
    let app = spawn_without_mysql().await;
    let started = Instant::now();
    let check = app
        .call(
            "/check_accountexists",
            json!({"username": "u", "email": "u@example.com"}),
        )
        .await;
    assert_eq!(check["error"], 10, "{check}");
    let login = app
        .call(
            "/trylogin_server",
            json!({"username": "u", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(login["error"], 10, "{login}");
    assert!(
        started.elapsed() < AT_ONCE * 2,
        "two answers took {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn a_registration_that_fails_in_mysql_keeps_the_code() {
    let app = spawn_without_mysql().await;
    let code = app.request_code("v@example.com").await;
    let answer = app
        .call(
            "/post_registration",
            json!({"username": "vic", "email": "v@example.com", "password": "Correct-Horse-7", "cpatcha": code}),
        )
        .await;
    assert_eq!(answer["error"], 10, "{answer}");
    assert_eq!(
        app.stored_code("v@example.com").await.as_deref(),
        Some(code.as_str())
    );
}

#[actix_web::test]
async fn redis_down_is_status_8() {
    let port = closed_port().await;
    let app = TestApp::spawn_with(|settings| {
        settings.redis.port = port;
        settings.redis.timeout_ms = PATIENT_MS;
    })
    .await;
    let started = Instant::now();
    for path in ["/post_registration", "/reset_password"] {
        let answer = app
            .call(
                path,
                json!({"username": "w", "email": "w@example.com", "password": "Correct-Horse-7", "cpatcha": "1234"}),
            )
            .await;
        assert_eq!(answer["error"], 8, "{path}: {answer}");
    }
    // Login attempts cannot be counted: no login (the limits fail closed).
    let login = app
        .call(
            "/trylogin_server",
            json!({"username": "w", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(login["error"], 8, "{login}");
    // Endpoints that do not need Redis are not held up by the address limit.
    let check = app
        .call(
            "/check_accountexists",
            json!({"username": "w", "email": "w@example.com"}),
        )
        .await;
    assert_eq!(check["error"], 12, "{check}");
    assert!(
        started.elapsed() < AT_ONCE * 4,
        "four answers took {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn restarted_actors_rebuild_their_resources_and_keep_serving() {
    let app = TestApp::spawn().await;
    app.register("xena", "x@example.com", "Correct-Horse-7")
        .await;
    app.actors.captcha.send(Restart).await.unwrap();
    app.actors.account.send(Restart).await.unwrap();
    app.actors.balance.send(Restart).await.unwrap();
    // The supervisor restarts each actor on the next turn of its arbiter.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.workers.metrics().restarts() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.workers.metrics().restarts(), 3);

    let login = app
        .call(
            "/trylogin_server",
            json!({"username": "xena", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(login["error"], 0, "{login}");
    app.register("yuri", "y@example.com", "Correct-Horse-7")
        .await;
}

#[actix_web::test]
async fn requests_under_way_when_an_actor_fails_get_their_status() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "nobody", "email": "nobody@example.com"});
    let requests = (0..40).map(|_| app.call("/check_accountexists", body.clone()));
    let restart = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        app.actors.account.send(Restart).await.unwrap();
        app.actors.captcha.send(Restart).await.unwrap();
    };
    let (answers, ()) = tokio::join!(futures_util::future::join_all(requests), restart);
    assert!(
        answers.iter().all(|answer| answer["error"] == 12),
        "{answers:?}"
    );
    assert!(app.workers.metrics().restarts() >= 1);
}

#[actix_web::test]
async fn a_redis_with_requirepass_serves_with_the_password_and_only_with_it() {
    let Some(redis) = crate::backends::OwnRedis::start_with_password("s3cret-Redis-pass") else {
        return crate::backends::skip("redis-server");
    };
    let with_password = TestApp::spawn_with(|settings| {
        settings.redis.port = redis.port;
        settings.redis.password = "s3cret-Redis-pass".into();
    })
    .await;
    // A code as the verification service leaves it, in the protected Redis.
    let mut store = redis::Client::open(format!(
        "redis://:s3cret-Redis-pass@127.0.0.1:{}/",
        redis.port
    ))
    .unwrap()
    .get_multiplexed_async_connection()
    .await
    .unwrap();
    let code = "482913";
    let () = redis::cmd("SET")
        .arg(with_password.code_key("p@example.com"))
        .arg(code)
        .arg("EX")
        .arg(60)
        .query_async(&mut store)
        .await
        .unwrap();
    let check = with_password
        .call(
            "/check_accountexists",
            json!({"username": "pat", "email": "p@example.com"}),
        )
        .await;
    assert_eq!(check["error"], 12, "{check}");
    let answer = with_password
        .call(
            "/post_registration",
            json!({"username": "pat", "email": "p@example.com", "password": "Correct-Horse-7", "cpatcha": code}),
        )
        .await;
    assert_eq!(answer["error"], 0, "{answer}");

    let wrong_password = TestApp::spawn_with(|settings| {
        settings.redis.port = redis.port;
        settings.redis.password = "not-the-password".into();
    })
    .await;
    let answer = wrong_password
        .call(
            "/post_registration",
            json!({"username": "pat2", "email": "p@example.com", "password": "Correct-Horse-7", "cpatcha": "123456"}),
        )
        .await;
    assert_eq!(answer["error"], 8, "{answer}");
}
