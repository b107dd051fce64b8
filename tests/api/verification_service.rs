//! `gateway-server verification` at the gRPC level, against real Redis and
//! a real SMTP conversation.

use std::time::Duration;

use gateway_server::config::{MailTls, MailTransport, Settings};
use gateway_server::grpc::proto::GetVerificationRequest;
use gateway_server::grpc::proto::verification_service_client::VerificationServiceClient;
use gateway_server::services::{self, verification::VerificationServer};
use redis::AsyncCommands;
use tonic::transport::Channel;

use crate::helpers::{RunningBinary, TestKeys, gateway_command, redis_connection, test_settings};
use crate::peers::closed_port;
use crate::smtp::{SinkTls, SmtpSink, code_in};

/// `gateway-server verification` on a free port, and a client of it.
pub struct Verification {
    client: VerificationServiceClient<Channel>,
    settings: Settings,
    _keys: TestKeys,
}

impl Verification {
    /// Asks for a code for `email`; answers the error and the address.
    pub async fn ask(&mut self, email: &str) -> (i32, String) {
        let reply = self
            .client
            .get_verification_code(GetVerificationRequest {
                email: email.into(),
                ..Default::default()
            })
            .await
            .expect("the service answers")
            .into_inner();
        (reply.error, reply.email)
    }

    async fn stored(&self, email: &str) -> (Option<String>, i64) {
        let key = format!("{}{email}", self.settings.redis.key_prefix);
        let mut redis = redis_connection().await;
        let code: Option<String> = redis.get(&key).await.unwrap();
        let ttl: i64 = redis.ttl(&key).await.unwrap();
        (code, ttl)
    }
}

fn smtp_settings(sink: &SmtpSink) -> Settings {
    let mut settings = test_settings();
    settings.mail.transport = MailTransport::Smtp;
    settings.mail.host = "127.0.0.1".into();
    settings.mail.port = sink.port;
    settings.mail.tls = MailTls::None;
    settings
}

pub async fn start(settings: Settings) -> Verification {
    let keys = TestKeys::new(&settings);
    let service = VerificationServer::new(&settings).expect("valid settings");
    let listener = services::bind("127.0.0.1", 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(services::serve_verification(
        service,
        listener,
        std::future::pending(),
    ));
    let client = VerificationServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    Verification {
        client,
        settings,
        _keys: keys,
    }
}

#[tokio::test]
async fn a_six_digit_code_is_stored_at_the_address_and_mailed() {
    let sink = SmtpSink::start().await;
    let mut service = start(smtp_settings(&sink)).await;
    let (error, email) = service.ask(" Una@Example.COM ").await;
    assert_eq!((error, email.as_str()), (0, "una@example.com"));

    let (stored, ttl) = service.stored("una@example.com").await;
    let stored = stored.expect("the code is stored at key = the e-mail");
    assert!(
        stored.len() == 6 && stored.bytes().all(|b| b.is_ascii_digit()),
        "{stored}"
    );
    assert!((170..=180).contains(&ttl), "ttl {ttl}");

    let mail = sink.message_to("una@example.com").await;
    assert_eq!(code_in(&mail), stored);
    assert!(mail.contains("valid for 3 minutes"), "{mail}");
    assert!(mail.contains("Subject: Your verification code"), "{mail}");
}

#[tokio::test]
async fn the_code_lifetime_is_a_setting() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.verification.code_ttl_secs = 30;
    let mut service = start(settings).await;
    assert_eq!(service.ask("vera@example.com").await.0, 0);
    let (_, ttl) = service.stored("vera@example.com").await;
    assert!((25..=30).contains(&ttl), "ttl {ttl}");
    assert!(
        sink.message_to("vera@example.com")
            .await
            .contains("valid for 30 seconds")
    );
}

#[tokio::test]
async fn a_resend_inside_the_cooldown_is_refused_and_keeps_the_code() {
    let sink = SmtpSink::start().await;
    let mut service = start(smtp_settings(&sink)).await;
    assert_eq!(service.ask("walt@example.com").await.0, 0);
    let (first, _) = service.stored("walt@example.com").await;
    sink.message_to("walt@example.com").await;

    assert_eq!(service.ask("WALT@example.com").await.0, 27);
    assert_eq!(
        service.stored("walt@example.com").await.0,
        first,
        "the code is kept"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.messages().len(), 1, "no second mail was sent");
}

