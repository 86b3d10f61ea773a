use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    motcua::cli::run(motcua::cli::Cli::parse()).await
}
