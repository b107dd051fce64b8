use std::process::ExitCode;

use clap::Parser;
use gateway_server::cli::{Cli, Command};
use gateway_server::config::Settings;
use gateway_server::db::migrations::prepare_database;
use gateway_server::startup::Application;
use gateway_server::telemetry::init_logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            log::error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
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