#[tokio::test]
async fn after_the_cooldown_a_new_code_replaces_the_old() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.verification.resend_cooldown_secs = 1;
    let mut service = start(settings).await;
    assert_eq!(service.ask("xia@example.com").await.0, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(service.ask("xia@example.com").await.0, 0);
    let (stored, _) = service.stored("xia@example.com").await;
    let mails: Vec<String> = sink.messages();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        stored.unwrap(),
        code_in(&mails[1]),
        "the newest mail holds the live code"
    );
}

#[tokio::test]
async fn a_failed_delivery_answers_2_and_leaves_no_code() {
    let sink = SmtpSink::start().await;
    sink.refuse_mail(true);
    let mut service = start(smtp_settings(&sink)).await;
    assert_eq!(service.ask("yan@example.com").await.0, 2);
    assert_eq!(service.stored("yan@example.com").await.0, None);
    // Nor does it hold a cooldown: the next try goes out at once.
    sink.refuse_mail(false);
    assert_eq!(service.ask("yan@example.com").await.0, 0);
    assert!(service.stored("yan@example.com").await.0.is_some());
}

#[tokio::test]
async fn an_unreachable_smtp_server_answers_2() {
    let mut settings = test_settings();
    settings.mail.transport = MailTransport::Smtp;
    settings.mail.host = "127.0.0.1".into();
    settings.mail.port = closed_port().await;
    settings.mail.tls = MailTls::None;
    let mut service = start(settings).await;
    assert_eq!(service.ask("zed@example.com").await.0, 2);
    assert_eq!(service.stored("zed@example.com").await.0, None);
}

#[tokio::test]
async fn a_redis_failure_answers_1() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.redis.port = closed_port().await;
    let mut service = start(settings).await;
    assert_eq!(service.ask("abe@example.com").await.0, 1);
    assert!(sink.messages().is_empty(), "no mail without a stored code");
}

#[tokio::test]
async fn a_bad_address_answers_2() {
    let sink = SmtpSink::start().await;
    let mut service = start(smtp_settings(&sink)).await;
    assert_eq!(service.ask("not an address").await.0, 2);
}

#[tokio::test]
async fn the_log_transport_writes_the_code_to_the_outbox_only() {
    let mut settings = test_settings();
    settings.mail.transport = MailTransport::Log;
    let outbox = std::env::temp_dir().join(crate::helpers::unique_name("outbox"));
    settings.mail.outbox_dir = Some(outbox.clone());
    settings.verification.port = 0;
    settings.verification.host = "127.0.0.1".into();
    let _keys = TestKeys::new(&settings);

    let mut command = gateway_command(&settings);
    command
        .arg("verification")
        .env("RUST_LOG", "trace")
        .env("GATEWAY_VERIFICATION__HOST", "127.0.0.1")
        .env("GATEWAY_MAIL__TRANSPORT", "log")
        .env("GATEWAY_MAIL__OUTBOX_DIR", &outbox);
    let mut binary = RunningBinary::start(command);
    let port = binary.port_after("verification service listening on ");
    let mut client = VerificationServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let reply = client
        .get_verification_code(GetVerificationRequest {
            email: "bea@example.com".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.error, 0);
    let log = binary.stop();

    let key = format!("{}bea@example.com", settings.redis.key_prefix);
    let mut redis = redis_connection().await;
    let code: String = redis.get(&key).await.unwrap();
    // Addresses are masked in the log, even at trace.
    assert!(log.contains("mail to b***@example.com queued"), "{log}");
    assert!(!log.contains("bea@example.com"), "{log}");
    assert!(
        !log.contains(&code),
        "the code {code} reached the log:\n{log}"
    );
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(code_in(&mail.replace("\r\n", "\n")), code);
    // The whole mail: both parts.
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .unwrap();
    assert_eq!((parsed.text_body_count(), parsed.html_body_count()), (1, 1));
    assert!(parsed.body_html(0).unwrap().contains(&code));
    std::fs::remove_dir_all(outbox).unwrap();
}

/// Waits until `condition` holds, or fails after five seconds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn mails_reuse_one_smtp_session() {
    let sink = SmtpSink::start().await;
    let mut service = start(smtp_settings(&sink)).await;
    for n in 0..5 {
        assert_eq!(service.ask(&format!("reuse{n}@example.com")).await.0, 0);
    }
    assert_eq!(sink.messages().len(), 5);
    assert_eq!(sink.connections(), 1, "one session for five mails");
}

