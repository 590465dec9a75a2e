//! ssmm: AWS SSM Parameter Store as the source of truth for a service's
//! environment and files. Data flows one way: resolve (`config`) -> fetch
//! (`ssm`, `fetch`) -> merge (`layers`) -> deliver (`encode`, `write`).
//! `main.rs` is a thin shell over `run`; integration tests use the pure
//! parts (encoders, names) directly.

pub mod cli;
pub mod commands;
pub mod config;
pub mod ecs;
pub mod encode;
pub mod error;
pub mod exec;
pub mod fetch;
pub mod files;
pub mod layers;
pub mod log;
pub mod names;
pub mod secret;
pub mod ssm;
pub mod write;

use cli::{Cli, Command, LogFormat};
use error::exit;

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let g = &cli.global;
    log::init(g.verbose, g.quiet, g.log_format == LogFormat::Json);
    let result = match &cli.command {
        Command::Sync(args) => commands::sync::run(g, args).map(|()| exit::OK),
        Command::Exec(args) => commands::exec::run(g, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match &e {
                // SPEC §2 fixes this line exactly, whatever the log format.
                error::Error::NoPrefix => eprintln!("{}", e.render()),
                _ => log::error_line(&e.render()),
            }
            e.exit_code()
        }
    }
}
