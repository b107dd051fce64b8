//! Logging: env_logger, `RUST_LOG` honoured, `info` when it is unset (which
//! includes the access log).

pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
}
