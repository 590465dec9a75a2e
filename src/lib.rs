//! ssmm: AWS SSM Parameter Store as the source of truth for a service's
//! environment and files. Data flows one way: resolve (`config`) -> fetch
//! (`ssm`, `fetch`) -> merge (`layers`) -> deliver (`encode`, `write`).
//! `main.rs` is a thin shell over `run`; integration tests use the pure
//! parts (encoders, names) directly.

pub mod cli;
pub mod commands;
pub mod config;
pub mod deliver;
pub mod ecs;
pub mod encode;
pub mod envfile;
pub mod error;
pub mod exec;
pub mod fetch;
pub mod files;
mod http;
pub mod layers;
pub mod log;
pub mod names;
pub mod output;
pub mod pending;
pub mod progress;
pub mod secret;
pub mod ssm;
pub mod stop;
pub mod units;
pub mod write;

use cli::{Cli, Command, LogFormat};
use error::exit;

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let g = &cli.global;
    log::init(g.verbose, g.quiet, g.log_format == LogFormat::Json);
    if matches!(cli.command, Command::Sync(_) | Command::Exec(_)) {
        // Before anything slow: a stop signal must end ssmm even as PID 1.
        stop::install();
    }
    let result = config::check_env_encoding().and_then(|()| match &cli.command {
        Command::Sync(args) => commands::sync::run(g, args).map(|()| exit::OK),
        Command::Exec(args) => commands::exec::run(g, args),
        Command::Put(args) => commands::put::run(g, args).map(|()| exit::OK),
        Command::List(args) => commands::list::run(g, args).map(|()| exit::OK),
        Command::Show(args) => commands::show::run(g, args).map(|()| exit::OK),
        Command::Delete(args) => commands::delete::run(g, args).map(|()| exit::OK),
        Command::Tag(args) => commands::tag::run(g, &args.action).map(|()| exit::OK),
        Command::Dirs(args) => commands::dirs::run(g, args).map(|()| exit::OK),
        Command::Check(args) => commands::check::run(g, args).map(|()| exit::OK),
        Command::Diff(args) => commands::diff::run(g, args),
        Command::Migrate(args) => commands::migrate::run(g, args).map(|()| exit::OK),
        Command::Completions(args) => commands::meta::completions(args).map(|()| exit::OK),
        Command::Man => commands::meta::man().map(|()| exit::OK),
    });
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
