//! HTTP-level rules of docs/PROTOCOL.md §1 that old clients depend on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ENDPOINTS, TestApp};

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    request.send().await.unwrap()
}

#[actix_web::test]
async fn json_is_accepted_with_any_of_the_old_content_types() {
    let app = TestApp::spawn().await;
    let body = r#"{"username":"nobody","email":"n@example.com"}"#;
    for content_type in [Some("application/json"), Some("text/json"), None] {
        let response = post_raw(&app, "/check_accountexists", content_type, body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{content_type:?}"
        );
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"], 12, "{content_type:?}: {json}");
    }
}

#[actix_web::test]
async fn bodies_that_are_not_json_objects_are_status_1() {
    let app = TestApp::spawn().await;
    for path in ENDPOINTS {
        for body in ["", "not json", "[]", "42", "{\"email\":", "null"] {
            let response = post_raw(&app, path, Some("application/json"), body).await;
            assert_eq!(response.status(), 200, "{path} {body:?}");
            let json: Value = response.json().await.unwrap();
            assert_eq!(crate::helpers::failed(&json), 1, "{path} {body:?}");
        }
    }
}

#[actix_web::test]
async fn unknown_paths_are_a_plain_404_and_other_methods_are_refused() {
    let app = TestApp::spawn().await;
    let response = post_raw(&app, "/no_such_endpoint", None, "{}").await;
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let response = app.request(reqwest::Method::GET, "/trylogin_server").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let response = app.request(reqwest::Method::DELETE, "/healthz").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    // Load balancers probe with HEAD too.
    for path in ["/healthz", "/readyz"] {
        let response = app.request(reqwest::Method::HEAD, path).await;
        assert_eq!(response.status(), 200, "HEAD {path}");
    }
}

#[actix_web::test]
async fn an_oversized_body_is_refused() {
    let app = TestApp::spawn_with(|settings| settings.http.max_body_bytes = 1024).await;
    let body = json!({"email": format!("{}@example.com", "a".repeat(4000))}).to_string();
    let response = post_raw(&app, "/get_verification", Some("application/json"), &body).await;
    assert_eq!(response.status(), 413, "as the README promises");
}

#[actix_web::test]
async fn an_oversized_chunked_body_without_a_length_is_refused() {
    let app = TestApp::spawn_with(|settings| settings.http.max_body_bytes = 1024).await;
    // 4 KiB in chunks, no Content-Length: refused once it passes 1 KiB.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512]));
    let response = app
        .client
        .post(format!("{}/get_verification", app.address))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413, "a chunked body over the limit");
}

/// Sends one raw HTTP/1.1 request; answers the whole response text and
/// whether the server closed the connection afterwards.
fn raw_exchange(port: u16, connection: &str) -> (String, bool) {
    let body = r#"{"username":"nobody","email":"n@example.com"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    write!(
        stream,
        "POST /check_accountexists HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Connection: {connection}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => {
                received.extend_from_slice(&buffer[..n]);
                if connection == "keep-alive" && received.ends_with(b"}") {
                    break false;
                }
            }
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

#[actix_web::test]
async fn short_connections_are_closed_and_keep_alive_ones_kept() {
    let app = TestApp::spawn().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let (short, closed) = tokio::task::spawn_blocking(move || raw_exchange(port, "close"))
        .await
        .unwrap();
    assert!(short.starts_with("HTTP/1.1 200"), "{short}");
    assert!(
        short.ends_with(
            r#"{"error":12,"message":"No account has this username and e-mail address."}"#
        ),
        "{short}"
    );
    assert!(closed, "the server closes a `Connection: close` exchange");

    let (kept, closed) = tokio::task::spawn_blocking(move || raw_exchange(port, "keep-alive"))
        .await
        .unwrap();
    assert!(kept.starts_with("HTTP/1.1 200"), "{kept}");
    assert!(!closed, "a keep-alive connection stays open");
}

#[actix_web::test]
async fn uuid_and_port_are_strings() {
    let app = TestApp::spawn().await;
    app.register("tia", "t@example.com", "Correct-Horse-7")
        .await;
    let answer = app
        .call(
            "/trylogin_server",
            json!({"username": "tia", "password": "Correct-Horse-7"}),
        )
        .await;
    assert!(answer["uuid"].is_string(), "{answer}");
    assert!(answer["port"].is_string(), "{answer}");
}
