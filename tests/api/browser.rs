//! The pages in a real browser: Debian's headless Chromium, driven through
//! its WebDriver (chromedriver) by the W3C WebDriver protocol over HTTP,
//! against the whole system (`gateway-server all`, mails to an outbox).
//! Each flow end to end as a person would go through it, the messages for a
//! wrong code and a guessable password in both languages, and a screenshot
//! of every page under target/screenshots/.
//!
//! (Not a WebDriver crate: fantoccini's TLS stack brings a second rustls
//! crypto provider, and with two, rustls picks none for redis-rs' TLS. The
//! few calls below are the whole protocol these tests need.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backends::{free_port, skip};
use crate::system::System;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One headless Chromium session.
struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// `None` where Chromium or its driver is not installed.
    async fn start(language: &str) -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(crate::helpers::unique_name("chromium"));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // As this machine's probe runs it: no sandbox as root, and nothing
        // that reaches for the (closed) network on its own.
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=480,1280",
                    format!("--lang={language}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {"intl.accept_languages": language},
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Some(Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            profile,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            answer["value"]["error"].is_null(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Clears the field `css` and types `text` into it.
    async fn fill(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the text of `css` contains `wanted`; answers it.
    async fn wait_for(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} says {text:?}, not {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves what the browser shows as `target/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (Chromium exits), then the driver.
        let _ = end_session(&self.session);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE <session>` over a plain socket: drop has no runtime to await on.
fn end_session(url: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(())
}

/// The code of the newest mail to `email` in `outbox`, from its text part.
fn code_in_outbox(outbox: &Path, email: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut mails: Vec<PathBuf> = std::fs::read_dir(outbox)
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        mails.retain(|path| path.to_string_lossy().ends_with(&format!("-{email}.eml")));
        mails.sort();
        if let Some(newest) = mails.last() {
            let raw = std::fs::read(newest).unwrap();
            let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let text = mail.body_text(0).unwrap().into_owned();
            let code: String = text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
                .expect("a six-digit code")
                .to_owned();
            return code;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {email} in the outbox"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[actix_web::test]
async fn a_person_creates_an_account_resets_the_password_and_signs_in() {
    let Some(browser) = Browser::start("en-US").await else {
        return skip("chromium and chromium-driver");
    };
    let outbox = std::env::temp_dir().join(crate::helpers::unique_name("outbox"));
    let system = System::start_with(&[
        ("GATEWAY_MAIL__TRANSPORT", "log".into()),
        ("GATEWAY_MAIL__OUTBOX_DIR", outbox.display().to_string()),
        ("GATEWAY_VERIFICATION__RESEND_COOLDOWN_SECS", "1".into()),
    ])
    .await;
    let chat = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let chat_port = chat.local_addr().unwrap().port().to_string();
    system.register_chat_server("chat-1", &chat_port).await;
    let site = format!("http://127.0.0.1:{}", system.gateway);
    let message = |form: &str| format!("form[data-kind={form}] .message");
    let (email, name) = ("ada@example.com", "ada");

    browser.open(&format!("{site}/")).await;
    browser.wait_for("h1", "Your chat account").await;
    let mut shots = vec![browser.screenshot("home").await];

    // Create an account: e-mail, "send code", then code, name, password.
    browser.open(&format!("{site}/register")).await;
    browser.fill("#email", email).await;
    browser.click("form[data-kind=code] button").await;
    browser
        .wait_for(&message("code"), "A code is on its way")
        .await;
    let code = code_in_outbox(&outbox, email);
    browser.fill("#code", &code).await;
    browser.fill("#username", name).await;
    browser.fill("#password", "Analytical-Engine-1843").await;
    browser.click("form[data-kind=register] button").await;
    let created = browser.wait_for(&message("register"), "created").await;
    println!("register: {created}");
    shots.push(browser.screenshot("register").await);

    // Forgot password: a wrong code, then a guessable password, each in
    // both languages (the switch), then the real reset.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    browser.open(&format!("{site}/reset")).await;
    browser.fill("#email", email).await;
    browser.click("form[data-kind=code] button").await;
    browser
        .wait_for(&message("code"), "A code is on its way")
        .await;
    let code = code_in_outbox(&outbox, email);
    browser.fill("#code", "000000").await;
    browser.fill("#username", name).await;
    browser.fill("#password", "Difference-Engine-1822").await;
    let reset = "form[data-kind=reset] button";
    browser.click(reset).await;
    let wrong_en = browser
        .wait_for(&message("reset"), "wrong, already used or expired")
        .await;
    browser.click("[data-switch-language]").await;
    browser.wait_for("h1", "忘记密码").await;
    browser.click(reset).await;
    let wrong_zh = browser.wait_for(&message("reset"), "验证码错误").await;
    browser.fill("#code", &code).await;
    browser.fill("#password", "Password123").await;
    browser.click(reset).await;
    let weak_zh = browser.wait_for(&message("reset"), "不易猜到").await;
    browser.click("[data-switch-language]").await;
    browser.wait_for("h1", "Forgot your password?").await;
    browser.click(reset).await;
    let weak_en = browser.wait_for(&message("reset"), "hard to guess").await;
    shots.push(browser.screenshot("reset-guessable-password").await);
    browser.fill("#password", "Difference-Engine-1822").await;
    browser.click(reset).await;
    let changed = browser
        .wait_for(&message("reset"), "password is changed")
        .await;
    for line in [&wrong_en, &wrong_zh, &weak_zh, &weak_en, &changed] {
        println!("reset: {line}");
    }

    // Check the account.
    browser.open(&format!("{site}/check")).await;
    browser.fill("#username", name).await;
    browser.fill("#email", email).await;
    browser.click("form[data-kind=check] button").await;
    let exists = browser.wait_for(&message("check"), "exists").await;
    println!("check: {exists}");
    shots.push(browser.screenshot("check").await);

    // Sign in with the new password: the chat server, never the token.
    browser.open(&format!("{site}/login")).await;
    browser.fill("#username", name).await;
    browser.fill("#password", "Difference-Engine-1822").await;
    browser.click("form[data-kind=login] button").await;
    let signed_in = browser
        .wait_for(&message("login"), &format!("127.0.0.1:{chat_port}"))
        .await;
    println!("login: {signed_in}");
    shots.push(browser.screenshot("login").await);
    let mut redis = crate::helpers::redis_connection().await;
    let tokens: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}user_token_*", system.key_prefix()))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let token: String = redis::AsyncCommands::get(&mut redis, &tokens[0])
        .await
        .unwrap();
    assert!(
        !browser.source().await.contains(&token),
        "the page shows the token"
    );
    // The old password no longer signs in.
    browser.fill("#password", "Analytical-Engine-1843").await;
    browser.click("form[data-kind=login] button").await;
    browser
        .wait_for(&message("login"), "Wrong username or password")
        .await;
    for shot in shots {
        println!("screenshot: {}", shot.display());
    }
    drop(chat);
    let _ = std::fs::remove_dir_all(outbox);
}

/// The old desktop client's forgot-password flow (name, address, new
/// password, no code), finished in the browser through the mailed link:
/// the replaced link, the confirmation, the used link, the expired link,
/// and a pair that is no account.
#[actix_web::test]
async fn a_reset_without_a_code_is_confirmed_through_the_mailed_link() {
    let Some(browser) = Browser::start("en-US").await else {
        return skip("chromium and chromium-driver");
    };
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let system = System::start_with(&[
        ("GATEWAY_HTTP__PORT", port.to_string()),
        ("GATEWAY_MAIL__SITE_URL", site.clone()),
        ("GATEWAY_VERIFICATION__RESEND_COOLDOWN_SECS", "1".into()),
        ("GATEWAY_SECURITY__RESET_LINK_TTL_SECS", "8".into()),
    ])
    .await;
    let (name, email) = ("grace", "grace@example.com");
    let sent = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(sent["error"], 0);
    let code = crate::smtp::code_in(&system.sink.message_to(email).await);
    let registered = system
        .call(
            "/post_registration",
            json!({"username": name, "email": email, "password": "Old-Cobol-Password-1959", "cpatcha": code}),
        )
        .await;
    assert_eq!(registered["error"], 0, "{registered}");
    // What the old client sends: no code. Twice, the second replacing the
    // first (after the mail cooldown).
    let old_client =
        |password: &str| json!({"username": name, "email": email, "password": password});
    let first = system
        .call("/reset_password", old_client("First-Compiler-A0-1952"))
        .await;
    assert_eq!(crate::helpers::failed(&first), 28, "{first}");
    let first_link = confirmation_link(&system, email, 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = system
        .call("/reset_password", old_client("Nanosecond-Wire-Length-30cm"))
        .await;
    assert_eq!(second, first);
    let second_link = confirmation_link(&system, email, 3).await;
    assert!(
        second_link.starts_with(&format!("{site}/confirm#")),
        "{second_link}"
    );
    let message = "form[data-kind=confirm] .message";
    let button = "form[data-kind=confirm] button[type=submit]";

    // The replaced link says so, and offers no button.
    browser.open(&first_link).await;
    let replaced = browser
        .wait_for(message, "replaced by a newer request")
        .await;
    assert_eq!(browser.text(button).await, "", "no button on a dead link");
    // The newer one: who it is for, one button, nothing changed until then.
    browser.open(&format!("{site}/")).await;
    browser.open(&second_link).await;
    let pending = browser
        .wait_for("#pending", "\"grace\" waits for you")
        .await;
    let mut shots = vec![browser.screenshot("confirm-pending").await];
    assert_eq!(browser.text(button).await, "Confirm the new password");
    let login = |password: &str| json!({"username": name, "password": password});
    let before = system
        .call("/trylogin_server", login("Old-Cobol-Password-1959"))
        .await;
    assert_eq!(
        before["error"], 6,
        "the old password still holds (no chat server): {before}"
    );
    // The password the reset was asked for, typed again; first a wrong one.
    browser.fill("#password", "First-Compiler-A0-1952").await;
    browser.click(button).await;
    let not_it = browser.wait_for(message, "not the new password").await;
    browser
        .fill("#password", "Nanosecond-Wire-Length-30cm")
        .await;
    browser.click(button).await;
    let done = browser.wait_for(message, "is set. Sign in with it").await;
    shots.push(browser.screenshot("confirm-done").await);
    assert_eq!(browser.text("#next").await, "Sign in");
    let new = system
        .call("/trylogin_server", login("Nanosecond-Wire-Length-30cm"))
        .await;
    assert_eq!(new["error"], 6, "the new password signs in: {new}");
    for old in ["Old-Cobol-Password-1959", "First-Compiler-A0-1952"] {
        let refused = system.call("/trylogin_server", login(old)).await;
        assert_eq!(refused["error"], 13, "{old}: {refused}");
    }
    // The same link again: used.
    browser.open(&format!("{site}/")).await;
    browser.open(&second_link).await;
    let used = browser.wait_for(message, "used already").await;

    // A link left alone past its life: expired.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = system
        .call(
            "/reset_password",
            old_client("Third-Password-Flowmatic-1955"),
        )
        .await;
    assert_eq!(third, first);
    let third_link = confirmation_link(&system, email, 4).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    browser.open(&format!("{site}/")).await;
    browser.open(&third_link).await;
    let expired = browser.wait_for(message, "has expired").await;
    shots.push(browser.screenshot("confirm-expired").await);

    // A name and address of no account: the same answer, no mail.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mails = system.sink.messages().len();
    let nobody = system
        .call(
            "/reset_password",
            json!({"username": "grace", "email": "someone-else@example.com", "password": "Nanosecond-Wire-Length-30cm"}),
        )
        .await;
    assert_eq!(nobody, first);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        system.sink.messages().len(),
        mails,
        "no mail for no account"
    );
    for line in [&replaced, &pending, &not_it, &done, &used, &expired] {
        println!("confirm: {line}");
    }
    for shot in shots {
        println!("screenshot: {}", shot.display());
    }
}

/// The confirmation link in the `nth` mail (1-based) to `email`.
async fn confirmation_link(system: &System, email: &str, nth: usize) -> String {
    let raw = system.sink.nth_message_to(email, nth).await;
    let mail = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let text = mail.body_text(0).unwrap();
    text.split_whitespace()
        .find(|word| word.contains("/confirm#"))
        .expect("a confirmation link")
        .to_owned()
}

/// A browser that prefers Chinese gets the pages in Chinese without
/// touching the switch.
#[actix_web::test]
async fn a_browser_that_prefers_chinese_gets_chinese() {
    let Some(browser) = Browser::start("zh-CN").await else {
        return skip("chromium and chromium-driver");
    };
    let system = System::start_with(&[]).await;
    browser
        .open(&format!("http://127.0.0.1:{}/login", system.gateway))
        .await;
    browser.wait_for("h1", "登录").await;
    browser.fill("#username", "nobody").await;
    browser.fill("#password", "Whatever-Horse-9").await;
    browser.click("form[data-kind=login] button").await;
    let wrong = browser
        .wait_for("form[data-kind=login] .message", "用户名或密码错误")
        .await;
    println!("login (zh-CN): {wrong}");
    browser.screenshot("login-zh-CN").await;
}
