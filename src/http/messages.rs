//! The `message` of every error answer: a short sentence naming what to do,
//! in English or Simplified Chinese (the request's `Accept-Language`), for
//! people — the pages show it as it is; the old client ignores fields it
//! does not know. One sentence per status code, and the endpoint's own
//! where the same code means something else there; waits come from the
//! settings.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ACCEPT_LANGUAGE, CONTENT_LENGTH};
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::reply::Failed;
use crate::config::Settings;
use crate::domain::Locale;
use crate::metrics::Outcome;
use crate::status::Status;

/// The endpoints, as their sentences tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Code,
    Registration,
    Check,
    Reset,
    /// The confirmation page's two: looking a link up, confirming it.
    PendingReset,
    ConfirmReset,
    Login,
}

impl Endpoint {
    pub fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/get_verification" => Endpoint::Code,
            "/post_registration" => Endpoint::Registration,
            "/check_accountexists" => Endpoint::Check,
            "/reset_password" => Endpoint::Reset,
            "/pending_reset" => Endpoint::PendingReset,
            "/confirm_reset" => Endpoint::ConfirmReset,
            "/trylogin_server" => Endpoint::Login,
            _ => return None,
        })
    }
}

/// How long the limits make one wait (the settings' windows).
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub login: Duration,
    pub address: Duration,
    /// Between two mails to one address.
    pub mail: Duration,
    /// How long a reset's confirmation link works.
    pub reset_link: Duration,
}

impl Waits {
    pub fn of(settings: &Settings) -> Waits {
        Waits {
            login: settings.limits.login_window(),
            address: settings.limits.ip_window(),
            mail: Duration::from_secs(settings.verification.resend_cooldown_secs),
            reset_link: settings.security.reset_link_ttl(),
        }
    }
}

fn span(locale: Locale, wait: Duration) -> String {
    let seconds = wait.as_secs().max(1);
    let minutes = seconds.div_ceil(60);
    match (locale, seconds < 60) {
        (Locale::En, true) => format!("{seconds} seconds"),
        (Locale::En, false) if minutes == 1 => "1 minute".to_owned(),
        (Locale::En, false) => format!("{minutes} minutes"),
        (Locale::ZhCn, true) => format!("{seconds} 秒"),
        (Locale::ZhCn, false) => format!("{minutes} 分钟"),
    }
}

