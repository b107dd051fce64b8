//! Every mail's subject, text and HTML, per locale: built into the binary
//! (templates/mail/<locale>/), each replaceable by a file of the same name
//! under `mail.templates_dir` (`<dir>/zh-CN/html.html`, …). The code mail
//! keeps its original file names; the account notices' carry a prefix
//! (`reset_text.txt`, `locked_html.html`). Every template is parsed and
//! rendered with sample values when the service starts, so a broken one
//! stops start-up, naming its file, instead of failing a mail later.

use std::path::{Path, PathBuf};
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior, Value, context};

use crate::domain::Locale;

/// The three parts of a mail, as file names (after the kind's prefix).
const PARTS: [&str; 3] = ["subject.txt", "text.txt", "html.html"];

/// The built-in template `file` of `locale`.
macro_rules! built_in {
    ($($file:literal),* $(,)?) => {
        fn built_in(locale: Locale, file: &str) -> Option<&'static str> {
            match (locale, file) {
                $(
                    (Locale::En, $file) => {
                        Some(include_str!(concat!("../../../templates/mail/en/", $file)))
                    }
                    (Locale::ZhCn, $file) => {
                        Some(include_str!(concat!("../../../templates/mail/zh-CN/", $file)))
                    }
                )*
                _ => None,
            }
        }
    };
}

built_in!(
    "subject.txt",
    "text.txt",
    "html.html",
    "reset_subject.txt",
    "reset_text.txt",
    "reset_html.html",
    "locked_subject.txt",
    "locked_text.txt",
    "locked_html.html",
);

/// The mails there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A verification code.
    Code,
    /// A password reset waiting for the owner's confirmation.
    ResetConfirmation,
    /// Sign-ins refused for a while after too many failed ones.
    LoginLocked,
}

impl MailKind {
    pub const ALL: [MailKind; 3] = [
        MailKind::Code,
        MailKind::ResetConfirmation,
        MailKind::LoginLocked,
    ];

    fn prefix(self) -> &'static str {
        match self {
            MailKind::Code => "",
            MailKind::ResetConfirmation => "reset_",
            MailKind::LoginLocked => "locked_",
        }
    }

    /// What its templates may use.
    fn variables(self) -> &'static [&'static str] {
        match self {
            MailKind::Code => &["code", "email", "seconds", "minutes"],
            MailKind::ResetConfirmation => &["email", "username", "link", "seconds", "minutes"],
            MailKind::LoginLocked => &["email", "username", "link", "started", "ends", "minutes"],
        }
    }

    /// Values for trial renders: every branch a lifetime can take in the
    /// built-in templates (under a minute, one, several) and `valid_for`.
    fn samples(self, valid_for: Duration) -> Vec<Mail<'static>> {
        [valid_for.as_secs(), 30, 60, 180]
            .into_iter()
            .map(Duration::from_secs)
            .map(|lasts| match self {
                MailKind::Code => Mail::Code {
                    email: "someone@example.com",
                    code: "000000",
                    valid_for: lasts,
                },
                MailKind::ResetConfirmation => Mail::ResetConfirmation {
                    email: "someone@example.com",
                    username: "someone",
                    link: "https://chat.example.com/confirm#1.00",
                    valid_for: lasts,
                },
                MailKind::LoginLocked => Mail::LoginLocked {
                    email: "someone@example.com",
                    username: "someone",
                    link: "https://chat.example.com/reset",
                    started: "2026-01-01 00:00:00 UTC".into(),
                    ends: "2026-01-01 00:15:00 UTC".into(),
                    lasts,
                },
            })
            .collect()
    }

    /// The file name of `part` of this kind's templates.
    fn file(self, part: &str) -> String {
        format!("{}{part}", self.prefix())
    }
}

/// One mail to render, with what it says.
#[derive(Debug, Clone)]
pub enum Mail<'a> {
    Code {
        email: &'a str,
        code: &'a str,
        valid_for: Duration,
    },
    ResetConfirmation {
        email: &'a str,
        username: &'a str,
        link: &'a str,
        valid_for: Duration,
    },
    LoginLocked {
        email: &'a str,
        username: &'a str,
        /// The reset page.
        link: &'a str,
        /// When the lock started and ends, as the mail shows them.
        started: String,
        ends: String,
        lasts: Duration,
    },
}

