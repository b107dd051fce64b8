//! `/get_verification`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestApp;
use crate::peers::{Behaviour, closed_port};

#[actix_web::test]
async fn a_code_is_issued_for_the_normalised_address() {
    let app = TestApp::spawn().await;
    let answer = app
        .call(
            "/get_verification",
            json!({"email": "  Alice.Doe@Example.COM "}),
        )
        .await;
    assert_eq!(
        answer,
        json!({"error": 0, "email": "alice.doe@example.com"})
    );
    // The peer was asked for, and stored the code at, the normalised address.
    assert_eq!(app.verification.requests(), ["alice.doe@example.com"]);
    assert!(app.stored_code("alice.doe@example.com").await.is_some());
}

#[actix_web::test]
async fn a_bad_address_is_status_25_and_never_reaches_the_service() {
    let app = TestApp::spawn().await;
    for email in [
        "",
        "no-at-sign",
        "a@b",
        &format!("{}@example.com", "a".repeat(95)),
    ] {
        let answer = app
            .call("/get_verification", json!({ "email": email }))
            .await;
        assert_eq!(answer["error"], 25, "{email:?}: {answer}");
    }
    assert!(app.verification.requests().is_empty());
}

#[actix_web::test]
async fn a_missing_or_mistyped_email_is_status_1() {
    let app = TestApp::spawn().await;
    for body in [
        json!({}),
        json!({"email": 42}),
        json!({"email": null}),
        json!(["a@b.co"]),
    ] {
        let answer = app.call("/get_verification", body.clone()).await;
        assert_eq!(answer["error"], 1, "{body}: {answer}");
    }
}

#[actix_web::test]
async fn the_original_services_answers_are_mapped() {
    let app = TestApp::spawn().await;
    // 1 = the service's Redis failed → 8; 2 = anything else → 3; 27 = ours
    // "too soon": a code was sent moments ago → 0 (no new mail); a code we
    // do not know (28, 99, -5) is never passed through → 3.
    for (peer, gateway) in [(1, 8), (2, 3), (27, 0), (28, 3), (99, 3), (-5, 3)] {
        app.verification.behave(Behaviour::Answer(peer));
        let answer = app
            .call("/get_verification", json!({"email": "a@b.co"}))
            .await;
        assert_eq!(answer["error"], gateway, "peer answered {peer}: {answer}");
    }
}

#[actix_web::test]
async fn a_service_that_is_down_is_status_3() {
    let port = closed_port().await;
    let app = TestApp::spawn_with(|settings| settings.verification.port = port).await;
    let answer = app
        .call("/get_verification", json!({"email": "a@b.co"}))
        .await;
    assert_eq!(answer["error"], 3, "{answer}");
}

#[actix_web::test]
async fn a_hanging_service_is_status_3_within_the_deadline() {
    let app = TestApp::spawn_with(|settings| settings.grpc.timeout_ms = 500).await;
    app.verification
        .behave(Behaviour::Hang(Duration::from_secs(10)));
    let started = Instant::now();
    let answer = app
        .call("/get_verification", json!({"email": "a@b.co"}))
        .await;
    assert_eq!(answer["error"], 3, "{answer}");
    // The 500 ms deadline, and not much more.
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        started.elapsed()
    );
}

/// The mail's language reaches the verification service: the body's
/// `locale`, else the first of ours in `Accept-Language`, else nothing (the
/// service's default); unknown names fall through.
#[actix_web::test]
async fn the_mails_language_comes_from_the_body_then_accept_language() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"email": "l1@example.com", "locale": "zh-CN"}),
            None,
            "zh-CN",
        ),
        (
            json!({"email": "l2@example.com", "locale": "zh-hans"}),
            Some("en"),
            "zh-CN",
        ),
        (
            json!({"email": "l3@example.com"}),
            Some("fr-FR, zh;q=0.8, en;q=0.5"),
            "zh-CN",
        ),
        (
            json!({"email": "l4@example.com", "locale": "fr"}),
            Some("en-GB"),
            "en",
        ),
        (
            json!({"email": "l5@example.com", "locale": "zh-TW"}),
            None,
            "",
        ),
        (json!({"email": "l6@example.com"}), None, ""),
    ];
    for (body, accept_language, _) in &cases {
        let mut request = app
            .client
            .post(format!("{}/get_verification", app.address))
            .json(body);
        if let Some(header) = accept_language {
            request = request.header("Accept-Language", *header);
        }
        let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["error"], 0, "{body}");
    }
    let expected: Vec<&str> = cases.iter().map(|case| case.2).collect();
    assert_eq!(app.verification.locales(), expected);
    // Not a string: ignored, as any unknown field was before it existed.
    let answer = app
        .call(
            "/get_verification",
            json!({"email": "l7@example.com", "locale": 7}),
        )
        .await;
    assert_eq!(answer["error"], 0);
    let sent = app.verification.locales();
    assert_eq!(sent.last().map(String::as_str), Some(""));
}
