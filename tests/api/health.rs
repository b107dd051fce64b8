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
}

#[actix_web::test]
async fn readiness_names_what_is_down() {
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
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"status": "unavailable", "down": ["verification", "mysql", "balance"]})
    );
}

#[actix_web::test]
async fn readiness_notices_redis() {
    let port = closed_port().await;
    let app = TestApp::spawn_with(|settings| settings.redis.port = port).await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(
        (status, body),
        (503, json!({"status": "unavailable", "down": ["redis"]}))
    );
}