#[tokio::test]
async fn a_session_the_server_dropped_is_replaced_and_the_mail_sent() {
    let sink = SmtpSink::start().await;
    let mut service = start(smtp_settings(&sink)).await;
    assert_eq!(service.ask("before@example.com").await.0, 0);
    sink.drop_connections();
    until("the sink hung up", || sink.open_connections() == 0).await;
    // The pooled session is dead; the mail goes out on a new one.
    assert_eq!(service.ask("after@example.com").await.0, 0);
    sink.message_to("after@example.com").await;
    assert!(service.stored("after@example.com").await.0.is_some());
    assert_eq!(sink.connections(), 2);
}

#[tokio::test]
async fn a_refused_mail_is_not_sent_again() {
    let sink = SmtpSink::start().await;
    let mut service = start(smtp_settings(&sink)).await;
    assert_eq!(service.ask("first@example.com").await.0, 0);
    // A refusal on a session that has sent before is the server's answer,
    // not a dropped session: one MAIL command, answer 2, no code.
    sink.refuse_mail(true);
    assert_eq!(service.ask("refused@example.com").await.0, 2);
    assert_eq!(sink.mail_commands(), 2);
    assert_eq!(service.stored("refused@example.com").await.0, None);
}

#[tokio::test]
async fn idle_sessions_are_closed_after_the_idle_setting() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.pool_idle_secs = 1;
    let mut service = start(settings).await;
    assert_eq!(service.ask("idle@example.com").await.0, 0);
    assert_eq!(sink.open_connections(), 1, "the session stays open");
    until("the idle session was not closed", || {
        sink.open_connections() == 0
    })
    .await;
    assert_eq!(service.ask("idle2@example.com").await.0, 0);
}

#[tokio::test]
async fn sessions_are_bounded_by_the_pool_size() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.pool_size = 2;
    let service = start(settings).await;
    let asks = (0..12).map(|n| {
        let mut client = service.client.clone();
        async move {
            let request = GetVerificationRequest {
                email: format!("bounded{n}@example.com"),
                ..Default::default()
            };
            client
                .get_verification_code(request)
                .await
                .unwrap()
                .into_inner()
                .error
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    assert!(answers.iter().all(|error| *error == 0), "{answers:?}");
    assert_eq!(sink.messages().len(), 12);
    assert!(
        sink.most_open_connections() <= 2,
        "{} sessions at once",
        sink.most_open_connections()
    );
}

/// Settings for a TLS sink: its name is `localhost` (its certificate's).
fn tls_settings(sink: &SmtpSink, tls: MailTls, ca: Option<std::path::PathBuf>) -> Settings {
    let mut settings = smtp_settings(sink);
    settings.mail.host = "localhost".into();
    settings.mail.tls = tls;
    settings.mail.tls_ca = ca;
    settings
}

#[tokio::test]
async fn mail_goes_out_after_starttls_to_a_server_of_a_private_ca() {
    let (sink, ca) = SmtpSink::start_tls(SinkTls::Starttls).await;
    let mut service = start(tls_settings(&sink, MailTls::Starttls, Some(ca))).await;
    assert_eq!(service.ask("secure1@example.com").await.0, 0);
    assert_eq!(service.ask("secure2@example.com").await.0, 0);
    sink.message_to("secure2@example.com").await;
    // One session, secured once, reused.
    assert_eq!((sink.connections(), sink.starttls_done()), (1, 1));
}

#[tokio::test]
async fn mail_goes_out_over_implicit_tls() {
    let (sink, ca) = SmtpSink::start_tls(SinkTls::Implicit).await;
    let mut service = start(tls_settings(&sink, MailTls::Tls, Some(ca))).await;
    assert_eq!(service.ask("implicit@example.com").await.0, 0);
    sink.message_to("implicit@example.com").await;
}

#[tokio::test]
async fn a_server_whose_certificate_is_not_trusted_gets_no_mail() {
    for kind in [SinkTls::Starttls, SinkTls::Implicit] {
        let (sink, _) = SmtpSink::start_tls(kind).await;
        let tls = match kind {
            SinkTls::Starttls => MailTls::Starttls,
            SinkTls::Implicit => MailTls::Tls,
        };
        let mut service = start(tls_settings(&sink, tls, None)).await;
        assert_eq!(service.ask("untrusted@example.com").await.0, 2, "{kind:?}");
        assert_eq!(service.stored("untrusted@example.com").await.0, None);
        assert_eq!(sink.mail_commands(), 0, "{kind:?}");
    }
}

#[tokio::test]
async fn an_unreadable_mail_ca_stops_start_up_naming_the_file() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.tls = MailTls::Starttls;
    settings.mail.tls_ca = Some("/nonexistent/mail-ca.pem".into());
    let error = VerificationServer::new(&settings)
        .err()
        .expect("start-up fails");
    assert!(
        error.to_string().contains("/nonexistent/mail-ca.pem"),
        "{error}"
    );
}

#[tokio::test]
async fn a_mail_server_that_never_greets_does_not_keep_the_pool() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.timeout_ms = 300;
    settings.mail.pool_size = 1;
    let mut service = start(settings).await;
    sink.silent(true);
    assert_eq!(service.ask("silent@example.com").await.0, 2);
    // The server greets again: the one slot of the pool was given back.
    sink.silent(false);
    assert_eq!(service.ask("greeted@example.com").await.0, 0);
    sink.message_to("greeted@example.com").await;
}

