//! No password, code or token reaches a log line, at any level: the real
//! binary runs a whole user journey with `RUST_LOG=trace` and its output is
//! searched.

use serde_json::json;

use crate::helpers::{BinaryFixture, RunningBinary, gateway_command, redis_connection};
use crate::peers::token_for;

#[actix_web::test]
async fn secrets_never_reach_the_log_even_at_trace_level() {
    let fixture = BinaryFixture::start().await;
    let settings = &fixture.settings;

    let mut command = gateway_command(settings);
    command.arg("serve").env("RUST_LOG", "trace");
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");

    let client = reqwest::Client::new();
    let call = |path: &'static str, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("http://127.0.0.1:{port}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let redis = redis_connection().await;
    let key = format!("{}{}", settings.redis.key_prefix, "zoe@example.com");
    let code = || {
        let key = key.clone();
        let mut redis = redis.clone();
        async move {
            let answer = call("/get_verification", json!({"email": "zoe@example.com"})).await;
            assert_eq!(answer["error"], 0, "{answer}");
            redis::AsyncCommands::get::<_, String>(&mut redis, key)
                .await
                .unwrap()
        }
    };

    let first_password = "Sekrit-First-Pw-1";
    let second_password = "Sekrit-Second-Pw-2";
    let wrong_password = "Sekrit-Wrong-Pw-3";
    let first_code = code().await;
    let registered = call(
        "/post_registration",
        json!({"username": "zoe", "email": "zoe@example.com", "password": first_password, "cpatcha": first_code}),
    )
    .await;
    assert_eq!(registered["error"], 0, "{registered}");
    let uuid: i32 = registered["uuid"].as_str().unwrap().parse().unwrap();
    let wrong = call(
        "/trylogin_server",
        json!({"username": "zoe", "password": wrong_password}),
    )
    .await;
    assert_eq!(wrong["error"], 13);
    let login = call(
        "/trylogin_server",
        json!({"username": "zoe", "password": first_password}),
    )
    .await;
    assert_eq!(login["token"], token_for(uuid));
    let second_code = code().await;
    let reset = call(
        "/reset_password",
        json!({"username": "zoe", "email": "zoe@example.com", "password": second_password, "cpatcha": second_code}),
    )
    .await;
    assert_eq!(reset["error"], 0, "{reset}");
    let reused = call(
        "/post_registration",
        json!({"username": "zoe2", "email": "zoe@example.com", "password": second_password, "cpatcha": second_code}),
    )
    .await;
    assert_eq!(reused["error"], 9);
    // A password or a code sent as a JSON number: serde's own message would
    // quote the value.
    let numeric_password = 424_242_424_u64;
    let numeric_code = 987_654_321_u64;
    let mistyped = call(
        "/trylogin_server",
        json!({"username": "zoe", "password": numeric_password}),
    )
    .await;
    assert_eq!(mistyped["error"], 1);
    let mistyped = call(
        "/reset_password",
        json!({"username": "zoe", "email": "zoe@example.com", "password": second_password, "cpatcha": numeric_code}),
    )
    .await;
    assert_eq!(mistyped["error"], 1);

    let log = gateway.stop();
    // The malformed bodies are logged by field, kind and position.
    assert!(
        log.contains("field `password`: invalid type at line 1 column"),
        "{log}"
    );

    // The capture works: the access log of every request is there.
    assert!(
        log.contains("\"POST /post_registration\" 200"),
        "no access log captured:\n{log}"
    );
    assert!(log.contains("\"POST /reset_password\" 200"));
    assert!(log.contains("TRACE"), "trace level was not enabled");
    for secret in [
        first_password,
        second_password,
        wrong_password,
        first_code.as_str(),
        second_code.as_str(),
        token_for(uuid).as_str(),
        &numeric_password.to_string(),
        &numeric_code.to_string(),
    ] {
        assert!(
            !log.contains(secret),
            "the log contains the secret {secret:?}"
        );
    }
}
