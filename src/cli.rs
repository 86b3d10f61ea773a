//! The `motcua` command line. Results go to stdout; logs and warnings to stderr.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "motcua", version, about = "The citizen mobile app gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and migrate the database, then serve HTTP until SIGTERM/SIGINT.
    Serve,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Print the OpenAPI document (the one committed as openapi/openapi.json).
    Openapi,
}

pub async fn run(cli: Cli) -> ExitCode {
    if let Command::Openapi = cli.command {
        return print(&crate::startup::openapi_json());
    }
    let config = match Config::load() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("motcua: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_logs(
        config.log_format,
        std::io::stderr,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Openapi => unreachable_command(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "motcua failed");
            eprintln!("motcua: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let applied = crate::db::MIGRATOR.iter().count();
    pool.close().await;
    print(&serde_json::json!({ "migrations": applied, "status": "up-to-date" }).to_string());
    Ok(())
}

fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let ok = out.write_all(text.as_bytes()).is_ok()
        && (text.ends_with('\n') || out.write_all(b"\n").is_ok())
        && out.flush().is_ok();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `openapi` returns before configuration is read, so it never reaches the dispatch.
fn unreachable_command() -> anyhow::Result<()> {
    anyhow::bail!("command handled earlier")
}
