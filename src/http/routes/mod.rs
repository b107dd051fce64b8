//! Every route, served and documented from one list ([`api!`]): the
//! endpoints (POST only), each limited per client address; health,
//! readiness, metrics and the OpenAPI document (GET). A route is served at
//! exactly the path and method its `#[utoipa::path]` documents, so it
//! cannot be served undocumented. Another method on one of these paths is
//! a plain-text 405 naming the allowed one; an unknown path is a plain-text
//! 404.

pub(super) mod account;
mod code;
pub(super) mod confirmation;
pub(super) mod health;
pub(super) mod login;
pub(super) mod metrics;
pub(super) mod registration;
pub(super) mod verification;

use std::sync::OnceLock;

use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{Handler, HttpResponse, Resource, Responder, web};
use utoipa::OpenApi;

use super::limits::admit_address;

/// Declares the routes: `endpoints` (what clients call, limited per
/// address) and `operations` (for operators), each a handler annotated
/// with `#[utoipa::path]`. Generates their document ([`Routes`]) and
/// [`configure`], which serves each where its document says.
macro_rules! api {
    (
        endpoints: [$($endpoint:ident :: $endpoint_handler:ident),* $(,)?],
        operations: [$($operation:ident :: $operation_handler:ident),* $(,)?] $(,)?
    ) => {
        /// The paths of every route, and the schemas they name.
        #[derive(OpenApi)]
        #[openapi(paths($($endpoint::$endpoint_handler,)* $($operation::$operation_handler,)*))]
        struct Routes;

        pub fn configure(config: &mut web::ServiceConfig) {
            let routes = Routes::openapi();
            let mut endpoints = web::scope("")
                .wrap(from_fn(admit_address))
                .wrap(from_fn(super::messages::explain_failures));
            $(
                endpoints = endpoints.service(served(
                    &routes,
                    stringify!($endpoint_handler),
                    $endpoint::$endpoint_handler,
                ));
            )*
            $(
                config.service(served(
                    &routes,
                    stringify!($operation_handler),
                    $operation::$operation_handler,
                ));
            )*
            config
                .service(endpoints)
                .default_service(web::to(not_found));
        }
    };
}

api! {
    endpoints: [
        verification::get_verification,
        registration::post_registration,
        account::check_account_exists,
        account::reset_password,
        confirmation::pending_reset,
        confirmation::confirm_reset,
        login::try_login_server,
    ],
    operations: [
        health::healthz,
        health::readyz,
        metrics::metrics,
        self::openapi_json,
    ],
}

/// The title, description and tags of the document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gateway-server",
        description = "The HTTP front door of the chat system (docs/PROTOCOL.md). The five \
            endpoints of the original protocol, and the two of the password-reset confirmation \
            page, take a JSON object (Content-Type `application/json`, `text/json` or none) \
            and always answer HTTP 200 with a JSON object whose integer `error` is the protocol \
            status: 0 with the endpoint's fields, or a failure code with a `message` for people. \
            Each is limited per client address (status 27 over the limit)."
    ),
    tags(
        (name = "accounts", description = "What clients call (docs/PROTOCOL.md §1)"),
        (name = "operations", description = "For load balancers, orchestrators and scrapers")
    )
)]
struct Title;

/// The OpenAPI document as pretty JSON, built once: what `GET /openapi.json`
/// serves and `gateway-server openapi` prints.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = Title::openapi();
        document.merge(Routes::openapi());
        let mut text = document
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        text.push('\n');
        text
    })
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document of this API", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// The resource of `handler`, at the one path and method `routes`
/// documents for the operation `operation_id` (its function's name).
fn served<F, Args>(routes: &utoipa::openapi::OpenApi, operation_id: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let documented = routes.paths.paths.iter().find_map(|(path, item)| {
        let operations = [(&item.get, Method::GET), (&item.post, Method::POST)];
        operations.into_iter().find_map(|(operation, method)| {
            let operation = operation.as_ref()?;
            (operation.operation_id.as_deref() == Some(operation_id))
                .then(|| (path.clone(), method))
        })
    });
    let (path, method) =
        documented.unwrap_or_else(|| panic!("{operation_id} is not documented as a GET or POST"));
    only(&path, method, handler)
}

/// `path` served by `handler` for `method`, 405 for any other method.
fn only<F, Args>(path: &str, method: Method, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    // A GET is also answered to HEAD (load balancers probe with it).
    let head = (method == Method::GET).then(|| web::head().to(handler.clone()));
    let allowed = match head {
        Some(_) => format!("{method}, HEAD"),
        None => method.to_string(),
    };
    let mut resource = web::resource(path).route(web::method(method).to(handler));
    if let Some(head) = head {
        resource = resource.route(head);
    }
    resource.default_service(web::to(move || {
        let allowed = allowed.clone();
        async move {
            HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, allowed))
                .content_type("text/plain; charset=utf-8")
                .body("method not allowed\n")
        }
    }))
}

async fn not_found() -> HttpResponse {
    super::reply::not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_document_is_current() {
        let checked_in = include_str!("../../../openapi.json");
        assert!(
            checked_in == document(),
            "openapi.json is stale: run `cargo run -- openapi > openapi.json`"
        );
    }

    #[test]
    fn every_route_is_documented_once_with_its_method() {
        let document: serde_json::Value = serde_json::from_str(document()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().unwrap().keys().cloned();
                methods.map(move |method| (path.clone(), method))
            })
            .collect();
        documented.sort();
        let expected = [
            ("/check_accountexists", "post"),
            ("/confirm_reset", "post"),
            ("/get_verification", "post"),
            ("/healthz", "get"),
            ("/metrics", "get"),
            ("/openapi.json", "get"),
            ("/pending_reset", "post"),
            ("/post_registration", "post"),
            ("/readyz", "get"),
            ("/reset_password", "post"),
            ("/trylogin_server", "post"),
        ]
        .map(|(path, method)| (path.to_owned(), method.to_owned()));
        assert_eq!(documented, expected);
    }
}
