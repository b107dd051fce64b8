//! The JSON bodies of the endpoints. Fields are plain strings here;
//! `parse()` turns them into domain values. Unknown fields are ignored.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::ApiError;
use crate::domain::{Email, Password, Username, VerificationCode};

/// Decodes a body whatever its Content-Type (`application/json`, `text/json`
/// or none, as old clients send). Not JSON, not an object, a missing or
/// mistyped field: status 1.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would also fill a struct from a JSON array (`["a@b.co"]`); the
    // protocol only has objects.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::Malformed("the body is not a JSON object".into()));
    }
    let mut json = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut json)
        .map_err(|error| ApiError::Malformed(describe(&error)))?;
    // One object and nothing after it (white space aside).
    json.end().map_err(|error| {
        ApiError::Malformed(format!(
            "trailing characters at line {} column {}",
            error.line(),
            error.column()
        ))
    })?;
    Ok(value)
}

/// What was wrong with a body, for the log: the field, the kind of error
/// and the position, never the value (serde's own message quotes it, and
/// the value may be a password or a code sent as a number).
fn describe(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = error.inner();
    let message = inner.to_string();
    let kind = [
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "unknown field",
        "duplicate field",
        "EOF",
        "trailing characters",
    ]
    .into_iter()
    .find(|kind| message.starts_with(kind))
    .unwrap_or(match inner.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Data => "unacceptable data",
        serde_json::error::Category::Io => "unreadable",
    });
    // A missing field is named in serde's message; only our own field names
    // (plain identifiers) can appear there.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    // The path names the client's own keys where the error was met: only
    // a plain identifier (one of ours) is repeated in the log.
    let path = error.path().to_string();
    let is_plain = |text: &str| {
        !text.is_empty()
            && text.len() <= 32
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))
    };
    let field = match (missing, is_plain(&path)) {
        (Some(name), _) => name.to_owned(),
        (None, true) => path,
        (None, false) => "?".to_owned(),
    };
    format!(
        "field `{field}`: {kind} at line {} column {}",
        inner.line(),
        inner.column()
    )
}

/// Asks for a code to be mailed.
#[derive(Deserialize, ToSchema)]
pub struct VerificationRequest {
    /// The address to mail the code to: at most 100 characters, ASCII
    /// before the `@`; an international domain is answered in its IDNA
    /// (punycode) form.
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// The language of the mail: `en` or `zh-CN` (any BCP 47 spelling,
    /// `zh-Hans`, `en-GB`…). Missing, not a string, or none of those: the
    /// request's `Accept-Language`, else the service's default. Old clients
    /// never send it; a client that sent some other `locale` before keeps
    /// being served as before.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "zh-CN")]
    pub locale: Option<serde_json::Value>,
}

/// A new account, authorised by the code mailed to its address.
#[derive(Deserialize, ToSchema)]
pub struct RegistrationRequest {
    /// 1 to 50 characters (after NFKC), of one script, without control,
    /// invisible or symbol characters; a name like a taken one is 26.
    #[schema(example = "alice")]
    pub username: String,
    /// 8 to 128 characters, not guessable (status 25 otherwise).
    #[schema(example = "Correct-Horse-7-Battery")]
    pub password: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// The mailed code. `cpatcha` is the historical spelling; `captcha` is
    /// accepted instead. One of the two is required (status 1 otherwise).
    #[serde(alias = "captcha")]
    #[schema(example = "123456", required = false)]
    pub cpatcha: String,
}

/// An account, named by both its name and its address.
#[derive(Deserialize, ToSchema)]
pub struct AccountRequest {
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
}

/// A new password, authorised by the code mailed to the account's address,
/// or, without a code (the old desktop client sends none), by the owner's
/// confirmation through a mailed link.
#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// The new password: 8 to 128 characters, not guessable.
    #[schema(example = "Another-Horse-8-Staple")]
    pub password: String,
    /// The mailed code (or `captcha`). Missing or empty: nothing changes
    /// yet; the account's address is mailed a link to confirm the new
    /// password (status 28).
    #[serde(default, alias = "captcha")]
    #[schema(example = "123456")]
    pub cpatcha: Option<String>,
}

/// The token of a mailed confirmation link (what follows its `#`).
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(example = "7.3f0c9a5e41d27b86c0f3a9d2e5b4c7a1908f6e3d2c1b0a9f8e7d6c5b4a392817")]
    pub token: String,
}

