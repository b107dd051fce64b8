//! The small site at `/` (`http.pages`, on by default): create an account,
//! forgot password, check an account, sign in, and the page a reset's
//! confirmation link opens (`/confirm#<token>`). Static pages and one script
//! and stylesheet, built into the binary; the script posts to the
//! endpoints, same origin. Nothing here is API: the pages add none.
//!
//! Every answer carries a Content-Security-Policy that allows only this
//! origin's script, style and `fetch` (no inline script, no framing), no
//! referrer and `nosniff`; the pages are never cached (`no-store`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, guard, web};

/// Only this origin's script, style and `fetch`; no form submits natively
/// (the script posts JSON; without it a form must not put a password into
/// a URL), no framing, no base or plugin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; \
    base-uri 'none'; frame-ancestors 'none'";

/// Path, content type, body: every page and asset.
const FILES: [(&str, &str, &str); 8] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../pages/index.html"),
    ),
    (
        "/register",
        "text/html; charset=utf-8",
        include_str!("../../pages/register.html"),
    ),
    (
        "/reset",
        "text/html; charset=utf-8",
        include_str!("../../pages/reset.html"),
    ),
    (
        "/confirm",
        "text/html; charset=utf-8",
        include_str!("../../pages/confirm.html"),
    ),
    (
        "/check",
        "text/html; charset=utf-8",
        include_str!("../../pages/check.html"),
    ),
    (
        "/login",
        "text/html; charset=utf-8",
        include_str!("../../pages/login.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../pages/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_str!("../../pages/app.css"),
    ),
];

/// Serves every page at its path (GET and HEAD).
pub fn configure(config: &mut web::ServiceConfig) {
    for (path, content_type, body) in FILES {
        config.route(
            path,
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(move || async move { page(content_type, body) }),
        );
    }
}

fn page(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn no_page_holds_inline_script_or_style() {
        for (path, content_type, body) in FILES {
            if content_type.starts_with("text/html") {
                for forbidden in [
                    "<script>",
                    "onclick=",
                    "onsubmit=",
                    "style=",
                    "<style",
                    "javascript:",
                ] {
                    assert!(!body.contains(forbidden), "{path} holds {forbidden:?}");
                }
                assert!(
                    body.contains(r#"<script src="/assets/app.js" defer></script>"#),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn every_form_posts_and_waits_for_the_script() {
        for (path, _, body) in FILES {
            for form in body.split("<form ").skip(1) {
                assert!(
                    form.starts_with(r#"method="post" "#),
                    "{path}: <form {form:.40}"
                );
                let button = form
                    .split("<button type=\"submit\"")
                    .nth(1)
                    .expect("a submit button");
                assert!(
                    button.starts_with(" disabled"),
                    "{path}: the button waits for app.js"
                );
            }
        }
    }

    #[test]
    fn every_input_has_a_label() {
        for (path, _, body) in FILES {
            for input in body.split("<input ").skip(1) {
                let id = input
                    .split("id=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("{path}: an input without an id"));
                assert!(
                    body.contains(&format!("<label for=\"{id}\"")),
                    "{path}: #{id}"
                );
            }
        }
    }
}
