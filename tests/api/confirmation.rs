//! Resets by confirmation mail (a `/reset_password` without a code, as the
//! old desktop client sends it) and the lockout notice, through the whole
//! system: real verification service, real SMTP conversation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::failed;
use crate::smtp::code_in;
use crate::system::System;

/// The reset the old client sends: name, address, new password, no code.
fn codeless(username: &str, email: &str, password: &str) -> Value {
    json!({"username": username, "email": email, "password": password})
}

/// What the confirmation page posts: the link's token, the password again.
fn confirm(token: &str, password: &str) -> Value {
    json!({"token": token, "password": password})
}

/// Registers `username` through the API with the mailed code.
async fn register(system: &System, username: &str, email: &str, password: &str) {
    let sent = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(sent["error"], 0, "{sent}");
    let code = code_in(&system.sink.message_to(email).await);
    let body = json!({"username": username, "email": email, "password": password, "cpatcha": code});
    let registered = system.call("/post_registration", body).await;
    assert_eq!(registered["error"], 0, "{registered}");
}

/// The mails that went to `address`, decoded, oldest first.
fn mails_to(system: &System, address: &str) -> Vec<mail_parser::Message<'static>> {
    system
        .sink
        .messages_to(address)
        .into_iter()
        .map(|raw| parse(&raw))
        .collect()
}

fn parse(raw: &str) -> mail_parser::Message<'static> {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a mail")
        .into_owned()
}

/// Waits for the `nth` mail (1-based) to `address`; answers its subject
/// and text.
async fn nth_mail(system: &System, address: &str, nth: usize) -> (String, String) {
    let mail = parse(&system.sink.nth_message_to(address, nth).await);
    let subject = mail.subject().unwrap_or_default().to_owned();
    (subject, mail.body_text(0).unwrap().into_owned())
}

/// The token of the confirmation link in a mail's text.
fn link_token(text: &str) -> String {
    let link = text
        .split_whitespace()
        .find(|word| word.contains("/confirm#"))
        .unwrap_or_else(|| panic!("no confirmation link in {text}"));
    link.split_once('#').unwrap().1.to_owned()
}

pub async fn login(system: &System, username: &str, password: &str) -> i64 {
    let body = json!({"username": username, "password": password});
    system.call("/trylogin_server", body).await["error"]
        .as_i64()
        .unwrap()
}

