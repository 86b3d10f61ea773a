use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = motcua::cli::Cli::parse();
    match motcua::startup::runtime() {
        Ok(runtime) => runtime.block_on(motcua::cli::run(cli)),
        Err(err) => {
            eprintln!("motcua: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}
