//! `/post_registration`.

use futures_util::future::join_all;
use redis::AsyncCommands;
use serde_json::json;

use crate::helpers::{TestApp, account_body};

fn registration(username: &str, email: &str, code: &str) -> serde_json::Value {
    account_body(username, email, "Correct-Horse-7", code)
}

#[actix_web::test]
async fn a_registration_with_a_valid_code_creates_the_account() {
    let app = TestApp::spawn().await;
    let code = app.request_code("Bob@Example.com").await;
    let answer = app
        .call(
            "/post_registration",
            registration("bob", " BOB@example.COM", &code),
        )
        .await;
    assert_eq!(answer["error"], 0, "{answer}");
    assert_eq!(answer["username"], "bob");
    assert_eq!(answer["email"], "bob@example.com");
    let uuid = answer["uuid"].as_str().expect("uuid is a string");
    assert!(uuid.parse::<i32>().unwrap() > 0);
    assert!(
        answer.get("password").is_none(),
        "the password is never echoed"
    );

    let stored = app.stored_password("bob").await.unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert!(!stored.contains("Correct-Horse-7"));
    // The e-mail is stored normalised.
    let exists = app
        .call(
            "/check_accountexists",
            json!({"username": "bob", "email": "bob@example.com"}),
        )
        .await;
    assert_eq!(exists["error"], 0);
}

#[actix_web::test]
async fn the_code_field_may_be_spelled_captcha() {
    let app = TestApp::spawn().await;
    let code = app.request_code("c@example.com").await;
    let answer = app
        .call(
            "/post_registration",
            json!({"username": "carol", "email": "c@example.com", "password": "Correct-Horse-7", "captcha": code}),
        )
        .await;
    assert_eq!(answer["error"], 0, "{answer}");
}

#[actix_web::test]
async fn a_code_is_single_use() {
    let app = TestApp::spawn().await;
    let code = app.request_code("d@example.com").await;
    let first = app
        .call(
            "/post_registration",
            registration("dave", "d@example.com", &code),
        )
        .await;
    assert_eq!(first["error"], 0);
    assert_eq!(
        app.stored_code("d@example.com").await,
        None,
        "the code was consumed"
    );
    let again = app
        .call(
            "/post_registration",
            registration("dave2", "d@example.com", &code),
        )
        .await;
    assert_eq!(again["error"], 9, "{again}");
}

#[actix_web::test]
async fn a_wrong_missing_or_expired_code_is_status_9() {
    let app = TestApp::spawn().await;
    let none = app
        .call(
            "/post_registration",
            registration("erin", "e@example.com", "1234"),
        )
        .await;
    assert_eq!(none["error"], 9, "no code was ever issued: {none}");

    let code = app.request_code("e@example.com").await;
    let wrong = app
        .call(
            "/post_registration",
            registration("erin", "e@example.com", &format!("{code}x")),
        )
        .await;
    assert_eq!(wrong["error"], 9, "{wrong}");

    let mut redis = app.redis().await;
    let _: () = redis
        .pset_ex(app.code_key("e@example.com"), &code, 50)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let expired = app
        .call(
            "/post_registration",
            registration("erin", "e@example.com", &code),
        )
        .await;
    assert_eq!(expired["error"], 9, "{expired}");
    assert_eq!(app.stored_password("erin").await, None);
}

#[actix_web::test]
async fn a_taken_name_or_address_is_status_26_and_the_code_stays_usable() {
    let app = TestApp::spawn().await;
    app.register("frank", "f@example.com", "Correct-Horse-7")
        .await;

    let code = app.request_code("g@example.com").await;
    let taken_name = app
        .call(
            "/post_registration",
            registration("frank", "g@example.com", &code),
        )
        .await;
    assert_eq!(taken_name["error"], 26, "{taken_name}");
    // The failed registration gave the code back, with its lifetime.
    assert_eq!(
        app.stored_code("g@example.com").await.as_deref(),
        Some(code.as_str())
    );
    let ttl: i64 = app
        .redis()
        .await
        .ttl(app.code_key("g@example.com"))
        .await
        .unwrap();
    assert!((1..=180).contains(&ttl), "ttl {ttl}");
    let retried = app
        .call(
            "/post_registration",
            registration("grace", "g@example.com", &code),
        )
        .await;
    assert_eq!(retried["error"], 0, "{retried}");

    let code = app.request_code("F@example.com").await;
    let taken_email = app
        .call(
            "/post_registration",
            registration("henry", "f@example.com", &code),
        )
        .await;
    assert_eq!(taken_email["error"], 26, "{taken_email}");
}

