//! ssmm: AWS SSM Parameter Store as the source of truth for a service's
//! environment and files. Data flows one way: resolve (`config`) -> fetch
//! (`ssm`, `fetch`) -> merge (`layers`) -> deliver (`encode`, `write`).
//! `main.rs` is a thin shell over `run`; integration tests use the pure
//! parts (encoders, names) directly.

pub mod cli;
pub mod commands;
pub mod config;
pub mod creds;
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
pub mod layout;
pub mod log;
pub mod names;
pub mod output;
pub mod pending;
pub mod progress;
pub mod require;
pub mod secret;
pub mod ssm;
pub mod stop;
pub mod systemd;
pub mod tty;
pub mod units;
pub mod watch;
pub mod write;

use cli::{Cli, Command, LogFormat};
use config::Config;
use error::exit;

/// One command on the resolved configuration.
fn dispatch(cfg: &Config, command: &Command) -> error::Result<i32> {
    let ok = |r: error::Result<()>| r.map(|()| exit::OK);
    match command {
        Command::Sync(args) => ok(commands::sync::run(cfg, args)),
        Command::Exec(args) => commands::exec::run(cfg, args),
        Command::Put(args) => ok(commands::put::run(cfg, args)),
        Command::List(args) => ok(commands::list::run(cfg, args)),
        Command::Show(args) => ok(commands::show::run(cfg, args)),
        Command::Set(args) => ok(commands::set::run(cfg, args)),
        Command::History(args) => ok(commands::history::run(cfg, args)),
        Command::Rollback(args) => ok(commands::rollback::run(cfg, args)),
        Command::Delete(args) => ok(commands::delete::run(cfg, args)),
        Command::Tag(args) => ok(commands::tag::run(cfg, &args.action)),
        Command::Dirs(args) => ok(commands::dirs::run(cfg, args)),
        Command::Check(args) => ok(commands::check::run(cfg, args)),
        Command::Diff(args) => commands::diff::run(cfg, args),
        Command::Migrate(args) => ok(commands::migrate::run(cfg, args)),
        Command::Systemd(args) => ok(commands::systemd::run(cfg, args)),
        Command::Onboard(args) => ok(commands::onboard::run(cfg, args)),
        Command::Completions(args) => ok(commands::meta::completions(args)),
        Command::Man => ok(commands::meta::man()),
    }
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let g = &cli.global;
    log::init(g.verbose, g.quiet, g.log_format == LogFormat::Json);
    // Before anything slow: a stop signal must end ssmm even as PID 1.
    match cli.command {
        Command::Sync(_) => stop::install(stop::Phase::Sync),
        Command::Exec(_) => stop::install(stop::Phase::BeforeCommand),
        _ => {}
    }
    // `onboard` reads the layers (credentials mode) with no selection flags.
    let no_flags = cli::SelectArgs::default();
    let select = match &cli.command {
        Command::Sync(args) => Some(&args.select),
        Command::Exec(args) => Some(&args.select),
        Command::Systemd(args) => Some(&args.select),
        Command::Onboard(_) => Some(&no_flags),
        _ => None,
    };
    let resolved = match &cli.command {
        Command::Systemd(args) => Config::resolve_for_unit(g, select, &args.unit),
        Command::Onboard(args) => Config::resolve_for_unit(g, select, &args.unit),
        _ => Config::resolve(g, select),
    };
    let result = resolved.and_then(|cfg| dispatch(&cfg, &cli.command));
    match result {
        Ok(code) => code,
        Err(e) => {
            match &e {
                // docs/CONTRACT.md §2 fixes this line exactly, whatever the log format.
                error::Error::NoPrefix => eprintln!("{}", e.render()),
                _ => log::error_line(&e.render()),
            }
            e.exit_code()
        }
    }
}