/// A caller that gives up (the gateway's gRPC deadline is shorter than a
/// slow mail) must not leave a code nobody received, nor a cooldown that
/// refuses the retry.
#[tokio::test]
async fn a_caller_that_gives_up_leaves_no_code_and_no_cooldown() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.timeout_ms = 300;
    let service = start(settings).await;
    sink.silent(true);
    let email = "impatient@example.com";
    let mut client = service.client.clone();
    let mut request = tonic::Request::new(GetVerificationRequest {
        email: email.into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(50));
    let call = tokio::time::timeout(
        Duration::from_millis(100),
        client.get_verification_code(request),
    );
    assert!(
        !matches!(call.await, Ok(Ok(_))),
        "the call should have been cut off"
    );
    // The service finishes on its own: the mail times out, the code goes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(service.stored(email).await.0, None, "a code is left");
    let cooldown = format!("{{{}{email}}}:cooldown", service.settings.redis.key_prefix);
    let left: bool = redis_connection().await.exists(&cooldown).await.unwrap();
    assert!(!left, "a cooldown is left at {cooldown}");
}

/// A mail cut off by `mail.timeout_ms` leaves its session out of step (the
/// late answer would be read as the next command's): it is not used again.
#[tokio::test]
async fn a_session_whose_mail_was_cut_off_is_not_used_again() {
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.timeout_ms = 300;
    let mut service = start(settings).await;
    sink.delay_data_reply(Duration::from_millis(600));
    assert_eq!(service.ask("slow@example.com").await.0, 2);
    sink.delay_data_reply(Duration::ZERO);
    // The late answer has gone out by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(service.ask("next@example.com").await.0, 0);
    sink.message_to("next@example.com").await;
    assert_eq!(sink.connections(), 2, "the cut-off session carried a mail");
}

