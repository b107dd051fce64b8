//! The bare baseline of the benchmark (`bench/run.sh`): actix-web handlers
//! that do the gateway's I/O with nothing around it — no actors, no
//! validation, no limits, no access log.
//!
//! * `POST /check_accountexists`: the gateway's SELECT (diesel-async + bb8);
//! * `POST /redis_get`: one Redis GET (bb8 with redis-rs' manager);
//! * `POST /fixed`: a fixed JSON answer, no I/O.
//!
//! `bare_baseline argon2 SECONDS THREADS` instead prints the raw argon2id
//! verify and hash rates of the gateway's parameters on THREADS threads.
//!
//! Configured by the same `GATEWAY_MYSQL__*`, `GATEWAY_REDIS__*` and
//! `GATEWAY_HTTP__PORT` variables as the gateway.

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gateway_server::config::Settings;
use gateway_server::db::schema::Authentication;
use redis::AsyncCommands;
use serde::Deserialize;

#[derive(Deserialize)]
struct Account {
    username: String,
    email: String,
}

struct State {
    mysql: gateway_server::db::DbPool,
    redis: gateway_server::kv::RedisPool,
}

async fn check(state: web::Data<State>, body: web::Json<Account>) -> HttpResponse {
    let mut conn = state.mysql.get().await.expect("mysql");
    let exists: bool = diesel::select(diesel::dsl::exists(
        Authentication::table
            .filter(Authentication::username.eq(&body.username))
            .filter(Authentication::email.eq(&body.email)),
    ))
    .get_result(&mut **conn)
    .await
    .expect("query");
    HttpResponse::Ok().json(serde_json::json!({"error": if exists { 0 } else { 12 }}))
}

async fn redis_get(state: web::Data<State>) -> HttpResponse {
    let conn = state.redis.get().await.expect("redis");
    let mut conn = gateway_server::kv::Connection::clone(&conn);
    let value: Option<String> = conn.get("bench_baseline_key").await.expect("get");
    HttpResponse::Ok().json(serde_json::json!({"error": 0, "value": value}))
}

async fn fixed() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"error": 0, "email": "fixed@example.com"}))
}

fn argon2_rates(seconds: u64, threads: usize) {
    let argon2 = argon2::Argon2::default();
    let stored: PasswordHash = argon2.hash_password(b"Correct-Horse-7").unwrap();
    let run = |work: &(dyn Fn() + Sync)| {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let counts: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut count = 0;
                        while Instant::now() < deadline {
                            work();
                            count += 1;
                        }
                        count
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        counts.iter().sum::<u64>() as f64 / seconds as f64
    };
    let verify = run(&|| {
        argon2
            .verify_password(b"Wrong-Horse-7", &stored)
            .unwrap_err();
    });
    let hash = run(&|| {
        let _: PasswordHash = argon2.hash_password(b"Correct-Horse-7").unwrap();
    });
    println!("argon2id m=19456 t=2 p=1, {threads} threads: verify {verify:.1}/s, hash {hash:.1}/s");
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("argon2") {
        let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
        let threads = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
        argon2_rates(seconds, threads);
        return Ok(());
    }
    let settings = Settings::load(None).expect("settings");
    let port = settings.http.port;
    actix_web::rt::System::new().block_on(async move {
        let state = web::Data::new(State {
            mysql: gateway_server::db::build_pool(&settings.mysql),
            redis: gateway_server::kv::build_pool(&settings.redis).expect("redis settings"),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/check_accountexists", web::post().to(check))
                .route("/redis_get", web::post().to(redis_get))
                .route("/fixed", web::post().to(fixed))
        });
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        server.bind(("127.0.0.1", port))?.run().await
    })
}