/// Keys of the system whose names start with `name` (after its prefix).
async fn keys(system: &System, name: &str) -> Vec<String> {
    let mut redis = crate::helpers::redis_connection().await;
    redis::cmd("KEYS")
        .arg(format!("{}{name}*", system.key_prefix()))
        .query_async(&mut redis)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_reset_without_a_code_waits_for_the_owners_confirmation() {
    let system = System::start().await;
    system.register_chat_server("chat-1", "8101").await;
    let (name, email) = ("lena", "lena@example.com");
    register(&system, name, email, "Old-Password-Lena-1").await;
    assert_eq!(login(&system, name, "Old-Password-Lena-1").await, 0);
    let mut redis = crate::helpers::redis_connection().await;
    let chat_tokens = keys(&system, "user_token_").await;
    assert_eq!(chat_tokens.len(), 1, "{chat_tokens:?}");

    // The address as typed differently: the mail goes to the account's.
    let answer = system
        .call(
            "/reset_password",
            codeless(name, " LENA@Example.com ", "New-Password-Lena-2"),
        )
        .await;
    assert_eq!(failed(&answer), 28, "{answer}");
    let sentence = answer["message"].as_str().unwrap();
    assert!(sentence.contains("Nothing is changed yet"), "{sentence}");
    let (subject, text) = nth_mail(&system, email, 2).await;
    assert_eq!(subject, "Confirm your new password");
    assert!(text.contains("\"lena\""), "{text}");
    assert!(text.contains("within 15 minutes"), "{text}");
    assert!(text.contains("Did not ask for this? Do nothing"), "{text}");
    println!("the confirmation mail:\n{subject}\n\n{text}");
    let token = link_token(&text);
    assert!(text.contains(&format!("http://localhost:8080/confirm#{token}")));

    // Nothing changed yet: the old password still signs in.
    assert_eq!(login(&system, name, "Old-Password-Lena-1").await, 0);
    assert_eq!(login(&system, name, "New-Password-Lena-2").await, 13);
    // Redis holds a digest of the link's secret, never the secret.
    let pending = keys(&system, "pending_reset:").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let stored: Vec<String> = redis::cmd("HVALS")
        .arg(&pending[0])
        .query_async(&mut redis)
        .await
        .unwrap();
    let secret = token.split_once('.').unwrap().1;
    assert!(stored.iter().all(|value| !value.contains(secret)));
    assert!(stored.iter().any(|value| value.starts_with("$argon2id$")));

    // The page looks the link up, then the button confirms it.
    let found = system.call("/pending_reset", json!({"token": token})).await;
    assert_eq!(found["error"], 0, "{found}");
    assert_eq!(found["username"], name);
    let left = found["expires_in_secs"].as_u64().unwrap();
    assert!((890..=900).contains(&left), "{found}");
    // The password must be typed again: the owner's click alone confirms
    // nothing (it could be a reset someone else asked for).
    let wrong = system
        .call("/confirm_reset", confirm(&token, "Some-Other-Password-9"))
        .await;
    assert_eq!(failed(&wrong), 13, "{wrong}");
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("not the new password")
    );
    let confirmed = system
        .call("/confirm_reset", confirm(&token, "New-Password-Lena-2"))
        .await;
    assert_eq!(confirmed, json!({"error": 0, "username": name}));
    assert_eq!(login(&system, name, "Old-Password-Lena-1").await, 13);
    // The chat token of before is revoked, as with any reset.
    let mut token_now: Option<String> = None;
    for key in &chat_tokens {
        token_now = redis::AsyncCommands::get(&mut redis, key).await.unwrap();
    }
    assert_eq!(token_now, None, "the old chat token was revoked");
    assert_eq!(login(&system, name, "New-Password-Lena-2").await, 0);

    // Once only.
    for (path, body) in [
        ("/confirm_reset", confirm(&token, "New-Password-Lena-2")),
        ("/pending_reset", json!({"token": token})),
    ] {
        let again = system.call(path, body).await;
        assert_eq!(failed(&again), 9, "{path}: {again}");
        assert!(again["message"].as_str().unwrap().contains("used already"));
    }
    assert!(keys(&system, "pending_reset:").await.is_empty());
    // A forged token (right account, other secret) finds nothing.
    let forged = format!("{}.{}", token.split_once('.').unwrap().0, "0".repeat(64));
    let answer = system
        .call("/confirm_reset", confirm(&forged, "New-Password-Lena-2"))
        .await;
    assert_eq!(failed(&answer), 9);
    for bad in [json!("7"), json!("../../x"), json!(7)] {
        let body = json!({"token": bad, "password": "New-Password-Lena-2"});
        let answer = system.call("/confirm_reset", body).await;
        assert!([1, 25].contains(&failed(&answer)), "{bad}: {answer}");
    }
}