impl Mail<'_> {
    pub fn kind(&self) -> MailKind {
        match self {
            Mail::Code { .. } => MailKind::Code,
            Mail::ResetConfirmation { .. } => MailKind::ResetConfirmation,
            Mail::LoginLocked { .. } => MailKind::LoginLocked,
        }
    }

    /// What the templates see. Lifetimes as `seconds` and `minutes`
    /// (rounded up). A link goes into the HTML as it is: the service built
    /// it from `mail.site_url` (no quote, `<`, `>` or `&`) and a checked
    /// token, and escaping would turn its `/` into `&#x2f;`.
    fn values(&self) -> Value {
        let safe = |link: &str| Value::from_safe_string(link.to_owned());
        let minutes = |lasts: &Duration| lasts.as_secs().div_ceil(60);
        match self {
            Mail::Code {
                email,
                code,
                valid_for,
            } => {
                context! { code, email, seconds => valid_for.as_secs(), minutes => minutes(valid_for) }
            }
            Mail::ResetConfirmation {
                email,
                username,
                link,
                valid_for,
            } => context! {
                email, username, link => safe(link), seconds => valid_for.as_secs(), minutes => minutes(valid_for)
            },
            Mail::LoginLocked {
                email,
                username,
                link,
                started,
                ends,
                lasts,
            } => {
                context! { email, username, link => safe(link), started, ends, minutes => minutes(lasts) }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("mail.templates_dir {0}: not a directory")]
    NoDirectory(PathBuf),
    #[error("mail template {file}: {message}")]
    Broken { file: String, message: String },
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct MailTemplates {
    environment: Environment<'static>,
}

impl MailTemplates {
    /// The built-in templates, each replaced by its file under `overrides`
    /// where there is one. Every template is rendered once with sample
    /// values for `valid_for` (the configured code lifetime) and for
    /// lifetimes that take each branch of the built-in ones, and may name
    /// only the variables its mail has.
    pub fn load(
        overrides: Option<&Path>,
        valid_for: Duration,
    ) -> Result<MailTemplates, TemplateError> {
        if let Some(dir) = overrides {
            check_directory(dir)?;
        }
        let mut environment = Environment::new();
        // A variable a template names but the mail does not have is an
        // error (found by the trial renders below), not an empty string.
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_keep_trailing_newline(true);
        for locale in Locale::ALL {
            for kind in MailKind::ALL {
                for part in PARTS {
                    let file = kind.file(part);
                    let name = format!("{}/{file}", locale.tag());
                    let (origin, source) = match overrides.map(|dir| dir.join(&name)) {
                        Some(path) if path.is_file() => {
                            let source = std::fs::read_to_string(&path).map_err(|error| {
                                TemplateError::Broken {
                                    file: path.display().to_string(),
                                    message: error.to_string(),
                                }
                            })?;
                            (path.display().to_string(), source)
                        }
                        _ => (
                            format!("(built in) {name}"),
                            built_in(locale, &file)
                                .expect("every template is built in")
                                .to_owned(),
                        ),
                    };
                    let broken = |message: String| TemplateError::Broken {
                        file: origin.clone(),
                        message,
                    };
                    environment
                        .add_template_owned(name.clone(), source)
                        .map_err(|error| broken(error.to_string()))?;
                    let template = environment
                        .get_template(&name)
                        .map_err(|error| broken(error.to_string()))?;
                    let allowed = kind.variables();
                    if let Some(unknown) = template
                        .undeclared_variables(false)
                        .into_iter()
                        .find(|variable| !allowed.contains(&variable.as_str()))
                    {
                        return Err(broken(format!(
                            "`{unknown}` is not one of {}",
                            allowed.join(", ")
                        )));
                    }
                    // Unknown filters and tests show only when they run:
                    // every branch a lifetime can take is run.
                    for sample in kind.samples(valid_for) {
                        template
                            .render(sample.values())
                            .map_err(|error| broken(error.to_string()))?;
                    }
                }
            }
        }
        Ok(MailTemplates { environment })
    }

    /// `mail` in `locale`.
    pub fn render(&self, locale: Locale, mail: &Mail) -> Result<RenderedMail, minijinja::Error> {
        let values = mail.values();
        let kind = mail.kind();
        let part = |part: &str| {
            self.environment
                .get_template(&format!("{}/{}", locale.tag(), kind.file(part)))?
                .render(&values)
        };
        Ok(RenderedMail {
            // One line: a subject cannot hold a line break.
            subject: part("subject.txt")?
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            text: part("text.txt")?,
            html: part("html.html")?,
        })
    }
}

/// `dir` holds only what can replace a template: `<locale>/<part>` for our
/// locales and parts. Anything else is most likely a misspelt override
/// (`zh-cn/`, `html.htm`) that would silently not apply.
fn check_directory(dir: &Path) -> Result<(), TemplateError> {
    let unreadable = |path: &Path, error: std::io::Error| TemplateError::Broken {
        file: path.display().to_string(),
        message: error.to_string(),
    };
    if !dir.is_dir() {
        return Err(TemplateError::NoDirectory(dir.to_path_buf()));
    }
    for entry in std::fs::read_dir(dir).map_err(|error| unreadable(dir, error))? {
        let path = entry.map_err(|error| unreadable(dir, error))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !path.is_dir() || !Locale::ALL.iter().any(|locale| locale.tag() == name) {
            return Err(TemplateError::Broken {
                file: path.display().to_string(),
                message: format!(
                    "not a locale directory ({})",
                    Locale::ALL.map(Locale::tag).join(", ")
                ),
            });
        }
        for inner in std::fs::read_dir(&path).map_err(|error| unreadable(&path, error))? {
            let file = inner.map_err(|error| unreadable(&path, error))?.path();
            let part = file.file_name().unwrap_or_default().to_string_lossy();
            let known = MailKind::ALL
                .iter()
                .any(|kind| PARTS.iter().any(|name| kind.file(name) == part));
            if !file.is_file() || !known {
                return Err(TemplateError::Broken {
                    file: file.display().to_string(),
                    message: format!(
                        "not a template ({}, each also with a reset_ or locked_ prefix)",
                        PARTS.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(seconds: u64) -> std::time::Duration {
        std::time::Duration::from_secs(seconds)
    }

    fn code_mail<'a>(email: &'a str, code: &'a str, valid_for: Duration) -> Mail<'a> {
        Mail::Code {
            email,
            code,
            valid_for,
        }
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gw-templates-{name}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(dir.join("zh-CN")).unwrap();
        dir
    }

    #[test]
    fn every_built_in_template_renders_the_code_and_the_minutes_in_both_locales() {
        let templates = MailTemplates::load(None, secs(180)).unwrap();
        for (locale, validity, subject) in [
            (Locale::En, "valid for 5 minutes", "Your verification code"),
            (Locale::ZhCn, "5 分钟内有效", "您的验证码"),
        ] {
            let mail = templates
                .render(locale, &code_mail("a@example.com", "123456", secs(300)))
                .unwrap();
            assert_eq!(mail.subject, subject);
            for body in [&mail.text, &mail.html] {
                assert!(body.contains("123456"), "{locale}: {body}");
                assert!(body.contains(validity), "{locale}: {body}");
            }
            assert!(mail.html.starts_with("<!doctype html>"));
        }
        let one = templates
            .render(Locale::En, &code_mail("a@example.com", "1", secs(60)))
            .unwrap();
        assert!(one.text.contains("valid for 1 minute:"), "{}", one.text);
        for (locale, validity) in [
            (Locale::En, "valid for 30 seconds:"),
            (Locale::ZhCn, "30 秒内有效"),
        ] {
            let short = templates
                .render(locale, &code_mail("a@example.com", "1", secs(30)))
                .unwrap();
            assert!(short.text.contains(validity), "{}", short.text);
        }
        // The text keeps the line the old tooling greps for.
        let en = templates
            .render(Locale::En, &code_mail("a@example.com", "654321", secs(180)))
            .unwrap();
        assert!(en.text.starts_with("Your verification code is 654321\n"));
        // ...and only the text: the README's `grep 'verification code is'`
        // on the outbox finds the line with the code.
        assert!(!en.html.contains("verification code is"));
    }

    #[test]
    fn the_account_notices_render_in_both_locales() {
        let templates = MailTemplates::load(None, secs(180)).unwrap();
        let reset = Mail::ResetConfirmation {
            email: "a@example.com",
            username: "ann",
            link: "https://chat.example.com/confirm#1.ab",
            valid_for: secs(900),
        };
        let locked = Mail::LoginLocked {
            email: "a@example.com",
            username: "ann",
            link: "https://chat.example.com/reset",
            started: "2026-11-27 06:00:00 UTC".into(),
            ends: "2026-11-27 06:15:00 UTC".into(),
            lasts: secs(900),
        };
        for (locale, mail, subject, says) in [
            (
                Locale::En,
                &reset,
                "Confirm your new password",
                "within 15 minutes",
            ),
            (Locale::ZhCn, &reset, "请确认您的新密码", "15 分钟内有效"),
            (
                Locale::En,
                &locked,
                "Sign-ins to your account are paused",
                "06:15:00 UTC",
            ),
            (Locale::ZhCn, &locked, "您的账户已暂停登录", "暂停登录"),
        ] {
            let rendered = templates.render(locale, mail).unwrap();
            assert_eq!(rendered.subject, subject);
            for body in [&rendered.text, &rendered.html] {
                assert!(body.contains(says), "{locale}: {body}");
                assert!(
                    body.contains("https://chat.example.com/"),
                    "{locale}: {body}"
                );
                assert!(body.contains("ann"), "{locale}: {body}");
            }
        }
    }

    #[test]
    fn the_notices_templates_are_overridable_and_misspellings_refused() {
        let notice = dir("notice");
        std::fs::write(
            notice.join("zh-CN/reset_subject.txt"),
            "确认 {{ username }}\n",
        )
        .unwrap();
        let templates = MailTemplates::load(Some(&notice), secs(180)).unwrap();
        let mail = Mail::ResetConfirmation {
            email: "a@example.com",
            username: "ann",
            link: "https://x.example/confirm#1.ab",
            valid_for: secs(900),
        };
        assert_eq!(
            templates.render(Locale::ZhCn, &mail).unwrap().subject,
            "确认 ann"
        );
        // A code mail's variable in a notice is an error, naming the file.
        std::fs::write(notice.join("zh-CN/reset_subject.txt"), "{{ code }}").unwrap();
        let error = MailTemplates::load(Some(&notice), secs(180)).err().unwrap();
        assert!(
            error.to_string().contains("zh-CN/reset_subject.txt"),
            "{error}"
        );
        std::fs::remove_dir_all(&notice).unwrap();
        for misspelt in ["reset_html.htm", "lock_text.txt", "reset-text.txt"] {
            let dir = dir("misspelt");
            std::fs::write(dir.join("zh-CN").join(misspelt), "x").unwrap();
            let error = MailTemplates::load(Some(&dir), secs(180)).err().unwrap();
            assert!(error.to_string().contains(misspelt), "{error}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn the_html_part_escapes_what_it_is_given() {
        let templates = MailTemplates::load(None, secs(180)).unwrap();
        let mail = templates
            .render(
                Locale::En,
                &code_mail("<script>@example.com", "123456", secs(180)),
            )
            .unwrap();
        assert!(!mail.html.contains("<script>@"), "{}", mail.html);
        assert!(mail.html.contains("&lt;script&gt;@example.com"));
    }

    #[test]
    fn an_override_replaces_its_template_only() {
        let dir = dir("override");
        std::fs::write(dir.join("zh-CN/subject.txt"), "验证码 {{ code }}\n").unwrap();
        let templates = MailTemplates::load(Some(&dir), secs(180)).unwrap();
        let zh = templates
            .render(
                Locale::ZhCn,
                &code_mail("a@example.com", "777777", secs(180)),
            )
            .unwrap();
        assert_eq!(zh.subject, "验证码 777777");
        assert!(zh.text.contains("777777"), "the built-in text stays");
        let en = templates
            .render(Locale::En, &code_mail("a@example.com", "777777", secs(180)))
            .unwrap();
        assert_eq!(en.subject, "Your verification code");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_override_is_a_start_up_error_naming_its_file() {
        for (source, why) in [
            ("{% if code %}unclosed", "syntax"),
            ("{{ cod }}", "an unknown variable"),
            ("{{ code | no_such_filter }}", "an unknown filter"),
            // Only a code valid under a minute runs this branch.
            (
                "{% if seconds < 60 %}{{ code | no_such_filter }}{% endif %}",
                "a filter in a branch",
            ),
            (
                "{% if minutes == 1 %}{{ secret }}{% endif %}",
                "a variable in a branch",
            ),
        ] {
            let dir = dir("broken");
            std::fs::write(dir.join("zh-CN/html.html"), source).unwrap();
            let error = MailTemplates::load(Some(&dir), secs(180))
                .err()
                .expect(why)
                .to_string();
            assert!(error.contains("zh-CN/html.html"), "{why}: {error}");
            std::fs::remove_dir_all(dir).unwrap();
        }
        let missing = MailTemplates::load(Some(Path::new("/no/such/dir")), secs(180))
            .err()
            .unwrap();
        assert!(missing.to_string().contains("/no/such/dir"));
    }
}
