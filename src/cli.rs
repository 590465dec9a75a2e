//! The command line, as clap derive types only. Doc comments here are the
//! `--help` text; turning these raw flags into a resolved `Config` happens in
//! `config.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::encode::Format;
use crate::names::KeyCase;

/// AWS SSM Parameter Store as the source of truth for a service's
/// environment and files.
///
/// Parameters live under a team prefix: /<team>/shared/<key> for every app,
/// /<team>/<app>/<key> for one app. `ssmm sync` merges them into an env file
/// for systemd's EnvironmentFile= (or docker, dotenv, shell, json). Values are
/// never printed.
#[derive(Debug, Parser)]
#[command(name = "ssmm", version, about, long_about)]
#[command(after_help = "Examples:\n  \
    ssmm --prefix /acme sync --app api --out /opt/api/.env\n  \
    SSMM_PREFIX_ROOT=/acme ssmm sync --format docker --out api.env\n\n\
Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 --strict violation.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Team root prefix, like /acme [env: SSMM_PREFIX_ROOT]
    #[arg(long, global = true, value_name = "/TEAM", allow_hyphen_values = true)]
    pub prefix: Option<String>,

    /// App name (repeatable; later apps win) [env: SSMM_APP; default: the
    /// current directory's name, lower-cased, '_' -> '-']
    #[arg(long = "app", global = true, value_name = "APP")]
    pub apps: Vec<String>,

    /// How parameter keys become variable names
    #[arg(long, global = true, value_enum, default_value_t = KeyCase::Upper)]
    pub key_case: KeyCase,

    /// AWS region [default: the SDK's chain: AWS_REGION, profile, IMDS]
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// AWS shared-config profile [default: AWS_PROFILE or "default"]
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// SSM endpoint, e.g. a local emulator (also AWS_ENDPOINT_URL,
    /// AWS_ENDPOINT_URL_SSM)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Most SSM read calls in flight at once
    #[arg(long, global = true, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub read_concurrency: u32,

    /// Most SSM write calls in flight at once
    #[arg(long, global = true, default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub write_concurrency: u32,

    /// Attempts per SSM call, first try included
    #[arg(long, global = true, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// The SDK's retry mode [default: standard for reads, adaptive for writes]
    #[arg(long, global = true, value_enum)]
    pub retry_mode: Option<RetryModeArg>,

    /// More diagnostics on stderr (-v counts and timings, -vv each API call,
    /// -vvv pages and attempts); never values
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Diagnostics as text lines or JSON lines
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetryModeArg {
    Standard,
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch the layers, merge them and write an env file (systemd
    /// ExecStartPre=)
    #[command(
        after_help = "Layers, lowest to highest precedence: /<team>/shared/*, \
parameters under /<team> matching every --include-tag, then each --app in order.\n\n\
Examples:\n  \
ssmm --prefix /acme sync --app api --out /opt/api/.env\n  \
ssmm --prefix /acme sync --app api --app api-canary --strict\n  \
ssmm --prefix /acme sync --include-tag env=prod --format json --out env.json\n\n\
systemd:\n  \
ExecStartPre=/usr/local/bin/ssmm --prefix /acme sync --app api --out /opt/api/.env\n  \
EnvironmentFile=/opt/api/.env"
    )]
    Sync(SyncArgs),
}

/// Which layers to read; shared by `sync` and `exec`.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Skip the /<team>/shared layer
    #[arg(long)]
    pub no_shared: bool,

    /// Add the parameters under the prefix whose tags match all of these
    /// (repeatable)
    #[arg(long, value_name = "K=V")]
    pub include_tag: Vec<String>,

    /// Refuse overrides between layers, duplicate and invalid keys (exit 3)
    #[arg(long)]
    pub strict: bool,

    /// Accept an app layer with no parameters
    #[arg(long)]
    pub allow_empty: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// The env file to write
    #[arg(long, default_value = ".env", value_name = "PATH")]
    pub out: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Systemd)]
    pub format: Format,

    /// If SSM cannot be read and --out exists, keep it, warn and exit 0
    #[arg(long)]
    pub keep_on_error: bool,
}
