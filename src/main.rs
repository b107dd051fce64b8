use std::process::ExitCode;

use clap::Parser;
use gateway_server::cli::{Cli, Command};
use gateway_server::config::Settings;
use gateway_server::db::migrations::prepare_database;
use gateway_server::services::{self, balance::BalanceServer, verification::VerificationServer};
use gateway_server::startup::{AllInOne, Application, shutdown_signal};
use gateway_server::telemetry::init_logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", gateway_server::http::openapi_document());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            log::error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = actix_web::rt::System::new().block_on(async move {
        match command {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Verification => verification(settings).await,
            Command::Balance => balance(settings).await,
            Command::All => all(settings).await,
            Command::Openapi => unreachable!("answered before the settings are read"),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let application = Application::build(settings).await?;
    application.run_until_stopped().await?;
    log::info!("gateway stopped");
    Ok(())
}

async fn migrate(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let applied = prepare_database(&settings.mysql).await?;
    if applied.is_empty() {
        log::info!("database `{}` is up to date", settings.mysql.database);
    }
    for version in applied {
        log::info!("applied migration {version}");
    }
    Ok(())
}

async fn verification(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let service = VerificationServer::new(&settings)?;
    let stop = shutdown_signal()?;
    let listener = services::bind(&settings.verification.host, settings.verification.port).await?;
    services::serve_verification(service, listener, stop).await?;
    Ok(())
}

async fn balance(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let service = BalanceServer::new(&settings)?;
    let stop = shutdown_signal()?;
    let listener = services::bind(&settings.balance.host, settings.balance.port).await?;
    if settings.balance.metrics_port != 0 {
        let registry = gateway_server::metrics::namespaced_registry()?;
        registry.register(Box::new(service.up_gauge()))?;
        let metrics = std::net::TcpListener::bind((
            settings.balance.host.as_str(),
            settings.balance.metrics_port,
        ))?;
        actix_web::rt::spawn(services::serve_metrics(registry, metrics)?);
    }
    services::serve_balance(service, listener, stop).await?;
    Ok(())
}

async fn all(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let system = AllInOne::build(settings).await?;
    system.gateway.run_until_stopped().await?;
    log::info!("gateway stopped");
    Ok(())
}