/// The sentence for `status` answered by `endpoint`, in `locale`.
pub fn message(status: Status, endpoint: Endpoint, locale: Locale, waits: &Waits) -> String {
    use Endpoint::*;
    use Locale::*;
    let password_endpoint = matches!(endpoint, Registration | Reset);
    let link_endpoint = matches!(endpoint, PendingReset | ConfirmReset);
    let text = match (status.code(), endpoint, locale) {
        (0, _, En) => "Done.",
        (0, _, ZhCn) => "完成。",
        (1, _, En) => "Something is missing. Fill in every field and try again.",
        (1, _, ZhCn) => "信息不完整。请填写所有字段后重试。",
        (2, _, En) => "The network between the services failed. Try again in a minute.",
        (2, _, ZhCn) => "服务之间的网络出现故障。请一分钟后重试。",
        (3, _, En) => "A service behind this site did not answer. Try again in a minute.",
        (3, _, ZhCn) => "后台服务没有响应。请一分钟后重试。",
        (4, _, En) => "The chat service does not know this server. Try again later.",
        (4, _, ZhCn) => "聊天服务不认识此服务器。请稍后重试。",
        (5, _, En) => "The chat service already knows this server. Try again later.",
        (5, _, ZhCn) => "聊天服务已登记此服务器。请稍后重试。",
        (6, _, En) => "No chat server is available right now. Try again in a few minutes.",
        (6, _, ZhCn) => "目前没有可用的聊天服务器。请几分钟后重试。",
        (7, _, En) => "The chat service already knows this chat server. Try again later.",
        (7, _, ZhCn) => "聊天服务已登记此聊天服务器。请稍后重试。",
        (8, Code, En) => "The code could not be stored, so none was sent. Try again in a minute.",
        (8, Code, ZhCn) => "验证码无法保存，因此没有发送。请一分钟后重试。",
        (8, _, En) => "Codes and sign-ins cannot be checked right now. Try again in a minute.",
        (8, _, ZhCn) => "暂时无法核对验证码和登录。请一分钟后重试。",
        (9, _, En) if link_endpoint => {
            "This link was used already, replaced by a newer request, or has expired. Ask for a new one with \"Forgot your password?\", and use the link of the latest mail."
        }
        (9, _, ZhCn) if link_endpoint => {
            "此链接已被使用、已被新的请求取代或已过期。请通过“忘记密码？”重新申请，并使用最新邮件中的链接。"
        }
        (9, _, En) => {
            "This code is wrong, already used or expired. Use the code of the latest mail, or ask for a new one."
        }
        (9, _, ZhCn) => "验证码错误、已使用或已过期。请使用最新邮件中的验证码，或重新获取。",
        (10, _, En) => "Accounts cannot be reached right now. Try again in a minute.",
        (10, _, ZhCn) => "暂时无法访问账户数据。请一分钟后重试。",
        (11, _, En) => "Some account information is missing. Try again later.",
        (11, _, ZhCn) => "账户信息不完整。请稍后重试。",
        (12, _, En) if link_endpoint => "The account of this link no longer exists.",
        (12, _, ZhCn) if link_endpoint => "此链接对应的账户已不存在。",
        (12, _, En) => "No account has this username and e-mail address.",
        (12, _, ZhCn) => "没有与此用户名和邮箱对应的账户。",
        (13, ConfirmReset, En) => {
            "This is not the new password this link is for. Type the password you chose when you asked for the reset. Did not ask for one? Then ignore the mail: nothing changes."
        }
        (13, ConfirmReset, ZhCn) => {
            "这不是此链接对应的新密码。请输入您申请重置时选择的密码。如果您没有申请过，请忽略那封邮件：什么都不会改变。"
        }
        (13, _, En) => "Wrong username or password.",
        (13, _, ZhCn) => "用户名或密码错误。",
        (14, _, En) => "The chat server did not accept the sign-in. Sign in again.",
        (14, _, ZhCn) => "聊天服务器没有接受此次登录。请重新登录。",
        (15, _, En) => "You are signed in elsewhere already.",
        (15, _, ZhCn) => "您已在别处登录。",
        (16, _, En) => "Signing out did not work. Try again.",
        (16, _, ZhCn) => "退出登录没有成功。请重试。",
        (17 | 20, _, En) => "No user has this name.",
        (17 | 20, _, ZhCn) => "没有使用此名称的用户。",
        (18, _, En) => "You cannot add yourself as a friend.",
        (18, _, ZhCn) => "不能添加自己为好友。",
        (19, _, En) => "The friend request did not work. Try again later.",
        (19, _, ZhCn) => "好友请求没有成功。请稍后重试。",
        (21, _, En) => "The upload did not work. Try again later.",
        (21, _, ZhCn) => "上传没有成功。请稍后重试。",
        (22, _, En) => "The file could not be created. Try again later.",
        (22, _, ZhCn) => "无法创建文件。请稍后重试。",
        (23, _, En) => "The file could not be opened. Try again later.",
        (23, _, ZhCn) => "无法打开文件。请稍后重试。",
        (24, _, En) => "The file could not be written. Try again later.",
        (24, _, ZhCn) => "无法写入文件。请稍后重试。",
        (25, Code, En) => {
            "This is not an e-mail address we can send to. Check it (at most 100 characters, like name@example.com)."
        }
        (25, Code, ZhCn) => {
            "这不是可以发送邮件的邮箱地址。请检查（最多 100 个字符，格式如 name@example.com）。"
        }
        (25, _, En) if link_endpoint => {
            "This is not the link of one of our mails. Open the link from the mail again, whole."
        }
        (25, _, ZhCn) if link_endpoint => "这不是我们邮件中的链接。请重新完整打开邮件中的链接。",
        (25, Login, En) => {
            "Not accepted. Check the username, and that the password has 8 to 128 characters."
        }
        (25, Login, ZhCn) => "输入不被接受。请检查用户名，并确认密码为 8 到 128 个字符。",
        (25, _, En) if password_endpoint => {
            "Not accepted. Check the e-mail address and the username, and choose a password that is hard to guess: at least 8 characters, better three or four unrelated words, not your name and nothing like \"Password123\"."
        }
        (25, _, ZhCn) if password_endpoint => {
            "输入不被接受。请检查邮箱地址和用户名，并选择不易猜到的密码：至少 8 个字符，最好是三四个互不相关的词，不要用自己的名字，也不要用“Password123”之类的密码。"
        }
        (25, _, En) => "Not accepted. Check the e-mail address and the username.",
        (25, _, ZhCn) => "输入不被接受。请检查邮箱地址和用户名。",
        (26, _, En) => {
            "This username or e-mail address is taken, or too much like one that is. Choose another."
        }
        (26, _, ZhCn) => "此用户名或邮箱已被使用，或与已有的过于相似。请换一个。",
        (27, Code, En) => {
            return format!(
                "Too many codes asked for from your network just now: look in your inbox and spam folder for the last one. Ask again in {}.",
                span(En, waits.address)
            );
        }
        (27, Code, ZhCn) => {
            return format!(
                "刚才从您的网络申请验证码的次数过多：请在收件箱和垃圾邮件文件夹中查找上一封。请 {}后再申请。",
                span(ZhCn, waits.address)
            );
        }
        (27, Reset, En) => {
            return format!(
                "A mail went to this address moments ago, or too many requests came from your network: look in your inbox and spam folder. Try again in {} (up to {} if your network sent many).",
                span(En, waits.mail.max(Duration::from_secs(1))),
                span(En, waits.address)
            );
        }
        (27, Reset, ZhCn) => {
            return format!(
                "刚才已向此邮箱发送过邮件，或从您的网络发出的请求过多：请查看收件箱和垃圾邮件文件夹。请 {}后重试（如果您的网络发出的请求很多，最多 {}）。",
                span(ZhCn, waits.mail.max(Duration::from_secs(1))),
                span(ZhCn, waits.address)
            );
        }
        (28, _, En) => {
            return format!(
                "Nothing is changed yet. If this username and e-mail address belong to one account, we mailed that address a link to confirm the new password: open it within {}, type the new password once more and press \"Confirm the new password\".",
                span(En, waits.reset_link)
            );
        }
        (28, _, ZhCn) => {
            return format!(
                "尚未做任何更改。如果此用户名和邮箱属于同一账户，我们已向该邮箱发送确认新密码的链接：请在 {}内打开，再输入一次新密码并点击“确认新密码”。",
                span(ZhCn, waits.reset_link)
            );
        }
        (27, Login, En) => {
            return format!(
                "Too many attempts. Wait up to {} before signing in again, or set a new password with \"Forgot your password?\".",
                span(En, waits.login)
            );
        }
        (27, Login, ZhCn) => {
            return format!(
                "尝试次数过多。请最多等待 {}后再登录，或通过“忘记密码？”设置新密码。",
                span(ZhCn, waits.login)
            );
        }
        (27, _, En) => {
            return format!(
                "Too many requests just now. Wait up to {} and try again.",
                span(En, waits.address)
            );
        }
        (27, _, ZhCn) => {
            return format!(
                "刚才的请求过多。请最多等待 {}后重试。",
                span(ZhCn, waits.address)
            );
        }
        (code, _, En) => return format!("Something went wrong (code {code}). Try again later."),
        (code, _, ZhCn) => return format!("出现问题（代码 {code}）。请稍后重试。"),
    };
    text.to_owned()
}

