//! The whole system in one process (`gateway-server all`), driven through
//! the HTTP gateway as a client would: a code mailed over real SMTP,
//! registration, login through the real balance service.

use serde_json::{Value, json};

use crate::balance_service::server;
use crate::helpers::{
    RunningBinary, TestDatabase, TestKeys, gateway_command, redis_connection, test_settings,
};
use crate::smtp::{SmtpSink, code_in};
use gateway_server::config::Settings;
use gateway_server::grpc::proto::balancer_service_client::BalancerServiceClient;
use redis::AsyncCommands;

/// `gateway-server all` on free ports, mailing through an SMTP sink.
pub struct System {
    settings: Settings,
    pub gateway: u16,
    pub verification: u16,
    pub balance: u16,
    pub sink: SmtpSink,
    client: reqwest::Client,
    pub binary: RunningBinary,
    _database: TestDatabase,
    _keys: TestKeys,
}

impl System {
    pub async fn start() -> System {
        Self::start_with(&[]).await
    }

    /// Like `start`, with `variables` added to the binary's environment.
    pub async fn start_with(variables: &[(&str, String)]) -> System {
        let sink = SmtpSink::start().await;
        let mut settings = test_settings();
        settings.verification.port = 0;
        settings.balance.port = 0;
        let database = TestDatabase::new(&settings);
        let keys = TestKeys::new(&settings);
        let mut command = gateway_command(&settings);
        command
            .arg("all")
            .env("GATEWAY_MAIL__TRANSPORT", "smtp")
            .env("GATEWAY_MAIL__HOST", "127.0.0.1")
            .env("GATEWAY_MAIL__PORT", sink.port.to_string())
            .env("GATEWAY_MAIL__TLS", "none");
        for (name, value) in variables {
            command.env(name, value);
        }
        let mut binary = RunningBinary::start(command);
        let verification = binary.port_after("verification service listening on ");
        let balance = binary.port_after("balance service listening on ");
        let gateway = binary.port_after("gateway listening on ");
        System {
            settings,
            gateway,
            verification,
            balance,
            sink,
            client: reqwest::Client::new(),
            binary,
            _database: database,
            _keys: keys,
        }
    }

    pub async fn call(&self, path: &str, body: Value) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.gateway);
        crate::helpers::post_ok(&self.client, url, &body).await
    }

    async fn balancer(&self) -> BalancerServiceClient<tonic::transport::Channel> {
        BalancerServiceClient::connect(format!("http://127.0.0.1:{}", self.balance))
            .await
            .unwrap()
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis_connection().await
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.settings.redis.key_prefix)
    }

    pub fn key_prefix(&self) -> &str {
        &self.settings.redis.key_prefix
    }

    /// Registers a chat server with the system's balance service.
    pub async fn register_chat_server(&self, name: &str, port: &str) {
        let reply = self
            .balancer()
            .await
            .register_chatting_server_instance(server(name, port))
            .await
            .unwrap();
        assert_eq!(reply.into_inner().error, 0, "{name} registered");
    }
}

#[actix_web::test]
async fn a_user_registers_with_a_mailed_code_and_logs_in_to_the_least_loaded_server() {
    let system = System::start().await;
    let mut balancer = system.balancer().await;
    for (name, port) in [("chat-a", "8100"), ("chat-b", "8200"), ("chat-c", "8300")] {
        let reply = balancer
            .register_chatting_server_instance(server(name, port))
            .await
            .unwrap();
        assert_eq!(reply.into_inner().error, 0);
    }
    let mut redis = system.redis().await;
    let counts = system.key("redis_server");
    let _: () = redis.hset(&counts, "chat-a", 12).await.unwrap();
    let _: () = redis.hset(&counts, "chat-b", 3).await.unwrap();

    let issued = system
        .call("/get_verification", json!({"email": "Ada@Example.com"}))
        .await;
    assert_eq!(issued["error"], 0, "{issued}");
    assert_eq!(issued["email"], "ada@example.com");
    assert_eq!(issued["retry_after_secs"], 60, "the resend cooldown");
    let code = code_in(&system.sink.message_to("ada@example.com").await);

    let registered = system
        .call(
            "/post_registration",
            json!({"username": "ada", "email": "ada@example.com", "password": "Analytical-Engine-1", "cpatcha": code}),
        )
        .await;
    assert_eq!(registered["error"], 0, "{registered}");
    let uuid = registered["uuid"].as_str().unwrap().to_owned();

    let login = system
        .call(
            "/trylogin_server",
            json!({"username": "ada", "password": "Analytical-Engine-1"}),
        )
        .await;
    assert_eq!(login["error"], 0, "{login}");
    assert_eq!(login["uuid"], uuid.as_str());
    assert_eq!(
        (login["host"].as_str(), login["port"].as_str()),
        (Some("127.0.0.1"), Some("8200"))
    );
    let stored: String = redis
        .get(system.key(&format!("user_token_{uuid}")))
        .await
        .unwrap();
    assert_eq!(login["token"], stored.as_str());

    // The token is reused on the next login, and chat servers accept it.
    let again = system
        .call(
            "/trylogin_server",
            json!({"username": "ada", "password": "Analytical-Engine-1"}),
        )
        .await;
    assert_eq!(again["token"], stored.as_str());
    let check = balancer
        .user_login_to_server(gateway_server::grpc::proto::LoginChattingServer {
            uuid: uuid.parse().unwrap(),
            token: stored,
        })
        .await
        .unwrap();
    assert_eq!(check.into_inner().error, 0);
}

