//! The site for people at `/` (`http.pages`): every page and asset with
//! its security headers, nothing when turned off, and the JSON endpoints
//! answering cross-site requests as before.

use serde_json::json;

use crate::helpers::TestApp;

const PAGES: [(&str, &str); 8] = [
    ("/", "text/html"),
    ("/register", "text/html"),
    ("/reset", "text/html"),
    ("/confirm", "text/html"),
    ("/check", "text/html"),
    ("/login", "text/html"),
    ("/assets/app.js", "text/javascript"),
    ("/assets/app.css", "text/css"),
];

#[actix_web::test]
async fn every_page_is_served_with_its_security_headers() {
    let app = TestApp::spawn().await;
    for (path, content_type) in PAGES {
        let response = app.request(reqwest::Method::GET, path).await;
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        let policy = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            // No native form submission: a password never goes into a URL.
            "form-action 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
    let head = app.request(reqwest::Method::HEAD, "/register").await;
    assert_eq!(head.status(), 200);
}

#[actix_web::test]
async fn turned_off_there_are_no_pages() {
    let app = TestApp::spawn_with(|settings| settings.http.pages = false).await;
    for (path, _) in PAGES {
        let response = app.request(reqwest::Method::GET, path).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    // The API is unchanged.
    let answer = app
        .call(
            "/check_accountexists",
            json!({"username": "x", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(answer["error"], 12);
}

/// No CORS: a page of another site may still send a request (as any client
/// can), but gets no permission to read the answer.
#[actix_web::test]
async fn cross_site_requests_are_answered_as_before_without_cors() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/check_accountexists", app.address))
        .header("Origin", "https://elsewhere.example")
        .header("Content-Type", "text/plain")
        .body(r#"{"username":"x","email":"x@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["error"], 12);
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/check_accountexists", app.address),
        )
        .header("Origin", "https://elsewhere.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