/// A confirmation: the link's token, and the new password typed again
/// (it must be the one the reset was asked for with).
#[derive(Deserialize, ToSchema)]
pub struct ConfirmRequest {
    #[schema(example = "7.3f0c9a5e41d27b86c0f3a9d2e5b4c7a1908f6e3d2c1b0a9f8e7d6c5b4a392817")]
    pub token: String,
    #[schema(example = "Another-Horse-8-Staple")]
    pub password: String,
}

/// Credentials to check before the chat server is relayed.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub code: VerificationCode,
}

impl RegistrationRequest {
    /// A new account: its name must also pass the rules for new names.
    pub fn parse(self) -> Result<Registration, ApiError> {
        Ok(Registration {
            username: Username::parse_new(&self.username)?,
            email: Email::parse(&self.email)?,
            password: Password::parse(self.password)?,
            code: VerificationCode::parse(self.cpatcha)?,
        })
    }
}

/// A reset, with its code if it came with one.
pub struct Reset {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub code: Option<VerificationCode>,
}

impl ResetRequest {
    /// Names an existing account, so the name is only parsed.
    pub fn parse(self) -> Result<Reset, ApiError> {
        Ok(Reset {
            username: Username::parse(&self.username)?,
            email: Email::parse(&self.email)?,
            password: Password::parse(self.password)?,
            code: match self.cpatcha {
                Some(code) if !code.is_empty() => Some(VerificationCode::parse(code)?),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    #[test]
    fn malformed_bodies_are_status_1() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"\"text\"",
            b"{}",
            b"{\"email\": 5}",
            b"{\"email\": null}",
            b"[\"a@b.co\"]",
            b"",
        ] {
            let error = decode::<VerificationRequest>(body).err().unwrap();
            assert_eq!(error.status(), Status::JsonParseError, "{body:?}");
        }
    }

    #[test]
    fn a_malformed_body_is_described_without_its_values() {
        let cases = [
            (&br#"{"email": 424242}"#[..], "field `email`: invalid type"),
            (br#"{"email": "a@b.co", "email": "x"}"#, "duplicate field"),
            (
                br#"{"mail": "secret-value"}"#,
                "field `email`: missing field",
            ),
            (br#"{"email": "secret-value"#, "field `email`: EOF"),
        ];
        for (body, expected) in cases {
            let error = decode::<VerificationRequest>(body).err().unwrap();
            let logged = error.to_string();
            assert!(logged.contains(expected), "{logged}");
            assert!(logged.contains("line 1 column"), "{logged}");
            for value in ["424242", "secret-value", "a@b.co"] {
                assert!(!logged.contains(value), "{logged}");
            }
        }
        // A key of the client's own is not repeated (it may hold anything).
        let planted = decode::<VerificationRequest>(b"{\"Key-Secret-1\\n[FAKE] INFO\": tru}");
        let logged = planted.err().unwrap().to_string();
        assert!(
            !logged.contains("Key-Secret") && !logged.contains('\n'),
            "{logged}"
        );
        let password = decode::<LoginRequest>(br#"{"username":"u","password":12345678}"#);
        let logged = password.err().unwrap().to_string();
        assert!(logged.contains("field `password`"), "{logged}");
        assert!(!logged.contains("12345678"), "{logged}");
    }

    #[test]
    fn nothing_may_follow_the_object() {
        for body in [
            &br#"{"email":"a@b.co"} GARBAGE"#[..],
            br#"{"email":"a@b.co"}{"a":1}"#,
            br#"{"email":"a@b.co"}]"#,
        ] {
            let error = decode::<VerificationRequest>(body).err().unwrap();
            assert_eq!(error.status(), Status::JsonParseError, "{body:?}");
        }
        assert!(decode::<VerificationRequest>(b" {\"email\":\"a@b.co\"} \n").is_ok());
    }

    #[test]
    fn both_spellings_of_the_code_field_are_accepted() {
        for field in ["cpatcha", "captcha"] {
            let body = format!(r#"{{"username":"u","password":"p","email":"e","{field}":"1234"}}"#);
            let request: RegistrationRequest = decode(body.as_bytes()).unwrap();
            assert_eq!(request.cpatcha, "1234");
        }
    }

    #[test]
    fn unacceptable_values_are_status_25() {
        let request: RegistrationRequest =
            decode(br#"{"username":"u","password":"short","email":"a@b.co","cpatcha":"1"}"#)
                .unwrap();
        let error = request.parse().err().unwrap();
        assert_eq!(error.status(), Status::InputInvalid);
    }
}
