//! The command line:
//! `gateway-server [--config PATH] [serve|migrate|verification|balance|all|openapi]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "gateway-server", version, about)]
pub struct Cli {
    /// Settings file; without it `Settings.toml` in the working directory is
    /// read when present. `GATEWAY_<SECTION>__<KEY>` variables override both.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Run the HTTP gateway (the default).
    Serve,
    /// Create the configured database if missing, apply pending migrations, exit.
    Migrate,
    /// Run the verification service (message.VerificationService).
    Verification,
    /// Run the balance service (message.BalancerService).
    Balance,
    /// Run the gateway, the verification and the balance service in one process.
    All,
    /// Print the HTTP API's OpenAPI document (what `GET /openapi.json` serves).
    Openapi,
}
