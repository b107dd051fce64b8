//! Delivers mails (codes, account notices): through SMTP (lettre), or for
//! development to the log (without the content) and an outbox directory
//! (whole).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::{Mailbox, Message, MultiPart};

use super::smtp::{SmtpError, SmtpPool};
use super::templates::{Mail, MailTemplates, TemplateError};
use crate::config::{MailSettings, MailTransport};
use crate::domain::{Email, Locale};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail settings: {0}")]
    Settings(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] SmtpError),
    #[error("cannot write to the outbox: {0}")]
    Outbox(#[from] std::io::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// What every mail is made of: the templates, the sender, the language
/// when the request names none.
#[derive(Clone)]
pub struct Composer {
    templates: Arc<MailTemplates>,
    from: Mailbox,
    default_locale: Locale,
}

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        sessions: SmtpPool,
        composer: Composer,
    },
    Log {
        outbox: Option<PathBuf>,
        composer: Composer,
    },
}

impl Mailer {
    /// `valid_for`: how long codes live, which every template is tried with.
    pub fn new(settings: &MailSettings, valid_for: Duration) -> Result<Mailer, MailError> {
        let from: Mailbox = settings.from.parse().map_err(|_| {
            MailError::Settings(format!("mail.from {:?} is not a mailbox", settings.from))
        })?;
        let default_locale = Locale::parse(&settings.default_locale).ok_or_else(|| {
            MailError::Settings(format!(
                "mail.default_locale {:?} is not one of en, zh-CN",
                settings.default_locale
            ))
        })?;
        let composer = Composer {
            templates: Arc::new(MailTemplates::load(
                settings.templates_dir.as_deref(),
                valid_for,
            )?),
            from,
            default_locale,
        };
        Ok(match settings.transport {
            MailTransport::Log => Mailer::Log {
                outbox: settings.outbox_dir.clone(),
                composer,
            },
            MailTransport::Smtp => Mailer::Smtp {
                sessions: SmtpPool::new(settings)
                    .map_err(|error| MailError::Settings(error.to_string()))?,
                composer,
            },
        })
    }

    /// Sends `mail` to `to` in `locale` (else `mail.default_locale`).
    pub async fn send(
        &self,
        to: &Email,
        mail: &Mail<'_>,
        locale: Option<Locale>,
    ) -> Result<(), MailError> {
        match self {
            Mailer::Smtp { sessions, composer } => {
                let message = composer.message(to, mail, locale)?;
                sessions
                    .send(message.envelope(), &message.formatted())
                    .await?;
                log::info!("mail to {} sent ({:?})", to.masked(), mail.kind());
            }
            Mailer::Log { outbox, composer } => {
                if let Some(outbox) = outbox {
                    let message = composer.message(to, mail, locale)?;
                    tokio::fs::create_dir_all(outbox).await?;
                    let millis = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |elapsed| elapsed.as_millis());
                    // An address may hold a `/` (never `..`, which is refused).
                    let name = to.as_str().replace('/', "_");
                    let path = outbox.join(format!("{millis}-{name}.eml"));
                    tokio::fs::write(path, message.formatted()).await?;
                }
                log::info!("mail to {} queued ({:?})", to.masked(), mail.kind());
            }
        }
        Ok(())
    }
}

impl Composer {
    /// `mail` as a message: text and HTML alternatives, subject and both
    /// parts in the locale's templates.
    fn message(
        &self,
        to: &Email,
        mail: &Mail<'_>,
        locale: Option<Locale>,
    ) -> Result<Message, MailError> {
        let recipient: Mailbox =
            to.as_str()
                .parse()
                .map_err(|error: lettre::address::AddressError| {
                    MailError::Message(error.to_string())
                })?;
        let locale = locale.unwrap_or(self.default_locale);
        let mail = self
            .templates
            .render(locale, mail)
            .map_err(|error| MailError::Message(error.to_string()))?;
        Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|error| MailError::Message(error.to_string()))
    }
}
