//! `/trylogin_server`.

use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use gateway_server::db::schema::Authentication;
use serde_json::json;

use crate::helpers::TestApp;
use crate::peers::{Behaviour, CHAT_HOST, CHAT_PORT, token_for};

async fn login(app: &TestApp, username: &str, password: &str) -> serde_json::Value {
    app.call(
        "/trylogin_server",
        json!({"username": username, "password": password}),
    )
    .await
}

#[actix_web::test]
async fn the_right_password_relays_the_chat_server_and_token() {
    let app = TestApp::spawn().await;
    let uuid = app
        .register("pia", "p@example.com", "Correct-Horse-7")
        .await;
    let answer = login(&app, "pia", "Correct-Horse-7").await;
    assert_eq!(
        answer,
        json!({
            "error": 0,
            "uuid": uuid.to_string(),
            "host": CHAT_HOST,
            "port": CHAT_PORT,
            "token": token_for(uuid),
        })
    );
}

#[actix_web::test]
async fn a_wrong_password_or_unknown_name_is_status_13() {
    let app = TestApp::spawn().await;
    app.register("quinn", "q@example.com", "Correct-Horse-7")
        .await;
    assert_eq!(
        crate::helpers::failed(&login(&app, "quinn", "Wrong-Horse-7").await),
        13
    );
    assert_eq!(
        crate::helpers::failed(&login(&app, "nobody", "Correct-Horse-7").await),
        13
    );
}

#[actix_web::test]
async fn login_refuses_malformed_and_invalid_input() {
    let app = TestApp::spawn().await;
    let missing = app.call("/trylogin_server", json!({"username": "x"})).await;
    assert_eq!(missing["error"], 1);
    assert_eq!(login(&app, "", "Correct-Horse-7").await["error"], 25);
    assert_eq!(login(&app, "x", "short").await["error"], 25);
}

#[actix_web::test]
async fn a_legacy_plaintext_password_logs_in_and_is_rehashed() {
    let app = TestApp::spawn().await;
    let mut db = app.db().await;
    // A row as the old C++ gateway wrote it.
    diesel::insert_into(Authentication::table)
        .values((
            Authentication::username.eq("legacy"),
            Authentication::password.eq("Plain-Text-99"),
            Authentication::email.eq("legacy@example.com"),
        ))
        .execute(&mut db)
        .await
        .unwrap();

    assert_eq!(login(&app, "legacy", "Plain-Text-9").await["error"], 13);
    assert_eq!(
        app.stored_password("legacy").await.unwrap(),
        "Plain-Text-99"
    );

    assert_eq!(login(&app, "legacy", "Plain-Text-99").await["error"], 0);
    let stored = app.stored_password("legacy").await.unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    // And it keeps working from the hash.
    assert_eq!(login(&app, "legacy", "Plain-Text-99").await["error"], 0);
    assert_eq!(login(&app, "legacy", "Plain-Text-98").await["error"], 13);
}

#[actix_web::test]
async fn a_stored_hash_that_cannot_be_computed_is_status_10() {
    let app = TestApp::spawn().await;
    let mut db = app.db().await;
    // An argon2 string without its output: nothing to compare with.
    diesel::insert_into(Authentication::table)
        .values((
            Authentication::username.eq("broken"),
            Authentication::username_key.eq("broken"),
            Authentication::password.eq("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0"),
            Authentication::email.eq("broken@example.com"),
        ))
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::failed(&login(&app, "broken", "Correct-Horse-7").await),
        10
    );
}

#[actix_web::test]
async fn the_balance_services_codes_are_relayed_only_when_known() {
    let app = TestApp::spawn().await;
    app.register("rae", "r@example.com", "Correct-Horse-7")
        .await;
    // 6: no chat server registered; 14: a known code; 28, the last code
    // we know, is relayed; 29, past it, and 99, -1: unknown → 3.
    for (peer, gateway) in [(6, 6), (14, 14), (28, 28), (29, 3), (99, 3), (-1, 3)] {
        app.balance.behave(Behaviour::Answer(peer));
        let answer = login(&app, "rae", "Correct-Horse-7").await;
        assert_eq!(
            crate::helpers::failed(&answer),
            gateway,
            "peer answered {peer}"
        );
    }
}

#[actix_web::test]
async fn a_balance_service_that_hangs_is_status_3_within_the_deadline() {
    let app = TestApp::spawn_with(|settings| settings.grpc.timeout_ms = 500).await;
    app.register("sam", "s@example.com", "Correct-Horse-7")
        .await;
    app.balance
        .behave(Behaviour::Hang(std::time::Duration::from_secs(10)));
    let started = std::time::Instant::now();
    assert_eq!(
        crate::helpers::failed(&login(&app, "sam", "Correct-Horse-7").await),
        3
    );
    // The 500 ms deadline, and not much more.
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(1000),
        "took {took:?}"
    );
}

/// Every error answer carries a `message` for people, in the language of
/// `Accept-Language` (English when it names neither of ours).
#[actix_web::test]
async fn an_error_answer_says_what_to_do_in_the_readers_language() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "nobody", "password": "Wrong-Horse-7"});
    for (accept_language, expected) in [
        (None, "Wrong username or password."),
        (Some("zh-CN,zh;q=0.9,en;q=0.8"), "用户名或密码错误。"),
        (Some("fr-FR"), "Wrong username or password."),
    ] {
        let mut request = app
            .client
            .post(format!("{}/trylogin_server", app.address))
            .json(&body);
        if let Some(header) = accept_language {
            request = request.header("Accept-Language", header);
        }
        let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(crate::helpers::failed(&answer), 13);
        assert_eq!(answer["message"], expected, "{accept_language:?}");
    }
    // A success carries no message: its fields are the old ones.
    let reset = app
        .call(
            "/check_accountexists",
            json!({"username": "x", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(crate::helpers::failed(&reset), 12);
}
