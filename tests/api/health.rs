//! `/healthz` and `/readyz`.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::peers::closed_port;

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.request(reqwest::Method::GET, path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[actix_web::test]
async fn a_gateway_whose_backends_answer_is_alive_and_ready() {
    let app = TestApp::spawn().await;
    assert_eq!(
        get(&app, "/healthz").await,
        (200, json!({"status": "alive"}))
    );
    assert_eq!(
        get(&app, "/readyz").await,
        (200, json!({"status": "ready"}))
    );
    let up = json!({"mysql": "up", "redis": "up", "verification": "up", "balance": "up"});
    assert_eq!(
        get(&app, "/readyz?verbose").await,
        (200, json!({"status": "ready", "backends": up, "down": []}))
    );
}

/// Readiness is this process's: a shared backend that is down does not
/// take every gateway out of service (a restart of the one balance replica
/// would otherwise empty the Service of every pod at once).
#[actix_web::test]
async fn backends_that_are_down_are_named_without_failing_readiness() {
    let (mysql, verification, balance) = (
        closed_port().await,
        closed_port().await,
        closed_port().await,
    );
    let app = TestApp::spawn_with(|settings| {
        settings.mysql.port = mysql;
        settings.mysql.run_migrations = false;
        settings.verification.port = verification;
        settings.balance.port = balance;
    })
    .await;
    assert_eq!(get(&app, "/healthz").await.0, 200, "alive all the same");
    assert_eq!(
        get(&app, "/readyz").await,
        (200, json!({"status": "ready"}))
    );
    let down = json!({"mysql": "down", "redis": "up", "verification": "down", "balance": "down"});
    assert_eq!(
        get(&app, "/readyz?verbose").await,
        (
            200,
            json!({"status": "ready", "backends": down, "down": ["verification", "mysql", "balance"]})
        )
    );
    // The same view for alerts, probed at each scrape.
    let metrics = app.request(reqwest::Method::GET, "/metrics").await;
    let text = metrics.text().await.unwrap();
    for (backend, up) in [
        ("mysql", 0),
        ("redis", 1),
        ("verification", 0),
        ("balance", 0),
    ] {
        let line = format!(r#"gateway_backend_up{{backend="{backend}"}} {up}"#);
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
}

#[actix_web::test]
async fn redis_down_is_named_without_failing_readiness() {
    let port = closed_port().await;
    let app = TestApp::spawn_with(|settings| settings.redis.port = port).await;
    assert_eq!(get(&app, "/readyz").await.0, 200);
    let (status, body) = get(&app, "/readyz?verbose").await;
    assert_eq!((status, &body["down"]), (200, &json!(["redis"])), "{body}");
}
