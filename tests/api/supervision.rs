//! Supervision that happens: a panic in each kind of actor, in its handler
//! or in the future it returns, is answered with the request's status code,
//! and the supervisor really restarts the actor (`restarting` rebuilds its
//! resources and counts the restart); an actor that cannot be restarted
//! fails liveness. The panics are armed through `InjectFault`, a message
//! that exists only in test builds (feature `fault-injection`).

use std::time::{Duration, Instant};

use gateway_server::actors::fault::{Fault, InjectFault};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const PASSWORD: &str = "Correct-Horse-7-Battery";

/// Waits until the gateway has counted `count` actor restarts.
async fn until_restarts(app: &TestApp, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.workers.metrics().restarts() < count {
        assert!(
            Instant::now() < deadline,
            "{} restart(s) counted, {count} expected",
            app.workers.metrics().restarts()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.workers.metrics().restarts(), count);
}

/// Arms `fault` in each kind of actor in turn, and checks that the request
/// that meets it gets its status code, that the actor is restarted, and
/// that the next request is served.
async fn each_actor_survives(fault: Fault) {
    let app = TestApp::spawn().await;
    app.register("ursula", "ursula@example.com", PASSWORD).await;
    let check = json!({"username": "nobody", "email": "nobody@example.com"});
    let login = json!({"username": "ursula", "password": PASSWORD});
    let code = |n: u32| json!({"email": format!("mail{n}@example.com")});
    let actors = &app.actors;

    // The account actor (MySQL): 10 for the request that met the panic.
    actors.account.send(InjectFault(fault)).await.unwrap();
    assert_eq!(
        app.call("/check_accountexists", check.clone()).await["error"],
        10
    );
    until_restarts(&app, 1).await;
    assert_eq!(
        app.call("/check_accountexists", check.clone()).await["error"],
        12
    );

    // The captcha actor (Redis, the verification service): 8.
    actors.captcha.send(InjectFault(fault)).await.unwrap();
    assert_eq!(app.call("/get_verification", code(1)).await["error"], 8);
    until_restarts(&app, 2).await;
    assert_eq!(app.call("/get_verification", code(2)).await["error"], 0);

    // The balance actor (the balance service): 3, after the password was
    // checked.
    actors.balance.send(InjectFault(fault)).await.unwrap();
    assert_eq!(
        app.call("/trylogin_server", login.clone()).await["error"],
        3
    );
    until_restarts(&app, 3).await;
    let served: Value = app.call("/trylogin_server", login.clone()).await;
    assert_eq!(served["error"], 0, "{served}");

    // The limits actor: the per-address count is the first thing every
    // request meets, and a request that cannot be counted is let through.
    actors.limits.send(InjectFault(fault)).await.unwrap();
    assert_eq!(
        app.call("/check_accountexists", check.clone()).await["error"],
        12
    );
    until_restarts(&app, 4).await;
    assert_eq!(app.call("/check_accountexists", check).await["error"], 12);
    // Login counting is the limits actor's too, restarted and serving.
    assert_eq!(app.login_status("ursula", PASSWORD).await, 0);

    // Every panic was followed by a restart, none left an actor gone.
    let health = app.request(reqwest::Method::GET, "/healthz").await;
    assert_eq!(health.status(), 200);
}

#[actix_web::test]
async fn a_panic_in_a_handler_is_answered_and_the_actor_restarted() {
    each_actor_survives(Fault::InHandler).await;
}

#[actix_web::test]
async fn a_panic_in_an_answers_future_is_answered_and_the_actor_restarted() {
    each_actor_survives(Fault::InFuture).await;
}

#[actix_web::test]
async fn an_actor_that_cannot_be_restarted_fails_liveness() {
    let app = TestApp::spawn().await;
    let get = async |path: &str| {
        let response = app.request(reqwest::Method::GET, path).await;
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    assert_eq!(get("/healthz").await, (200, json!({"status": "alive"})));

    app.actors
        .account
        .send(InjectFault(Fault::OnRestart))
        .await
        .unwrap();
    let check = json!({"username": "nobody", "email": "nobody@example.com"});
    assert_eq!(
        app.call("/check_accountexists", check.clone()).await["error"],
        10
    );
    // The restart itself panicked: the actor is gone, and every request
    // that needs it gets its status code at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.actors.account.connected() {
        assert!(Instant::now() < deadline, "the account actor still runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.call("/check_accountexists", check).await["error"], 10);
    // The orchestrator is told to restart the process; readiness says so
    // too, so no traffic is sent to it meanwhile.
    let broken = json!({"status": "broken", "gone": ["account"]});
    assert_eq!(get("/healthz").await, (503, broken));
    let unavailable = json!({"status": "unavailable", "gone": ["account"]});
    assert_eq!(get("/readyz").await, (503, unavailable));
    // What does not need the account actor is still served.
    let code = app
        .call("/get_verification", json!({"email": "still@example.com"}))
        .await;
    assert_eq!(code["error"], 0, "{code}");
}