/// `SendAccountNotice` says only what the service can stand behind,
/// whoever calls it: a confirmation link only for a reset held in Redis,
/// to that reset's address and name, with links built on `mail.site_url`;
/// a lock notice only for a lock starting now, of a well-formed name; at
/// most `NOTICES_PER_HOUR` per address. What is not acceptable is 25.
#[actix_web::test]
async fn account_notices_say_only_what_the_service_can_stand_behind() {
    use gateway_server::domain::ResetToken;
    use gateway_server::grpc::proto::account_notice_request::Notice;
    use gateway_server::grpc::proto::{AccountNoticeRequest, LoginLocked, ResetConfirmation};
    use gateway_server::services::verification::NOTICES_PER_HOUR;
    let sink = SmtpSink::start().await;
    let mut settings = smtp_settings(&sink);
    settings.mail.site_url = "https://chat.example.com/".into();
    let prefix = settings.redis.key_prefix.clone();
    let mut service = start(settings).await;
    // The reset the gateway would hold for account 12.
    let token = format!("12.{}", "ab".repeat(32));
    let digest = ResetToken::parse(&token).unwrap().digest();
    let mut redis = redis_connection().await;
    let key = format!("{prefix}pending_reset:12");
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(
            &[
                "digest",
                &digest,
                "password",
                "$argon2id$x",
                "username",
                "<b>ann</b>",
                "email",
                "a@example.com",
            ][..],
        )
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis.expire(&key, 600).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let request = |email: &str, username: &str, notice: Notice| AccountNoticeRequest {
        email: email.into(),
        locale: "zh-CN".into(),
        username: username.into(),
        notice: Some(notice),
    };
    let reset = |token: &str| {
        Notice::ResetConfirmation(ResetConfirmation {
            token: token.into(),
            valid_secs: 86_400,
        })
    };
    let locked = |started: i64, ends: i64| {
        Notice::LoginLocked(LoginLocked {
            started_unix: started,
            ends_unix: ends,
        })
    };
    let mut send = async |request: AccountNoticeRequest| {
        service
            .client
            .send_account_notice(request)
            .await
            .expect("the service answers")
            .into_inner()
            .error
    };
    for hostile in [
        // A token of no reset held, malformed, or another account's.
        request(
            "a@example.com",
            "ann",
            reset(&format!("12.{}", "cd".repeat(32))),
        ),
        request(
            "a@example.com",
            "ann",
            reset(&format!("13.{}", "ab".repeat(32))),
        ),
        request("a@example.com", "ann", reset("https://evil.example/x")),
        request(
            "a@example.com",
            "ann",
            reset(&format!("{token}\"><a href=x")),
        ),
        // The reset's link to another address.
        request("victim@example.com", "ann", reset(&token)),
        request("not an address", "ann", reset(&token)),
        // Lock notices: a name that is no name, or whose logins no window
        // counts (no lock runs).
        request("a@example.com", "", locked(now, now + 900)),
        request(
            "a@example.com",
            "ann\u{202e}txt.exe",
            locked(now, now + 900),
        ),
        request("a@example.com", "ann", locked(now, now + 900)),
        AccountNoticeRequest {
            email: "a@example.com".into(),
            username: "ann".into(),
            ..Default::default()
        },
    ] {
        assert_eq!(send(hostile).await, 25);
    }
    assert!(sink.messages().is_empty(), "nothing was mailed");
    // The held reset: its own name (escaped), the life it has left.
    assert_eq!(
        send(request("a@example.com", "mallory", reset(&token))).await,
        0
    );
    let raw = sink.message_to("a@example.com").await;
    let mail = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    assert_eq!(mail.subject(), Some("请确认您的新密码"));
    let text = mail.body_text(0).unwrap();
    let link = format!("https://chat.example.com/confirm#{token}");
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("10 分钟内有效"), "{text}");
    assert!(!text.contains("mallory"), "{text}");
    let html = mail.body_html(0).unwrap();
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(
        html.contains("&lt;b&gt;ann") && !html.contains("<b>ann"),
        "{html}"
    );
    // A lock runs for "ann" (its window of login attempts): the notice
    // states now and the window's end, whatever the request says.
    let window = format!("{prefix}login_attempts:ann");
    let _: () = redis.set_ex(&window, 10, 900).await.unwrap();
    assert_eq!(send(request("a@example.com", "ann", locked(0, 1))).await, 0);
    let notice = sink.messages().pop().unwrap();
    let notice = mail_parser::MessageParser::default()
        .parse(notice.as_bytes())
        .unwrap();
    let text = notice.body_text(0).unwrap().into_owned();
    assert!(!text.contains("1970"), "{text}");
    assert!(text.contains("https://chat.example.com/reset"), "{text}");
    // At most NOTICES_PER_HOUR to one address, whoever asks.
    for _ in 2..NOTICES_PER_HOUR {
        assert_eq!(
            send(request("a@example.com", "ann", locked(now, now + 900))).await,
            0
        );
    }
    assert_eq!(
        send(request("a@example.com", "ann", locked(now, now + 900))).await,
        27
    );
    until("every mail arrived", || {
        sink.messages().len() == NOTICES_PER_HOUR as usize
    })
    .await;
}
