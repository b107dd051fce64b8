//! The verification mail's subject, text and HTML, per locale: built into
//! the binary (templates/mail/<locale>/), each replaceable by a file of the
//! same name under `mail.templates_dir` (`<dir>/zh-CN/html.html`, …).
//! Every template is parsed and rendered once with sample values when the
//! service starts, so a broken one stops start-up, naming its file, instead
//! of failing a mail later.

use std::path::{Path, PathBuf};
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior, context};

use crate::domain::Locale;

/// The three parts of a mail, as file names.
const PARTS: [&str; 3] = ["subject.txt", "text.txt", "html.html"];

fn built_in(locale: Locale, part: &str) -> &'static str {
    match (locale, part) {
        (Locale::En, "subject.txt") => include_str!("../../../templates/mail/en/subject.txt"),
        (Locale::En, "text.txt") => include_str!("../../../templates/mail/en/text.txt"),
        (Locale::En, _) => include_str!("../../../templates/mail/en/html.html"),
        (Locale::ZhCn, "subject.txt") => include_str!("../../../templates/mail/zh-CN/subject.txt"),
        (Locale::ZhCn, "text.txt") => include_str!("../../../templates/mail/zh-CN/text.txt"),
        (Locale::ZhCn, _) => include_str!("../../../templates/mail/zh-CN/html.html"),
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
    /// where there is one. Every template is rendered once for `valid_for`
    /// (the configured lifetime) and for lifetimes that take each branch
    /// of the built-in ones (under a minute, one, several), and may name
    /// only the variables a mail has.
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
            for part in PARTS {
                let name = format!("{}/{part}", locale.tag());
                let (file, source) = match overrides.map(|dir| dir.join(&name)) {
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
                        built_in(locale, part).to_owned(),
                    ),
                };
                let broken = |message: String| TemplateError::Broken {
                    file: file.clone(),
                    message,
                };
                environment
                    .add_template_owned(name.clone(), source)
                    .map_err(|error| broken(error.to_string()))?;
                let template = environment
                    .get_template(&name)
                    .map_err(|error| broken(error.to_string()))?;
                if let Some(unknown) = template
                    .undeclared_variables(false)
                    .into_iter()
                    .find(|variable| !VARIABLES.contains(&variable.as_str()))
                {
                    return Err(broken(format!(
                        "`{unknown}` is not one of {}",
                        VARIABLES.join(", ")
                    )));
                }
                // Unknown filters and tests show only when they run: every
                // branch a lifetime can take is run.
                for seconds in [valid_for.as_secs(), 30, 60, 180] {
                    template
                        .render(sample(seconds))
                        .map_err(|error| broken(error.to_string()))?;
                }
            }
        }
        Ok(MailTemplates { environment })
    }

    /// The mail carrying `code` to `email`, valid for `valid_for`, in
    /// `locale`. Templates get `seconds` and `minutes` (rounded up).
    pub fn render(
        &self,
        locale: Locale,
        email: &str,
        code: &str,
        valid_for: Duration,
    ) -> Result<RenderedMail, minijinja::Error> {
        let seconds = valid_for.as_secs();
        let minutes = seconds.div_ceil(60);
        let values = context! { code, email, seconds, minutes };
        let part = |part: &str| {
            self.environment
                .get_template(&format!("{}/{part}", locale.tag()))?
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

/// What a template may use.
const VARIABLES: [&str; 4] = ["code", "email", "seconds", "minutes"];

fn sample(seconds: u64) -> minijinja::Value {
    context! {
        code => "000000",
        email => "someone@example.com",
        seconds,
        minutes => seconds.div_ceil(60),
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
            if !file.is_file() || !PARTS.contains(&part.as_ref()) {
                return Err(TemplateError::Broken {
                    file: file.display().to_string(),
                    message: format!("not a template ({})", PARTS.join(", ")),
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
                .render(locale, "a@example.com", "123456", secs(300))
                .unwrap();
            assert_eq!(mail.subject, subject);
            for body in [&mail.text, &mail.html] {
                assert!(body.contains("123456"), "{locale}: {body}");
                assert!(body.contains(validity), "{locale}: {body}");
            }
            assert!(mail.html.starts_with("<!doctype html>"));
        }
        let one = templates
            .render(Locale::En, "a@example.com", "1", secs(60))
            .unwrap();
        assert!(one.text.contains("valid for 1 minute:"), "{}", one.text);
        for (locale, validity) in [
            (Locale::En, "valid for 30 seconds:"),
            (Locale::ZhCn, "30 秒内有效"),
        ] {
            let short = templates
                .render(locale, "a@example.com", "1", secs(30))
                .unwrap();
            assert!(short.text.contains(validity), "{}", short.text);
        }
        // The text keeps the line the old tooling greps for.
        let en = templates
            .render(Locale::En, "a@example.com", "654321", secs(180))
            .unwrap();
        assert!(en.text.starts_with("Your verification code is 654321\n"));
        // ...and only the text: the README's `grep 'verification code is'`
        // on the outbox finds the line with the code.
        assert!(!en.html.contains("verification code is"));
    }

    #[test]
    fn the_html_part_escapes_what_it_is_given() {
        let templates = MailTemplates::load(None, secs(180)).unwrap();
        let mail = templates
            .render(Locale::En, "<script>@example.com", "123456", secs(180))
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
            .render(Locale::ZhCn, "a@example.com", "777777", secs(180))
            .unwrap();
        assert_eq!(zh.subject, "验证码 777777");
        assert!(zh.text.contains("777777"), "the built-in text stays");
        let en = templates
            .render(Locale::En, "a@example.com", "777777", secs(180))
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
