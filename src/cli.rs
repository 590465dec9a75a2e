//! The command line, as clap derive types only. Doc comments here are the
//! `--help` text; turning these raw flags into a resolved `Config` happens in
//! `config.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Layout, parse_duration, parse_size};
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
    /// ECS container name, else the current directory's name, lower-cased,
    /// '_' -> '-']
    #[arg(long = "app", global = true, value_name = "APP")]
    pub apps: Vec<String>,

    /// Parameter layout: team (/<team>/shared, /<team>/<app>) or ecs
    /// (/<cluster>/environment, /<cluster>/<app>/environment) [env:
    /// SSMM_LAYOUT; default: team]
    #[arg(long, global = true, value_enum)]
    pub layout: Option<Layout>,

    /// ECS cluster for --layout ecs [env: SSMM_CLUSTER; default: from ECS
    /// metadata]
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// How long to wait for ECS metadata (e.g. 10s, 500ms)
    #[arg(long, global = true, default_value = "10s", value_name = "DURATION",
          value_parser = parse_duration)]
    pub ecs_timeout: std::time::Duration,

    /// Largest file a `url:` parameter may download (e.g. 64MiB, 1048576)
    #[arg(long, global = true, default_value = "64MiB", value_name = "SIZE",
          value_parser = parse_size)]
    pub max_file_size: u64,

    /// Directory that files/ parameters are written under [default: the
    /// current directory]
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "no_files")]
    pub root: Option<PathBuf>,

    /// Do not read or write files/ parameters
    #[arg(long, global = true)]
    pub no_files: bool,

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

    /// Fetch and merge like sync, then run CMD with the merged environment
    /// (Docker/ECS ENTRYPOINT)
    #[command(
        after_help = "CMD replaces ssmm (execve: same PID, signals go straight to it). \
With --init, ssmm stays as the parent instead (PID 1 in a container): it forwards signals, \
reaps zombies and exits with CMD's code, or 128+N when CMD died of signal N.\n\n\
Inherited variables whose value is ssm:/path or ssm:///path are replaced by that \
parameter's decrypted value (including /aws/reference/secretsmanager/<id>).\n\n\
Examples:\n  \
ENTRYPOINT [\"/usr/local/bin/ssmm\", \"exec\", \"--init\", \"--\"]\n  \
ssmm --layout ecs --cluster prod exec --app web -- /app/server\n  \
DB_URL=ssm:///acme/api/db-url ssmm --prefix /acme exec -- ./run.sh\n\n\
Exit codes: CMD's own; 1 fetch or write failure (CMD not started); 2 usage; 3 --strict; \
126 CMD not executable; 127 CMD not found."
    )]
    Exec(ExecArgs),
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

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Also write the merged variables to this env file
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Format of --out
    #[arg(long, value_enum, default_value_t = Format::Systemd, requires = "out")]
    pub format: Format,

    /// Stay as the parent (PID 1): forward signals, reap zombies, pass the
    /// exit code through
    #[arg(long)]
    pub init: bool,

    /// Start CMD with only the merged parameters, not ssmm's environment
    #[arg(long)]
    pub pristine: bool,

    /// Inherited variables win over parameters of the same name
    #[arg(long)]
    pub no_override: bool,

    /// The command to run, after `--`
    #[arg(required = true, last = true, value_name = "CMD",
          value_parser = clap::value_parser!(std::ffi::OsString))]
    pub cmd: Vec<std::ffi::OsString>,
}
