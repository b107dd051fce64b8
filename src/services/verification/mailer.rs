//! Delivers verification codes: through SMTP (lettre), or for development
//! to the log (without the code) and an outbox directory (with it).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::{Mailbox, Message, header::ContentType};

use super::smtp::{SmtpError, SmtpPool};
use crate::config::{MailSettings, MailTransport};
use crate::domain::Email;

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
}

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        sessions: SmtpPool,
        from: Mailbox,
    },
    Log {
        outbox: Option<PathBuf>,
        from: Mailbox,
    },
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailError> {
        let from: Mailbox = settings.from.parse().map_err(|_| {
            MailError::Settings(format!("mail.from {:?} is not a mailbox", settings.from))
        })?;
        Ok(match settings.transport {
            MailTransport::Log => Mailer::Log {
                outbox: settings.outbox_dir.clone(),
                from,
            },
            MailTransport::Smtp => Mailer::Smtp {
                sessions: SmtpPool::new(settings)
                    .map_err(|error| MailError::Settings(error.to_string()))?,
                from,
            },
        })
    }

    /// Sends `code` to `to`, saying how long it stays valid.
    pub async fn send_code(
        &self,
        to: &Email,
        code: &str,
        valid_for: Duration,
    ) -> Result<(), MailError> {
        match self {
            Mailer::Smtp { sessions, from } => {
                let message = code_message(from, to, code, valid_for)?;
                sessions
                    .send(message.envelope(), &message.formatted())
                    .await?;
                log::info!("mail to {} sent", to.masked());
            }
            Mailer::Log { outbox, from } => {
                if let Some(outbox) = outbox {
                    let message = code_message(from, to, code, valid_for)?;
                    tokio::fs::create_dir_all(outbox).await?;
                    let millis = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |elapsed| elapsed.as_millis());
                    let path = outbox.join(format!("{millis}-{to}.eml"));
                    tokio::fs::write(path, message.formatted()).await?;
                }
                log::info!("mail to {} queued", to.masked());
            }
        }
        Ok(())
    }
}

fn code_message(
    from: &Mailbox,
    to: &Email,
    code: &str,
    valid_for: Duration,
) -> Result<Message, MailError> {
    let recipient: Mailbox = to
        .as_str()
        .parse()
        .map_err(|error: lettre::address::AddressError| MailError::Message(error.to_string()))?;
    let minutes = valid_for.as_secs().div_ceil(60);
    let validity = match (valid_for.as_secs(), minutes) {
        (secs, _) if secs < 60 => format!("{secs} seconds"),
        (_, 1) => "1 minute".to_owned(),
        (_, minutes) => format!("{minutes} minutes"),
    };
    Message::builder()
        .from(from.clone())
        .to(recipient)
        .subject("Your verification code")
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "Your verification code is {code}\r\n\r\n\
             It is valid for {validity}. If you did not ask for it, ignore this mail.\r\n"
        ))
        .map_err(|error| MailError::Message(error.to_string()))
}
