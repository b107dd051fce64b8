//! `/check_accountexists` and `/reset_password`.

use serde_json::json;

use crate::helpers::{TestApp, account_body};

#[actix_web::test]
async fn an_account_exists_only_with_its_own_name_and_address() {
    let app = TestApp::spawn().await;
    app.register("kim", "k@example.com", "Correct-Horse-7")
        .await;
    app.register("lee", "l@example.com", "Correct-Horse-7")
        .await;

    let found = app
        .call(
            "/check_accountexists",
            json!({"username": "kim", "email": " K@Example.com"}),
        )
        .await;
    assert_eq!(
        found,
        json!({"error": 0, "username": "kim", "email": "k@example.com"})
    );

    for (username, email) in [
        ("kim", "l@example.com"),
        ("nobody", "k@example.com"),
        ("x", "x@example.com"),
    ] {
        let answer = app
            .call(
                "/check_accountexists",
                json!({"username": username, "email": email}),
            )
            .await;
        assert_eq!(answer["error"], 12, "{username} {email}: {answer}");
    }
}

#[actix_web::test]
async fn check_refuses_malformed_and_invalid_input() {
    let app = TestApp::spawn().await;
    let missing = app
        .call("/check_accountexists", json!({"username": "kim"}))
        .await;
    assert_eq!(missing["error"], 1);
    let invalid = app
        .call(
            "/check_accountexists",
            json!({"username": "kim", "email": "nope"}),
        )
        .await;
    assert_eq!(invalid["error"], 25);
}

#[actix_web::test]
async fn a_reset_with_a_valid_code_changes_the_password() {
    let app = TestApp::spawn().await;
    app.register("mia", "m@example.com", "Old-Password-1").await;
    let code = app.request_code("m@example.com").await;
    let answer = app
        .call(
            "/reset_password",
            account_body("mia", "M@example.com", "New-Password-2", &code),
        )
        .await;
    assert_eq!(answer, json!({"error": 0}));
    assert_eq!(app.login_status("mia", "Old-Password-1").await, 13);
    assert_eq!(app.login_status("mia", "New-Password-2").await, 0);
    assert!(
        app.stored_password("mia")
            .await
            .unwrap()
            .starts_with("$argon2id$")
    );
    // Single use: the same code cannot reset again.
    let again = app
        .call(
            "/reset_password",
            account_body("mia", "m@example.com", "Third-Password-3", &code),
        )
        .await;
    assert_eq!(again["error"], 9, "{again}");
}

/// Without a code nothing changes: the owner would have to confirm by
/// mail. This verification service is an old one (no `SendAccountNotice`):
/// the reset it cannot mail is withdrawn, nothing stays pending.
#[actix_web::test]
async fn a_reset_needs_a_code_or_the_owners_confirmation() {
    let app = TestApp::spawn().await;
    app.register("ned", "n@example.com", "Old-Password-1").await;
    // The old gateway's request shape, without a code (or an empty one).
    for code in [None, Some("")] {
        let mut body =
            json!({"username": "ned", "email": "n@example.com", "password": "Hijacked-Pw-9"});
        if let Some(code) = code {
            body["cpatcha"] = json!(code);
        }
        let without = app.call("/reset_password", body).await;
        assert_eq!(crate::helpers::failed(&without), 28, "{without}");
        let mut redis = app.redis().await;
        let prefix = &app.settings.redis.key_prefix;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}pending_reset:*"))
                .query_async(&mut redis)
                .await
                .unwrap();
            let cooldown: Option<String> = redis::AsyncCommands::get(
                &mut redis,
                format!("{{{prefix}n@example.com}}:reset_mail"),
            )
            .await
            .unwrap();
            if left.is_empty() && cooldown.is_none() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{left:?} {cooldown:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let wrong = app
        .call(
            "/reset_password",
            account_body("ned", "n@example.com", "Hijacked-Pw-9", "0000"),
        )
        .await;
    assert_eq!(wrong["error"], 9, "{wrong}");
    assert_eq!(app.login_status("ned", "Old-Password-1").await, 0);
}

#[actix_web::test]
async fn a_reset_of_an_unknown_account_is_status_12_and_keeps_the_code() {
    let app = TestApp::spawn().await;
    app.register("olga", "o@example.com", "Old-Password-1")
        .await;
    let code = app.request_code("o@example.com").await;
    let answer = app
        .call(
            "/reset_password",
            account_body("not-olga", "o@example.com", "New-Password-2", &code),
        )
        .await;
    assert_eq!(answer["error"], 12, "{answer}");
    assert_eq!(
        app.stored_code("o@example.com").await.as_deref(),
        Some(code.as_str())
    );
    let invalid = app
        .call(
            "/reset_password",
            account_body("olga", "o@example.com", "short", &code),
        )
        .await;
    assert_eq!(invalid["error"], 25, "{invalid}");
}