#[actix_web::test]
async fn a_newer_reset_replaces_the_pending_one_and_links_expire() {
    let system = System::start_with(&[
        ("GATEWAY_VERIFICATION__RESEND_COOLDOWN_SECS", "1".into()),
        ("GATEWAY_SECURITY__RESET_LINK_TTL_SECS", "2".into()),
    ])
    .await;
    let (name, email) = ("mo", "mo@example.com");
    register(&system, name, email, "Old-Password-Mo-1").await;
    let reset = |password: &str| codeless(name, email, password);
    let first = system
        .call("/reset_password", reset("First-New-Mo-2"))
        .await;
    assert_eq!(failed(&first), 28);
    let first_token = link_token(&nth_mail(&system, email, 2).await.1);
    // Inside the mail cooldown: 27, no mail, the link stays as it was.
    let soon = system
        .call("/reset_password", reset("Second-New-Mo-3"))
        .await;
    assert_eq!(failed(&soon), 27, "{soon}");
    assert!(soon["message"].as_str().unwrap().contains("moments ago"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = system
        .call("/reset_password", reset("Second-New-Mo-3"))
        .await;
    assert_eq!(second, first, "the same answer each time");
    let second_token = link_token(&nth_mail(&system, email, 3).await.1);
    assert_ne!(first_token, second_token);
    assert_eq!(
        mails_to(&system, email).len(),
        3,
        "no mail inside the cooldown"
    );
    // The replaced link finds nothing; the newer one sets its password.
    let replaced = system
        .call("/confirm_reset", confirm(&first_token, "First-New-Mo-2"))
        .await;
    assert_eq!(failed(&replaced), 9, "{replaced}");
    let confirmed = system
        .call("/confirm_reset", confirm(&second_token, "Second-New-Mo-3"))
        .await;
    assert_eq!(confirmed["error"], 0, "{confirmed}");
    assert_eq!(login(&system, name, "Second-New-Mo-3").await, 6);
    assert_eq!(login(&system, name, "First-New-Mo-2").await, 13);

    // A link not used within its life finds nothing either.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = system
        .call("/reset_password", reset("Third-New-Mo-4"))
        .await;
    assert_eq!(failed(&third), 28);
    let third_token = link_token(&nth_mail(&system, email, 4).await.1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = system
        .call("/pending_reset", json!({"token": third_token}))
        .await;
    assert_eq!(failed(&expired), 9, "{expired}");
    assert_eq!(login(&system, name, "Third-New-Mo-4").await, 13);
}

/// A name and an address that are not one account's get the same answer,
/// after the same work, and nobody gets a mail.
#[actix_web::test]
async fn a_pair_that_is_no_account_gets_the_same_answer_in_the_same_time_and_no_mail() {
    let system = System::start().await;
    let accounts: Vec<(String, String)> = (0..5)
        .map(|n| (format!("nia{n}"), format!("nia{n}@example.com")))
        .collect();
    for (name, email) in &accounts {
        register(&system, name, email, "Old-Password-Nia-1").await;
    }
    register(&system, "nia5", "nia5@example.com", "Old-Password-Nia-1").await;
    let mails_before = system.sink.messages().len();
    let timed = async |body: Value| {
        let started = Instant::now();
        let answer = system.call("/reset_password", body).await;
        (answer, started.elapsed())
    };
    let mut matched = Vec::new();
    let mut unmatched = Vec::new();
    for (n, (name, email)) in accounts.iter().enumerate() {
        // Each pair on an address of its own (the mail cooldown is per
        // address): a real account's, and three kinds of no account.
        let (answer, took) = timed(codeless(name, email, "New-Password-Nia-2")).await;
        matched.push((answer, took));
        let other = match n % 3 {
            0 => codeless(name, &format!("other{n}@example.com"), "New-Password-Nia-2"),
            1 => codeless(
                &format!("nobody{n}"),
                &format!("x{n}@example.com"),
                "New-Password-Nia-2",
            ),
            _ => codeless(
                &format!("nobody{n}"),
                &format!("y{n}@example.com"),
                "New-Password-Nia-2",
            ),
        };
        unmatched.push(timed(other).await);
    }
    // A known name with someone else's address: no mail to either.
    let crossed = timed(codeless("nia0", "nia5@example.com", "New-Password-Nia-2")).await;
    unmatched.push(crossed);
    for (answer, _) in matched.iter().chain(&unmatched) {
        assert_eq!(answer, &matched[0].0, "one answer for all");
        assert_eq!(failed(answer), 28);
    }
    let median = |runs: &[(Value, Duration)]| {
        let mut times: Vec<Duration> = runs.iter().map(|(_, took)| *took).collect();
        times.sort();
        times[times.len() / 2]
    };
    let (with, without) = (median(&matched), median(&unmatched));
    println!("median answer: account {with:?}, no account {without:?}");
    // The work is the same (the hash dominates): without the decoy work a
    // pair that is no account would answer many times faster.
    assert!(
        without * 2 > with && with * 2 > without,
        "account {with:?} vs no account {without:?}"
    );
    // Five mails, to the five accounts' own addresses; none elsewhere.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent: Vec<String> = system.sink.messages()[mails_before..].to_vec();
    assert_eq!(sent.len(), 5, "one mail per real account");
    for (_, email) in &accounts {
        assert_eq!(
            mails_to(&system, email).len(),
            2,
            "{email}: code, then link"
        );
    }
    assert_eq!(
        mails_to(&system, "nia5@example.com").len(),
        1,
        "only the code"
    );
    assert_eq!(keys(&system, "pending_reset:").await.len(), 5);
}

#[actix_web::test]
async fn a_guessable_password_is_refused_before_anything_is_stored_or_mailed() {
    let system = System::start().await;
    let (name, email) = ("omar", "omar@example.com");
    register(&system, name, email, "Old-Password-Omar-1").await;
    let answer = system
        .call("/reset_password", codeless(name, email, "Password123"))
        .await;
    assert_eq!(failed(&answer), 25, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("hard to guess")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails_to(&system, email).len(), 1, "only the code's mail");
    assert!(keys(&system, "pending_reset:").await.is_empty());
    assert!(
        keys(&system, &format!("{{{}", system.key_prefix()))
            .await
            .is_empty()
    );
    // ...and the mail cooldown was not spent: a good password is taken.
    let good = system
        .call(
            "/reset_password",
            codeless(name, email, "Fine-Password-Omar-2"),
        )
        .await;
    assert_eq!(failed(&good), 28, "{good}");
}

#[actix_web::test]
async fn a_link_that_cannot_be_mailed_is_withdrawn() {
    let system = System::start().await;
    let (name, email) = ("pia", "pia@example.com");
    register(&system, name, email, "Old-Password-Pia-1").await;
    system.sink.refuse_mail(true);
    let answer = system
        .call(
            "/reset_password",
            codeless(name, email, "New-Password-Pia-2"),
        )
        .await;
    // The answer cannot wait for the mail (its timing would tell).
    assert_eq!(failed(&answer), 28);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !keys(&system, "pending_reset:").await.is_empty() || system.sink.mail_commands() < 2 {
        assert!(
            Instant::now() < deadline,
            "the unmailed reset stays pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    system.sink.refuse_mail(false);
    // Nothing blocks the retry: no cooldown was left behind.
    let again = system
        .call(
            "/reset_password",
            codeless(name, email, "New-Password-Pia-2"),
        )
        .await;
    assert_eq!(failed(&again), 28, "{again}");
    let (subject, _) = nth_mail(&system, email, 2).await;
    assert_eq!(subject, "Confirm your new password");
}

/// The lock's owner is told once per lock window: when it started, when it
/// ends, and where to set a new password.
#[actix_web::test]
async fn a_lockout_notice_goes_out_once_per_lock_window() {
    let system = System::start_with(&[
        ("GATEWAY_LIMITS__LOGIN_FAILURES", "3".into()),
        ("GATEWAY_LIMITS__LOGIN_WINDOW_SECS", "3".into()),
    ])
    .await;
    let (name, email) = ("quinn", "quinn@example.com");
    register(&system, name, email, "Right-Password-Quinn-1").await;
    let notices = || {
        mails_to(&system, email)
            .iter()
            .filter(|mail| mail.subject() == Some("Sign-ins to your account are paused"))
            .count()
    };
    for _ in 0..2 {
        assert_eq!(login(&system, name, "Wrong-Password-1").await, 13);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notices(), 0, "no lock yet");
    // The third failure starts the lock.
    assert_eq!(login(&system, name, "Wrong-Password-1").await, 13);
    let (subject, text) = nth_mail(&system, email, 2).await;
    assert_eq!(subject, "Sign-ins to your account are paused");
    assert!(text.contains("\"quinn\""), "{text}");
    assert!(text.contains(" UTC until "), "{text}");
    assert!(text.contains("http://localhost:8080/reset"), "{text}");
    println!("the lockout notice:\n{subject}\n\n{text}");
    // Locked: even the right password is refused, and nobody is mailed again.
    for password in [
        "Wrong-Password-1",
        "Right-Password-Quinn-1",
        "Wrong-Password-2",
    ] {
        let answer = system
            .call(
                "/trylogin_server",
                json!({"username": name, "password": password}),
            )
            .await;
        assert_eq!(failed(&answer), 27);
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("Forgot your password")
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notices(), 1, "one notice per window");
    // A name that is no account locks too, and mails nobody.
    for _ in 0..4 {
        login(&system, "nobody-quinn", "Wrong-Password-1").await;
    }
    // The next window: a new lock, a new notice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for _ in 0..3 {
        assert_eq!(login(&system, name, "Wrong-Password-3").await, 13);
    }
    nth_mail(&system, email, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notices(), 2);
    assert_eq!(system.sink.messages().len(), 3, "code, two notices");
}

/// The 28 answer and the link errors carry a sentence in the reader's
/// language.
#[actix_web::test]
async fn the_new_answers_explain_themselves_in_both_languages() {
    let system = System::start().await;
    let client = reqwest::Client::new();
    let post = async |path: &str, body: Value, language: &str| -> Value {
        let url = format!("http://127.0.0.1:{}{path}", system.gateway);
        let response = client
            .post(url)
            .header("Accept-Language", language)
            .json(&body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    };
    let token = confirm(&format!("3.{}", "a".repeat(64)), "New-Password-Rita-2");
    for (language, mailed, used, malformed) in [
        (
            "en",
            "Nothing is changed yet",
            "used already",
            "not the link",
        ),
        (
            "zh-CN,zh;q=0.9",
            "尚未做任何更改",
            "已被使用",
            "不是我们邮件中的链接",
        ),
    ] {
        let body = codeless(
            "rita",
            &format!("rita-{}@example.com", &language[..2]),
            "New-Password-Rita-2",
        );
        let answer = post("/reset_password", body, language).await;
        assert_eq!(failed(&answer), 28);
        assert!(
            answer["message"].as_str().unwrap().contains(mailed),
            "{answer}"
        );
        let answer = post("/confirm_reset", token.clone(), language).await;
        assert_eq!(failed(&answer), 9);
        assert!(
            answer["message"].as_str().unwrap().contains(used),
            "{answer}"
        );
        let answer = post("/pending_reset", json!({"token": "x"}), language).await;
        assert_eq!(failed(&answer), 25);
        assert!(
            answer["message"].as_str().unwrap().contains(malformed),
            "{answer}"
        );
    }
}

/// Someone who knows a name and its address asks for a reset with a
/// password of their own, and the owner, who asked too, clicks the newest
/// link: without that password the owner's click changes nothing. A reset
/// with a code meanwhile makes any older link useless.
#[actix_web::test]
async fn the_owner_cannot_confirm_a_password_someone_else_chose() {
    let system =
        System::start_with(&[("GATEWAY_VERIFICATION__RESEND_COOLDOWN_SECS", "1".into())]).await;
    let (name, email) = ("sam", "sam@example.com");
    register(&system, name, email, "Old-Password-Sam-1").await;
    let owners = system
        .call(
            "/reset_password",
            codeless(name, email, "Owners-Choice-Lantern-31"),
        )
        .await;
    assert_eq!(failed(&owners), 28);
    nth_mail(&system, email, 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The attacker's request, spelt differently, replaces the owner's.
    let attackers = system
        .call(
            "/reset_password",
            codeless("SAM", " Sam@Example.com", "Attacker-Knows-This-42"),
        )
        .await;
    assert_eq!(failed(&attackers), 28);
    let newest = link_token(&nth_mail(&system, email, 3).await.1);
    // The owner types the password they chose: refused, the link stays.
    let refused = system
        .call(
            "/confirm_reset",
            confirm(&newest, "Owners-Choice-Lantern-31"),
        )
        .await;
    assert_eq!(failed(&refused), 13, "{refused}");
    let still = system
        .call("/pending_reset", json!({"token": newest}))
        .await;
    assert_eq!(still["error"], 0, "{still}");
    assert_eq!(login(&system, name, "Attacker-Knows-This-42").await, 13);
    assert_eq!(login(&system, name, "Old-Password-Sam-1").await, 6);

    // A reset with a code discards the pending one: its link is dead.
    let sent = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(sent["error"], 0);
    let code = code_in(&system.sink.nth_message_to(email, 4).await);
    let body = json!({"username": name, "email": email, "password": "Coded-Reset-Sam-77", "cpatcha": code});
    assert_eq!(system.call("/reset_password", body).await["error"], 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !keys(&system, "pending_reset:").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the pending reset outlived a code reset"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead = system
        .call("/confirm_reset", confirm(&newest, "Attacker-Knows-This-42"))
        .await;
    assert_eq!(failed(&dead), 9);
    assert_eq!(login(&system, name, "Coded-Reset-Sam-77").await, 6);
}

/// A request for a pair that is no account does not hold up the owner's
/// own request for the same address.
#[actix_web::test]
async fn a_pair_that_is_no_account_cannot_block_the_owners_reset() {
    let system = System::start().await;
    let (name, email) = ("tara", "tara@example.com");
    register(&system, name, email, "Old-Password-Tara-1").await;
    let blocker = system
        .call(
            "/reset_password",
            codeless("nobody-at-all", email, "Sapphire-Gondola-5"),
        )
        .await;
    assert_eq!(failed(&blocker), 28);
    let owners = system
        .call(
            "/reset_password",
            codeless(name, email, "Tara-New-Password-2"),
        )
        .await;
    assert_eq!(failed(&owners), 28, "{owners}");
    let (subject, _) = nth_mail(&system, email, 2).await;
    assert_eq!(subject, "Confirm your new password");
    // The same pair again inside the cooldown: 27, and no second mail.
    let again = system
        .call(
            "/reset_password",
            codeless(name, email, "Tara-New-Password-2"),
        )
        .await;
    assert_eq!(failed(&again), 27);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails_to(&system, email).len(), 2);
}

/// A mail server slower than the gateway's gRPC deadline: the service goes
/// on sending, so the gateway keeps the reset and the cooldown; the link
/// in the mail that does arrive works, and nothing is sent twice.
#[actix_web::test]
async fn a_mail_slower_than_the_deadline_keeps_its_reset_and_cooldown() {
    let system = System::start_with(&[("GATEWAY_GRPC__TIMEOUT_MS", "300".into())]).await;
    let (name, email) = ("uma", "uma@example.com");
    register(&system, name, email, "Old-Password-Uma-1").await;
    system.sink.delay_data_reply(Duration::from_millis(1500));
    let first = system
        .call(
            "/reset_password",
            codeless(name, email, "Uma-New-Password-2"),
        )
        .await;
    assert_eq!(failed(&first), 28);
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..5 {
        let again = system
            .call(
                "/reset_password",
                codeless(name, email, "Uma-New-Password-2"),
            )
            .await;
        assert_eq!(failed(&again), 27, "{again}");
    }
    let token = link_token(&nth_mail(&system, email, 2).await.1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mails_to(&system, email).len(), 2, "one link, mailed once");
    system.sink.delay_data_reply(Duration::ZERO);
    let confirmed = system
        .call("/confirm_reset", confirm(&token, "Uma-New-Password-2"))
        .await;
    assert_eq!(confirmed["error"], 0, "{confirmed}");
}

/// The README's curl flow reads the link from the `log` transport's outbox
/// with `scripts/mail-link.py` (the text part is quoted-printable: a plain
/// grep would cut the token where a line folds); the token it prints
/// confirms the reset.
#[actix_web::test]
async fn the_readmes_script_reads_the_link_from_the_outbox() {
    let outbox = std::env::temp_dir().join(crate::helpers::unique_name("outbox"));
    let system = System::start_with(&[
        ("GATEWAY_MAIL__TRANSPORT", "log".into()),
        ("GATEWAY_MAIL__OUTBOX_DIR", outbox.display().to_string()),
    ])
    .await;
    let (name, email) = ("vera", "vera@example.com");
    let sent = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(sent["error"], 0);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mail-link.py");
    let read = |what: &str| {
        let output = std::process::Command::new("python3")
            .arg(script)
            .arg(&outbox)
            .arg(email)
            .output()
            .expect("python3 runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            what.to_owned(),
        )
    };
    // The code's mail has no link: the script says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&outbox).map_or(0, |dir| dir.count()) == 0 {
        assert!(Instant::now() < deadline, "no mail in the outbox");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read("no link yet").0, Some(1));
    let code = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            text.lines()
                .find_map(|line| line.strip_prefix("Your verification code is "))
                .map(|code| code.trim().to_owned())
        })
        .expect("the code in the outbox");
    let body = json!({"username": name, "email": email, "password": "Old-Password-Vera-1", "cpatcha": code});
    assert_eq!(system.call("/post_registration", body).await["error"], 0);
    let answer = system
        .call("/reset_password", codeless(name, email, "Looking-Glass-77"))
        .await;
    assert_eq!(failed(&answer), 28);
    let deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        let (status, token, _) = read("the link");
        if status == Some(0) {
            break token;
        }
        assert!(Instant::now() < deadline, "no link in the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        gateway_server::domain::ResetToken::parse(&token).is_ok(),
        "{token}"
    );
    let confirmed = system
        .call("/confirm_reset", confirm(&token, "Looking-Glass-77"))
        .await;
    assert_eq!(confirmed["error"], 0, "{confirmed}");
    assert_eq!(login(&system, name, "Looking-Glass-77").await, 6);
    let _ = std::fs::remove_dir_all(outbox);
}

/// A client that sends its confirmation and walks away while the typed
/// password waits to be checked (one hashing thread, busy with a burst of
/// logins): the link, taken for the check, is put back (a wrong password)
/// instead of being lost with the request.
#[actix_web::test]
async fn a_client_that_walks_away_mid_confirmation_leaves_the_link_usable() {
    use tokio::io::AsyncWriteExt;
    let system = System::start_with(&[("GATEWAY_SECURITY__HASH_THREADS", "1".into())]).await;
    let (name, email) = ("wim", "wim@example.com");
    register(&system, name, email, "Old-Password-Wim-1").await;
    let answer = system
        .call(
            "/reset_password",
            codeless(name, email, "Wim-New-Password-2"),
        )
        .await;
    assert_eq!(failed(&answer), 28);
    let token = link_token(&nth_mail(&system, email, 2).await.1);
    // Logins of names that are no account: each costs a hash.
    let names: Vec<String> = (0..40).map(|n| format!("nobody{n}")).collect();
    let busy = names
        .iter()
        .map(|name| login(&system, name, "Wrong-Password-1"));
    let walk_away = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let body = confirm(&token, "Not-The-Password-9").to_string();
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", system.gateway))
            .await
            .unwrap();
        let request = format!(
            "POST /confirm_reset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Gone before the answer: its check waits behind the logins.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(stream);
    };
    let (_, ()) = tokio::join!(futures_util::future::join_all(busy), walk_away);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = system.call("/pending_reset", json!({"token": token})).await;
    assert_eq!(still["error"], 0, "the link was lost: {still}");
    let confirmed = system
        .call("/confirm_reset", confirm(&token, "Wim-New-Password-2"))
        .await;
    assert_eq!(confirmed["error"], 0, "{confirmed}");
}