#[actix_web::test]
async fn without_a_chat_server_login_answers_6() {
    let system = System::start().await;
    system
        .call("/get_verification", json!({"email": "bo@example.com"}))
        .await;
    let code = code_in(&system.sink.message_to("bo@example.com").await);
    let registered = system
        .call(
            "/post_registration",
            json!({"username": "bo", "email": "bo@example.com", "password": "Correct-Horse-7", "captcha": code}),
        )
        .await;
    assert_eq!(registered["error"], 0);
    let login = system
        .call(
            "/trylogin_server",
            json!({"username": "bo", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(crate::helpers::failed(&login), 6);
}

/// Asking again inside the cooldown is answered 0 ("a code has been sent",
/// which is true): no new code, no new mail, and when a new one can be
/// sent. The same once that code is used: the answer tells nobody whether
/// someone registered or reset with it.
#[actix_web::test]
async fn a_second_request_inside_the_cooldown_is_the_first_code_again() {
    let system = System::start().await;
    let email = "cy@example.com";
    let first = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(first["error"], 0);
    let cooldown = first["retry_after_secs"]
        .as_u64()
        .expect("retry_after_secs");
    assert!((59..=60).contains(&cooldown), "{first}");
    let code: String = system.redis().await.get(system.key(email)).await.unwrap();
    code_in(&system.sink.message_to(email).await);
    let second = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(second["error"], 0, "{second}");
    assert_eq!(second["email"], email);
    let left = second["retry_after_secs"]
        .as_u64()
        .expect("retry_after_secs");
    assert!((1..=cooldown).contains(&left), "{second}");
    let still: String = system.redis().await.get(system.key(email)).await.unwrap();
    assert_eq!(still, code, "no new code");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mails = system
        .sink
        .messages()
        .into_iter()
        .filter(|m| m.contains(email))
        .count();
    assert_eq!(mails, 1, "no second mail");
    // The code is used: the answer inside the cooldown is the same.
    let registered = system
        .call(
            "/post_registration",
            json!({"username": "cy", "email": email, "password": "Correct-Horse-7", "cpatcha": code}),
        )
        .await;
    assert_eq!(registered["error"], 0, "{registered}");
    let third = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(third["error"], 0, "{third}");
    assert!(third["retry_after_secs"].as_u64().is_some(), "{third}");
}

#[actix_web::test]
async fn a_failed_mail_answers_3_and_leaves_no_code() {
    let system = System::start().await;
    system.sink.refuse_mail(true);
    let answer = system
        .call("/get_verification", json!({"email": "di@example.com"}))
        .await;
    assert_eq!(crate::helpers::failed(&answer), 3);
    let mut redis = system.redis().await;
    let code: Option<String> = redis.get(system.key("di@example.com")).await.unwrap();
    assert_eq!(code, None);
}

/// The verification mail: text and HTML, subject and both parts in the
/// language the request asks for (`locale`, else `Accept-Language`, else
/// `mail.default_locale`), each with the code and how long it is valid.
#[actix_web::test]
async fn the_mail_is_multipart_in_the_language_asked_for() {
    let system = System::start_with(&[("GATEWAY_VERIFICATION__CODE_TTL_SECS", "300".into())]).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/get_verification", system.gateway);
    for (email, locale, accept_language, subject, validity) in [
        (
            "zh@example.com",
            Some("zh-CN"),
            None,
            "您的验证码",
            "5 分钟内有效",
        ),
        (
            "zh2@example.com",
            None,
            Some("zh-CN,zh;q=0.9"),
            "您的验证码",
            "5 分钟内有效",
        ),
        (
            "en@example.com",
            None,
            None,
            "Your verification code",
            "valid for 5 minutes",
        ),
    ] {
        let mut body = json!({"email": email});
        if let Some(locale) = locale {
            body["locale"] = json!(locale);
        }
        let mut request = client.post(&url).json(&body);
        if let Some(header) = accept_language {
            request = request.header("Accept-Language", header);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["error"], 0, "{email}");
        let raw = system.sink.message_to(email).await;
        let code: String = system.redis().await.get(system.key(email)).await.unwrap();
        let mail = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a mail");
        assert_eq!(mail.subject(), Some(subject), "{email}");
        assert_eq!(
            (mail.text_body_count(), mail.html_body_count()),
            (1, 1),
            "{email}"
        );
        let text = mail.body_text(0).unwrap();
        let html = mail.body_html(0).unwrap();
        for part in [&text, &html] {
            assert!(part.contains(&code), "{email}: {part}");
            assert!(part.contains(validity), "{email}: {part}");
        }
        assert!(html.contains("<html"), "{email}");
    }
}

/// A mail template that does not parse stops the verification service at
/// start, naming the file, instead of failing mails later.
#[actix_web::test]
async fn a_broken_mail_template_stops_start_up_naming_its_file() {
    let dir = std::env::temp_dir().join(crate::helpers::unique_name("templates"));
    std::fs::create_dir_all(dir.join("zh-CN")).unwrap();
    std::fs::write(dir.join("zh-CN/text.txt"), "验证码 {{ code ").unwrap();
    let mut settings = test_settings();
    settings.verification.port = 0;
    let mut command = gateway_command(&settings);
    command
        .arg("verification")
        .env("GATEWAY_MAIL__TEMPLATES_DIR", &dir);
    let output = command.output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("zh-CN/text.txt"), "{log}");
    std::fs::remove_dir_all(dir).unwrap();
}
