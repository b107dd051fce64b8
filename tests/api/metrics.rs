//! `GET /metrics`: what operators scrape, read back as Prometheus text.

use serde_json::json;

use crate::helpers::TestApp;
use crate::peers::closed_port;

async fn scrape(app: &TestApp) -> String {
    let response = app.request(reqwest::Method::GET, "/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of one series (name with its labels, as the text shows them).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[actix_web::test]
async fn requests_are_counted_by_endpoint_http_status_and_protocol_status() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        let answer = app
            .call(
                "/check_accountexists",
                json!({"username": "nobody", "email": "nobody@example.com"}),
            )
            .await;
        assert_eq!(answer["error"], 12);
    }
    let (_, malformed) = app
        .post("/check_accountexists", &json!(["not", "an", "object"]))
        .await;
    assert_eq!(malformed["error"], 1);
    let missing = app.request(reqwest::Method::GET, "/no/such/page/42").await;
    assert_eq!(missing.status(), 404);

    let text = scrape(&app).await;
    let check = r#"endpoint="/check_accountexists""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"gateway_http_requests_total{{{check},error="12",status="200"}}"#)
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"gateway_http_requests_total{{{check},error="1",status="200"}}"#)
        ),
        Some(1.0)
    );
    // Unknown paths share one label: a scanner cannot blow up the series.
    assert_eq!(
        sample(
            &text,
            r#"gateway_http_requests_total{endpoint="unmatched",error="",status="404"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("/no/such/page"));
    assert_eq!(
        sample(
            &text,
            &format!(r#"gateway_http_request_duration_seconds_count{{{check}}}"#)
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"gateway_http_request_duration_seconds_bucket{{{check},le="+Inf"}}"#)
        ),
        Some(4.0)
    );
    // The checks went through the MySQL pool, which now holds connections.
    let mysql_idle = sample(
        &text,
        r#"gateway_pool_connections{pool="mysql",state="idle"}"#,
    )
    .expect("mysql pool gauge");
    assert!(mysql_idle >= 1.0, "{text}");
    for pool in ["redis_codes", "redis_limits"] {
        for state in ["in_use", "idle"] {
            let series = format!(r#"gateway_pool_connections{{pool="{pool}",state="{state}"}}"#);
            assert!(sample(&text, &series).is_some(), "{series} missing");
        }
    }
    assert_eq!(
        sample(&text, r#"gateway_backend_errors_total{backend="mysql"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"gateway_actor_restarts_total{actor="account"}"#),
        Some(0.0)
    );
}

#[actix_web::test]
async fn failing_backends_and_restarts_are_counted() {
    let (mysql, verification) = (closed_port().await, closed_port().await);
    let app = TestApp::spawn_with(|settings| {
        settings.mysql.port = mysql;
        settings.mysql.run_migrations = false;
        settings.mysql.connect_timeout_ms = 500;
        settings.mysql.checkout_timeout_ms = 1000;
        settings.verification.port = verification;
    })
    .await;
    for _ in 0..2 {
        let check = app
            .call(
                "/check_accountexists",
                json!({"username": "u", "email": "u@example.com"}),
            )
            .await;
        assert_eq!(check["error"], 10);
    }
    let code = app
        .call("/get_verification", json!({"email": "u@example.com"}))
        .await;
    assert_eq!(code["error"], 3);
    app.actors
        .balance
        .send(gateway_server::actors::Restart)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.workers.metrics().restarts() < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"gateway_backend_errors_total{backend="mysql"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"gateway_backend_errors_total{backend="verification"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"gateway_backend_errors_total{backend="redis"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"gateway_actor_restarts_total{actor="balance"}"#),
        Some(1.0)
    );
}

#[actix_web::test]
async fn requests_in_flight_and_balance_failures_are_counted() {
    use crate::peers::Behaviour;
    use std::time::Duration;

    let app = TestApp::spawn_with(|settings| settings.grpc.timeout_ms = 800).await;
    app.register("flight", "flight@example.com", "Correct-Horse-7")
        .await;
    app.balance.behave(Behaviour::Hang(Duration::from_secs(5)));
    let logins = futures_util::future::join_all(
        (0..3).map(|_| app.login_status("flight", "Correct-Horse-7")),
    );
    let scrape_meanwhile = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        scrape(&app).await
    };
    let (answers, during) = tokio::join!(logins, scrape_meanwhile);
    assert_eq!(
        answers,
        [3, 3, 3],
        "the balance service missed its deadline"
    );
    // Three logins held by the balance service, and the scrape itself.
    assert_eq!(
        sample(&during, "gateway_http_requests_in_flight"),
        Some(4.0),
        "{during}"
    );
    let after = scrape(&app).await;
    assert_eq!(sample(&after, "gateway_http_requests_in_flight"), Some(1.0));
    assert_eq!(
        sample(&after, r#"gateway_backend_errors_total{backend="balance"}"#),
        Some(3.0),
        "{after}"
    );
}
