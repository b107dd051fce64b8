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

/// The whole system (`all`) with a password on every backend and a gRPC
/// token, at trace level: no credential of a backend reaches the log, and
/// each request's access-log line has its fields.
#[actix_web::test]
async fn backend_credentials_never_reach_the_log_and_access_lines_are_complete() {
    use crate::backends::{OwnRedis, skip};
    use crate::helpers::{MysqlUser, TestDatabase, test_settings};

    const REDIS_PASSWORD: &str = "redis-Sekrit-pw-9";
    const MYSQL_PASSWORD: &str = "mysql-Sekrit-pw-8";
    const SMTP_PASSWORD: &str = "smtp-Sekrit-pw-7";
    const GRPC_TOKEN: &str = "grpc-Sekrit-tok-6";
    let Some(redis) = OwnRedis::start_with_password(REDIS_PASSWORD) else {
        return skip("redis-server");
    };
    let mut settings = test_settings();
    settings.verification.port = 0;
    settings.balance.port = 0;
    settings.redis.port = redis.port;
    settings.redis.password = REDIS_PASSWORD.to_owned().into();
    let database = settings.mysql.database.clone();
    let _database = TestDatabase::new(&settings);
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!("CREATE DATABASE `{database}`")),
        &mut crate::helpers::mysql_admin().await,
    )
    .await
    .unwrap();
    let account = format!("logs_{}", std::process::id());
    let _account = MysqlUser::create(account.clone(), MYSQL_PASSWORD, &database).await;
    settings.mysql.username = account;
    settings.mysql.password = MYSQL_PASSWORD.to_owned().into();

    let config = std::env::temp_dir().join(format!("{}.toml", crate::helpers::unique_name("logs")));
    std::fs::write(
        &config,
        "[[balance.chat_servers]]\nname = \"chat-1\"\nhost = \"127.0.0.1\"\nport = 8090\n",
    )
    .unwrap();
    let mut command = gateway_command(&settings);
    command
        .arg("--config")
        .arg(&config)
        .arg("all")
        .env("RUST_LOG", "trace")
        .env("GATEWAY_MAIL__USERNAME", "mailer")
        .env("GATEWAY_MAIL__PASSWORD", SMTP_PASSWORD)
        .env("GATEWAY_GRPC__AUTH_TOKEN", GRPC_TOKEN);
    let mut gateway = RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let client = reqwest::Client::new();
    let call = async |path: &str, body: serde_json::Value| {
        let url = format!("http://127.0.0.1:{port}{path}");
        crate::helpers::post_ok(&client, url, &body).await
    };
    assert_eq!(
        call("/get_verification", json!({"email": "lou@example.com"})).await["error"],
        0
    );
    let mut own_redis = redis::Client::open(format!(
        "redis://:{REDIS_PASSWORD}@127.0.0.1:{}",
        redis.port
    ))
    .unwrap()
    .get_multiplexed_async_connection()
    .await
    .unwrap();
    let key = format!("{}lou@example.com", settings.redis.key_prefix);
    let code: String = redis::AsyncCommands::get(&mut own_redis, key)
        .await
        .unwrap();
    let body = json!({"username": "lou", "email": "lou@example.com", "password": "Correct-Horse-7", "cpatcha": code});
    assert_eq!(call("/post_registration", body).await["error"], 0);
    let login = call(
        "/trylogin_server",
        json!({"username": "lou", "password": "Correct-Horse-7"}),
    )
    .await;
    assert_eq!(login["error"], 0, "{login}");
    let log = gateway.stop();
    std::fs::remove_file(config).unwrap();

    assert!(log.contains("TRACE"), "trace level was not enabled");
    for secret in [
        REDIS_PASSWORD,
        MYSQL_PASSWORD,
        SMTP_PASSWORD,
        GRPC_TOKEN,
        code.as_str(),
    ] {
        assert!(
            !log.contains(secret),
            "the log contains the secret {secret:?}"
        );
    }
    // peer, "method path", HTTP status, size in bytes, duration.
    let access = log
        .lines()
        .find(|line| line.contains("\"POST /post_registration\""))
        .unwrap_or_else(|| panic!("no access line:\n{log}"));
    let fields: Vec<&str> = access
        .split("\"POST /post_registration\"")
        .flat_map(|part| part.split_whitespace())
        .collect();
    let after: Vec<&str> = fields.iter().rev().take(3).rev().copied().collect();
    assert!(access.contains("127.0.0.1 \"POST"), "peer: {access}");
    assert_eq!(after[0], "200", "status: {access}");
    assert!(
        after[1].parse::<u64>().is_ok_and(|size| size > 10),
        "size: {access}"
    );
    assert!(
        after[2]
            .strip_suffix("ms")
            .is_some_and(|ms| ms.parse::<f64>().is_ok()),
        "duration: {access}"
    );
}

/// A backend that refuses connections is named as such on each failed
/// request's line (its cause once, as a warning), not as a timeout the
/// request never waited for.
#[actix_web::test]
async fn a_refusing_backend_is_logged_as_refusing_not_as_a_timeout() {
    let (mysql, redis) = (
        crate::peers::closed_port().await,
        crate::peers::closed_port().await,
    );
    let mut settings = crate::helpers::test_settings();
    settings.mysql.port = mysql;
    settings.mysql.run_migrations = false;
    settings.redis.port = redis;
    let mut command = crate::helpers::gateway_command(&settings);
    command
        .arg("serve")
        .env("GATEWAY_MYSQL__RUN_MIGRATIONS", "false");
    let mut gateway = crate::helpers::RunningBinary::start(command);
    let port = gateway.port_after("gateway listening on ");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let check = json!({"username": "u", "email": "u@example.com"});
    let checked = crate::helpers::post_ok(&client, url("/check_accountexists"), &check).await;
    assert_eq!(checked["error"], 10);
    let login = json!({"username": "u", "password": "Correct-Horse-7"});
    let logged_in = crate::helpers::post_ok(&client, url("/trylogin_server"), &login).await;
    assert_eq!(logged_in["error"], 8);
    let log = gateway.stop();
    assert!(
        log.contains("answering 10: the database does not accept connections"),
        "{log}"
    );
    assert!(log.contains("redis does not accept connections"), "{log}");
    assert!(!log.contains("did not answer within"), "{log}");
}