/// Adds `message` to every error answer of an endpoint, in the language
/// of the request's `Accept-Language` (English when it names neither).
pub async fn explain_failures(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(request).await?.map_into_boxed_body();
    let failed = response
        .response()
        .extensions()
        .get::<Outcome>()
        .map(|outcome| outcome.status)
        .filter(|status| *status != Status::Success);
    // A success passes untouched; only a failure's sentence needs the
    // endpoint, the reader's language and the waits.
    let Some(status) = failed else {
        return Ok(response);
    };
    let request = response.request();
    let endpoint = Endpoint::of(request.path());
    let waits = request
        .app_data::<Data<Waits>>()
        .map(|waits| *waits.get_ref());
    let (Some(endpoint), Some(waits)) = (endpoint, waits) else {
        return Ok(response);
    };
    let locale = request
        .headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|header| header.to_str().ok())
        .and_then(Locale::from_accept_language)
        .unwrap_or(Locale::En);
    let body = Failed {
        error: status,
        message: Some(message(status, endpoint, locale, &waits)),
    };
    let json = serde_json::to_vec(&body).expect("an answer serialises");
    Ok(response.map_body(|head, _| {
        head.headers_mut().remove(CONTENT_LENGTH);
        json.boxed()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits() -> Waits {
        Waits {
            login: Duration::from_secs(900),
            address: Duration::from_secs(300),
            mail: Duration::from_secs(60),
            reset_link: Duration::from_secs(900),
        }
    }

    #[test]
    fn every_status_has_a_sentence_in_both_languages_at_every_endpoint() {
        use Endpoint::*;
        for status in Status::ALL {
            for endpoint in [
                Code,
                Registration,
                Check,
                Reset,
                PendingReset,
                ConfirmReset,
                Login,
            ] {
                let english = message(status, endpoint, Locale::En, &waits());
                let chinese = message(status, endpoint, Locale::ZhCn, &waits());
                assert!(!english.starts_with("Something went wrong"), "{status:?}");
                assert!(!chinese.starts_with("出现问题"), "{status:?}");
                assert_ne!(english, chinese);
            }
        }
    }

    #[test]
    fn guessable_passwords_say_what_to_do_and_limits_when_to_retry() {
        let reset = message(Status::InputInvalid, Endpoint::Reset, Locale::En, &waits());
        assert!(reset.contains("hard to guess"), "{reset}");
        let login = message(Status::RateLimited, Endpoint::Login, Locale::En, &waits());
        assert!(login.contains("15 minutes"), "{login}");
        let code = message(Status::RateLimited, Endpoint::Code, Locale::ZhCn, &waits());
        assert!(code.contains("5 分钟"), "{code}");
        let mailed = message(
            Status::ResetConfirmationMailed,
            Endpoint::Reset,
            Locale::En,
            &waits(),
        );
        assert!(mailed.contains("within 15 minutes"), "{mailed}");
        let used = message(
            Status::RedisCaptchaNotFound,
            Endpoint::ConfirmReset,
            Locale::En,
            &waits(),
        );
        assert!(used.contains("link was used already"), "{used}");
        let soon = message(Status::RateLimited, Endpoint::Reset, Locale::En, &waits());
        assert!(soon.contains("1 minute"), "{soon}");
    }
}