#[actix_web::test]
async fn sixteen_racing_registrations_of_one_name_make_exactly_one_account() {
    let app = TestApp::spawn().await;
    let mut bodies = Vec::new();
    for i in 0..16 {
        let email = format!("racer{i}@example.com");
        let code = app.request_code(&email).await;
        bodies.push(registration("winner", &email, &code));
    }
    let answers = join_all(bodies.into_iter().map(|body| {
        let app = &app;
        async move {
            app.call("/post_registration", body).await["error"]
                .as_i64()
                .unwrap()
        }
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|&&e| e == 0).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|&&e| e == 26).count(),
        15,
        "{answers:?}"
    );

    use diesel::QueryDsl;
    use diesel_async::RunQueryDsl;
    use gateway_server::db::schema::{Authentication, UserProfile};
    let mut db = app.db().await;
    let accounts: i64 = Authentication::table
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    let profiles: i64 = UserProfile::table
        .count()
        .get_result(&mut db)
        .await
        .unwrap();
    assert_eq!((accounts, profiles), (1, 1));
}

#[actix_web::test]
async fn unacceptable_values_are_status_25() {
    let app = TestApp::spawn().await;
    let code = app.request_code("i@example.com").await;
    let long_name = "n".repeat(51);
    let long_code = "c".repeat(65);
    let cases = [
        json!({"username": "", "email": "i@example.com", "password": "Correct-Horse-7", "cpatcha": code}),
        json!({"username": long_name, "email": "i@example.com", "password": "Correct-Horse-7", "cpatcha": code}),
        json!({"username": "a\u{1}b", "email": "i@example.com", "password": "Correct-Horse-7", "cpatcha": code}),
        json!({"username": "ivy", "email": "not-an-address", "password": "Correct-Horse-7", "cpatcha": code}),
        json!({"username": "ivy", "email": "i@example.com", "password": "Short7", "cpatcha": code}),
        json!({"username": "ivy", "email": "i@example.com", "password": "x".repeat(129), "cpatcha": code}),
        json!({"username": "ivy", "email": "i@example.com", "password": "Correct-Horse-7", "cpatcha": ""}),
        json!({"username": "ivy", "email": "i@example.com", "password": "Correct-Horse-7", "cpatcha": long_code}),
    ];
    for body in cases {
        let answer = app.call("/post_registration", body.clone()).await;
        assert_eq!(answer["error"], 25, "{body}: {answer}");
    }
    // None of them consumed the code.
    assert_eq!(
        app.stored_code("i@example.com").await.as_deref(),
        Some(code.as_str())
    );
}

#[actix_web::test]
async fn missing_or_mistyped_fields_are_status_1() {
    let app = TestApp::spawn().await;
    let cases = [
        json!({"username": "jo", "email": "j@example.com", "password": "Correct-Horse-7"}),
        json!({"username": "jo", "email": "j@example.com", "cpatcha": "1234"}),
        json!({"username": 7, "email": "j@example.com", "password": "Correct-Horse-7", "cpatcha": "1234"}),
        json!({"username": "jo", "email": "j@example.com", "password": "Correct-Horse-7", "cpatcha": 1234}),
    ];
    for body in cases {
        let answer = app.call("/post_registration", body.clone()).await;
        assert_eq!(answer["error"], 1, "{body}: {answer}");
    }
}
