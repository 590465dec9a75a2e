//! The command line, as clap derive types only. Doc comments here are the
//! `--help` text; turning these raw flags into a resolved `Config` happens in
//! `config.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::creds::CredsKey;
use crate::encode::Format;
use crate::envfile::Syntax;
use crate::layout::Layout;
use crate::names::KeyCase;
use crate::ssm::{FetchStrategy, RetryMode};
use crate::systemd::{Mode, UnitName, parse_exec_cmd, parse_ssmm_path, parse_unit};
use crate::units::{parse_duration, parse_signal, parse_size, parse_timeout};
use crate::watch::{OnChange, parse_interval, parse_on_change};

/// AWS SSM Parameter Store as the source of truth for a service's
/// environment and files.
///
/// Parameters live under a team prefix: /<team>/shared/<key> for every app,
/// /<team>/<app>/<key> for one app. `ssmm sync` merges them into an env file
/// for systemd's EnvironmentFile= (or docker, dotenv, shell, json, or a
/// directory of systemd credentials); `ssmm
/// exec` runs a command with them (a Docker/ECS entrypoint); `ssmm systemd`
/// writes the drop-in that gives a systemd service them (`onboard`: put an
/// env file, then that); put, set, list, show, history, rollback, delete,
/// tag, dirs, check, diff and migrate manage them. Values are never printed, except by `show` and `check
/// --show-values`.
#[derive(Debug, Parser)]
#[command(name = "ssmm", version, about, long_about)]
#[command(after_help = "Examples:\n  \
    ssmm --prefix /acme sync --app api --out /opt/api/.env\n  \
    SSMM_PREFIX_ROOT=/acme ssmm sync --format docker --out api.env\n  \
    ssmm --prefix /acme exec --init -- /app/server\n  \
    ssmm --prefix /acme put --app api --env api.env\n  \
    ssmm --prefix /acme list --app api\n\n\
Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 --strict violation, \
126/127 exec could not run CMD.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
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

    /// How layers are read: by-path (GetParametersByPath pages of 10, the
    /// fewest API calls), describe (DescribeParameters names, then parallel
    /// GetParameters batches of 10) or auto (by-path; a layer with more than
    /// one page continues with describe)
    #[arg(long, global = true, value_enum, default_value_t = FetchStrategy::ByPath)]
    pub fetch_strategy: FetchStrategy,

    /// Longest one SSM request attempt may take, connecting included; a
    /// stalled answer is retried like a throttled one
    #[arg(long, global = true, default_value = "10s", value_name = "DURATION",
          value_parser = parse_timeout)]
    pub timeout: std::time::Duration,

    /// Longest all of a command's fetching (SSM, ECS metadata, url:
    /// downloads) may take, retries included; then it fails (exit 1)
    #[arg(long, global = true, default_value = "5m", value_name = "DURATION",
          value_parser = parse_timeout)]
    pub total_timeout: std::time::Duration,

    /// Attempts per SSM call, first try included. Reads send a throttled
    /// call again, paced, until --total-timeout: this bounds their other
    /// errors
    #[arg(long, global = true, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// The SDK's retry mode [default: standard for reads, adaptive for
    /// writes]; reads' throttling is paced by ssmm in either
    #[arg(long, global = true, value_enum)]
    pub retry_mode: Option<RetryMode>,

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

    /// Write parameters from KEY=VALUE arguments and/or an env file
    #[command(after_help = PUT_HELP)]
    Put(PutArgs),

    /// Write parameters whose values are typed on the terminal, not echoed
    #[command(after_help = SET_HELP)]
    Set(SetArgs),

    /// List parameter names, types and dates (never values)
    #[command(after_help = "Examples:\n  \
ssmm --prefix /acme list --app api\n  \
ssmm --prefix /acme list --all --keys-only\n  \
ssmm --prefix /acme list --all --tag owner=payments --json")]
    List(ListArgs),

    /// Print one parameter's decrypted value (the command meant to reveal one)
    #[command(
        after_help = "KEY is a variable (DB_URL), a key (db-url) or a path below the app \
(files/tls/cert.pem) in --app's namespace, or a full name (/acme/shared/db-url).\n\n\
Examples:\n  \
ssmm --prefix /acme show DB_URL --app api\n  \
ssmm --prefix /acme show /acme/shared/sentry-dsn --json"
    )]
    Show(ShowArgs),

    /// Every version of a parameter: number, date, who wrote it, type, tier,
    /// labels (never values)
    #[command(
        after_help = "KEY takes the forms show takes. The values are not even \
fetched decrypted (GetParameterHistory without decryption), and never printed.\n\n\
Examples:\n  \
ssmm --prefix /acme history DB_URL --app api\n  \
ssmm --prefix /acme history /acme/shared/sentry-dsn --json"
    )]
    History(HistoryArgs),

    /// Write an earlier version's value, type and tier again as a new version
    #[command(after_help = ROLLBACK_HELP)]
    Rollback(RollbackArgs),

    /// Delete one parameter, or every parameter of an app
    #[command(
        after_help = "Deleting a whole app (--app A --all) asks for confirmation on a \
terminal; elsewhere it needs -y. Deletes run in batches of 10.\n\n\
Examples:\n  \
ssmm --prefix /acme delete OLD_TOKEN --app api\n  \
ssmm --prefix /acme delete --app api-canary --all -y"
    )]
    Delete(DeleteArgs),

    /// Add, remove or list a parameter's tags
    #[command(after_help = "Examples:\n  \
ssmm --prefix /acme tag add DB_URL owner=payments tier=1 --app api\n  \
ssmm --prefix /acme tag remove DB_URL tier --app api\n  \
ssmm --prefix /acme tag list DB_URL --app api")]
    Tag(TagArgs),

    /// Every app namespace under the prefix, with parameter counts and the
    /// last change
    #[command(after_help = "Examples:\n  \
ssmm --prefix /acme dirs\n  \
ssmm --prefix /acme dirs --json")]
    Dirs(DirsArgs),

    /// Find the same key in several apps and identical values across
    /// parameters
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),

    /// Compare a local env file with an app's parameters (exit 0 equal, 1
    /// different)
    #[command(
        after_help = "Variables are compared by name: + only in the file (put would add it), \
- only in SSM, ~ in both with different values. Values are never shown: a changed value is \
shown as hash prefixes (SHA-256 keyed with a random per-run salt).\n\n\
Examples:\n  \
ssmm --prefix /acme diff --app api --env /opt/api/.env\n  \
ssmm --prefix /acme diff --app api --json"
    )]
    Diff(DiffArgs),

    /// Move an app's parameters to a new app (or path) in three safe steps
    #[command(after_help = MIGRATE_HELP)]
    Migrate(MigrateArgs),

    /// Print (or --apply: install) the systemd drop-in that gives a service
    /// its parameters
    #[command(after_help = SYSTEMD_HELP)]
    Systemd(SystemdArgs),

    /// Put an env file's variables, then install the service's drop-in
    /// (without --apply: the plan only)
    #[command(after_help = ONBOARD_HELP)]
    Onboard(OnboardArgs),

    /// Print a shell completion script
    #[command(after_help = "Examples:\n  \
ssmm completions bash > /etc/bash_completion.d/ssmm\n  \
ssmm completions zsh > \"${fpath[1]}/_ssmm\"\n  \
ssmm completions fish > ~/.config/fish/completions/ssmm.fish")]
    Completions(CompletionsArgs),

    /// Print the man page (roff)
    #[command(after_help = "Examples:\n  \
ssmm man > /usr/local/share/man/man1/ssmm.1\n  \
ssmm man | man -l -")]
    Man,
}

const PUT_HELP: &str = "Each VARIABLE becomes the key /<prefix>/<app>/<variable lower-cased, _ -> ->. \
Variables ending in _PATH _DIR _CHANNEL _NAME _HOST _PORT _REGION _ENDPOINT are String, \
everything else (including _URL) SecureString; --plain-key, --secure and --plain-all decide \
instead. Every parameter is tagged app=<app>. Existing parameters are left alone unless \
--overwrite; a replaced parameter keeps its type (a SecureString stays a SecureString, a \
String a String) unless --plain-key, --secure or --plain-all names it. Prints one line per \
key: name, type, why (auto: suffix, auto: default, flag or existing), len=N (never the \
value).\n\n\
KEY=VALUE arguments are visible to other users in the process list and stay in shell \
history: prefer --env FILE (or --env - for stdin) for secrets.\n\n\
Examples:\n  \
ssmm --prefix /acme put --app api --env api.env\n  \
ssmm --prefix /acme put --app api SLACK_CHANNEL=#ops --tag owner=payments\n  \
ssmm --prefix /acme put --app api --env - --overwrite < api.env\n  \
ssmm --prefix /acme put --app shared SENTRY_DSN=https://... --plain-key SENTRY_DSN";

const SET_HELP: &str = "KEY takes the forms show takes: a variable (DB_URL), a key (db-url), a \
path below the app (files/tls/key.pem) or a full name (/acme/shared/db-url). Each value is \
read from the terminal (/dev/tty) with echo off, after a prompt naming the parameter; \
every value is asked for before anything is written. An empty answer (or end of input) \
aborts with nothing written (exit 1), and so does Ctrl-C (exit 130, the terminal restored). \
A typed value is one line of at most 4094 bytes (the terminal's line limit); a pasted \
multi-line value is refused and its other lines discarded. For longer or multi-line \
values use put --env -. With no terminal to ask on, set exits 2: use \
`ssmm put --env -` instead.\n\n\
Then it writes like put: SecureString unless the key's last segment has a String suffix \
(_PATH _DIR _CHANNEL _NAME _HOST _PORT _REGION _ENDPOINT) or a type flag names it; \
tagged app=<app> (the namespace the parameter is in) and each --tag; an existing \
parameter is refused before the first prompt unless --overwrite, and then keeps its type \
unless a type flag names it. One line per key: name, type, why, len=N (never the value).\n\n\
Examples:\n  \
ssmm --prefix /acme set DB_PASSWORD --app api\n  \
ssmm --prefix /acme set API_TOKEN /acme/shared/sentry-dsn --app api --overwrite\n  \
ssmm --prefix /acme set SENTRY_DSN --app api --plain-key SENTRY_DSN --tag owner=ops";

const ROLLBACK_HELP: &str = "KEY takes the forms show takes. Version N's value (read \
decrypted, never printed), type, tier and KMS key are written with PutParameter as a new \
version; earlier versions, their labels and the parameter's tags stay as they are. An \
Advanced parameter stays Advanced (SSM cannot move one back to Standard); when version N's \
type differs from the current one, the new version takes N's type, with a warning. Rolling \
back to the current version is allowed: it writes the same value again as a new version. \
Prints `rolled back NAME to version N's value (TYPE, TIER): now version M`. A version that \
does not exist exits 1.\n\n\
Examples:\n  \
ssmm --prefix /acme history DB_URL --app api\n  \
ssmm --prefix /acme rollback DB_URL --app api --to-version 3";

const CHECK_HELP: &str = "--duplicates: the same key in several apps. --values: parameters \
holding identical values, grouped by a hash prefix (SHA-256 keyed with a random per-run salt, \
so the prefixes group values within one report but cannot be used to guess them). With \
neither, both checks run. --show-values prints the shared values instead of hashes.\n\n\
Examples:\n  \
ssmm --prefix /acme check\n  \
ssmm --prefix /acme check --values --json";

const MIGRATE_HELP: &str = "OLD and NEW are app names under the prefix, or full paths \
(/acme/old-api). Three steps, each safe to repeat:\n  \
1. ssmm migrate OLD NEW                        copy values, types, tiers, KMS keys, \
descriptions and tags (an app=OLD tag becomes app=NEW)\n  \
2. ssmm migrate OLD NEW --delete-old           verify every copy, write a JSON backup of \
OLD (mode 0600, at an unpredictable path it prints) and list what would be deleted\n  \
3. ssmm migrate OLD NEW --delete-old --confirm verify again, back up again, delete OLD\n\n\
Nothing is deleted unless every copy verifies. An existing parameter under NEW with a \
different value stops step 1 unless --overwrite.\n\n\
Examples:\n  \
ssmm --prefix /acme migrate api api-v2\n  \
ssmm --prefix /acme migrate api api-v2 --delete-old --backup-dir /root/backups";

const SYSTEMD_HELP: &str = "UNIT is a service: NAME or NAME.service, an instance such as \
app@blue.service (a bare template app@.service is refused, and so is another unit type such \
as .socket). The app defaults to --app, else $SSMM_APP, else the unit's name (api.service: \
api). The layout, prefix (or cluster) and apps in effect, and the selection options given, \
are written into the command line, so the unit does not depend on the environment it was \
generated in. files/ parameters are not written (--no-files) unless --root DIR is given: a \
service's working directory is not yours.\n\n\
Modes:\n  \
sync         ExecStartPre=+ssmm sync --out /run/ssmm/UNIT/env (tmpfs; '+': as root even with \
User=; --user: %t/ssmm/UNIT/env, no '+'), and EnvironmentFile=- that file\n  \
exec         ExecStart= reset, then ssmm exec -- CMD (--exec-cmd, required), run as the \
service's user\n  \
credentials  a oneshot ssmm-UNIT.service (Before=UNIT, required by it) running ssmm sync \
--format credentials-encrypted --out /etc/credstore.encrypted/UNIT, and one \
LoadCredentialEncrypted=VAR:PATH per variable the layers hold now (fetched now, names only: \
run the command again when variables are added or removed). System units only.\n\n\
--exec-cmd CMD is one string written as it is after `ssmm exec --`, in systemd's syntax: \
quote arguments holding spaces, write %% for a literal % and $$ for a literal $ (systemd \
replaces $NAME from the unit's environment before ssmm runs). Empty commands, control \
characters, unbalanced quotes and a lone ; are refused.\n\n\
Without --apply the units are printed on stdout (the oneshot first, then the drop-in) and \
nothing is written. --apply writes them atomically, mode 0644, to \
/etc/systemd/system/UNIT.d/ssmm.conf (and ssmm-UNIT.service), or with --user under \
~/.config/systemd/user ($SSMM_SYSTEMD_UNIT_DIR instead of either), then runs systemctl \
[--user] daemon-reload; an existing target that is a symlink or not a regular file is \
refused (exit 2) before anything is written. A systemctl that fails or is missing is exit 1, \
after the units were written.\n\n\
Examples:\n  \
ssmm --prefix /acme systemd api --mode sync\n  \
ssmm --prefix /acme systemd api --mode exec --exec-cmd '/opt/api/bin/api --port 8080' --apply\n  \
ssmm --prefix /acme systemd api --mode credentials --apply\n  \
ssmm --prefix /acme systemd web --user --mode sync --app web --app web-canary";

const ONBOARD_HELP: &str = "Puts the variables of --env FILE under /<prefix>/<app>/ exactly as \
`ssmm put --env FILE` does (the same types, tags, --overwrite rule and output lines), then \
writes the units as `ssmm systemd UNIT --apply` does and runs systemctl daemon-reload. The app \
defaults to --app, else $SSMM_APP, else the unit's name; --mode defaults to sync.\n\n\
Without --apply nothing is written to SSM or to disk: it prints the plan, the parameters \
that would be created or replaced and those that already exist (refused without \
--overwrite: then the plan ends there, exit 1, as put would), then the units it would \
write.\n\n\
Examples:\n  \
ssmm --prefix /acme onboard api --env /opt/api/.env\n  \
ssmm --prefix /acme onboard api --env /opt/api/.env --mode credentials --apply";

/// Which layers to read; shared by `sync`, `exec` and `systemd`.
#[derive(Debug, Args, Clone, Default)]
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

    /// Fail (exit 1, nothing written or started) unless VAR is delivered:
    /// in the env file for sync, in CMD's environment for exec (repeatable)
    #[arg(long, value_name = "VAR")]
    pub require: Vec<String>,

    /// Require every variable named in this env file, such as .env.example
    /// (its values are ignored; repeatable)
    #[arg(long, value_name = "FILE")]
    pub require_from: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// The env file to write [default: .env]; with --format credentials or
    /// credentials-encrypted, the directory (required)
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Systemd)]
    pub format: Format,

    /// The key systemd-creds encrypts with (--format credentials-encrypted)
    #[arg(long, value_enum, default_value_t = CredsKey::Auto, value_name = "KEY")]
    pub creds_key: CredsKey,

    /// If SSM cannot be read and --out exists, keep it, warn and exit 0
    #[arg(long)]
    pub keep_on_error: bool,

    /// After the first sync, check again every INTERVAL and rewrite what
    /// changed, until stopped (a sidecar); a failed check keeps the old
    /// files
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub watch: Option<Duration>,

    /// Wait a random 0..D before the first fetch (a fleet spreading its
    /// start); with --watch, also before each check, on top of INTERVAL
    /// [default with --watch: INTERVAL/10]
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub splay: Option<Duration>,

    /// After a write that changed anything, run CMD with /bin/sh -c (its
    /// failure is exit 1, or a warning under --watch)
    #[arg(long, value_name = "CMD")]
    pub on_change: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Also write the merged variables to this env file
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Format of --out
    #[arg(long, value_enum, default_value_t = Format::Systemd, requires = "out")]
    pub format: Format,

    /// The key systemd-creds encrypts with (--format credentials-encrypted)
    #[arg(long, value_enum, default_value_t = CredsKey::Auto, value_name = "KEY",
          requires = "out")]
    pub creds_key: CredsKey,

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

    /// With --init: check again every INTERVAL and, on a change, rewrite
    /// the files and --out, then restart or signal CMD (--on-change)
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub watch: Option<Duration>,

    /// Wait a random 0..D before the first fetch; with --watch, also before
    /// each check, on top of INTERVAL [default with --watch: INTERVAL/10]
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub splay: Option<Duration>,

    /// What a change does under --watch: restart (stop CMD, start it with
    /// the new environment) or signal:SIG (send SIG, e.g. signal:HUP; the
    /// environment stays)
    #[arg(long, value_name = "MODE", default_value = "restart",
          value_parser = parse_on_change, requires = "watch")]
    pub on_change: OnChange,

    /// The signal that stops CMD for a restart or when ssmm is stopped
    /// under --watch
    #[arg(long, value_name = "SIG", default_value = "TERM",
          value_parser = parse_signal, requires = "watch")]
    pub stop_signal: i32,

    /// How long CMD has to exit after --stop-signal before SIGKILL
    #[arg(long, value_name = "D", default_value = "10s",
          value_parser = parse_duration, requires = "watch")]
    pub stop_timeout: Duration,

    /// The command to run, after `--`
    #[arg(required = true, last = true, value_name = "CMD",
          value_parser = clap::value_parser!(std::ffi::OsString))]
    pub cmd: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct SystemdArgs {
    /// The service: NAME or NAME.service (an instance: app@blue.service)
    #[arg(value_name = "UNIT", value_parser = parse_unit)]
    pub unit: UnitName,

    /// How the service gets its parameters
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Mode,

    #[command(flatten)]
    pub select: SelectArgs,

    #[command(flatten)]
    pub units: UnitArgs,
}

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// The service: NAME or NAME.service (an instance: app@blue.service)
    #[arg(value_name = "UNIT", value_parser = parse_unit)]
    pub unit: UnitName,

    /// The env file whose variables are put ("-": standard input)
    #[arg(long, value_name = "FILE", required = true)]
    pub env: PathBuf,

    /// How backslashes in double quotes read: shell (as sh and systemd) or
    /// dotenv (as python-dotenv)
    #[arg(long, value_enum, default_value_t = Syntax::Shell, value_name = "SYNTAX")]
    pub env_syntax: Syntax,

    /// How the service gets its parameters
    #[arg(long, value_enum, value_name = "MODE", default_value = "sync")]
    pub mode: Mode,

    #[command(flatten)]
    pub write: WriteArgs,

    #[command(flatten)]
    pub units: UnitArgs,
}

/// What `systemd` and `onboard` share: how the units run ssmm and where
/// they go.
#[derive(Debug, Args)]
pub struct UnitArgs {
    /// --mode exec: the service's command line, written as it is after
    /// `ssmm exec --` (systemd syntax: "quoted words", %% for %, $$ for $)
    #[arg(long, value_name = "CMD", value_parser = parse_exec_cmd,
          required_if_eq("mode", "exec"))]
    pub exec_cmd: Option<String>,

    /// A user unit: ~/.config/systemd/user, systemctl --user
    #[arg(long)]
    pub user: bool,

    /// The ssmm binary the unit runs (absolute) [default: this one's path]
    #[arg(long, value_name = "PATH", value_parser = parse_ssmm_path)]
    pub ssmm_path: Option<PathBuf>,

    /// Write the units and run systemctl daemon-reload (else: print them)
    #[arg(long)]
    pub apply: bool,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// VARIABLE=VALUE pairs (after --env's, so they win)
    #[arg(value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,

    /// Read variables from this env file ("-": standard input)
    #[arg(long, value_name = "FILE")]
    pub env: Option<PathBuf>,

    /// How backslashes in double quotes read: shell (as sh and systemd; also
    /// files from sync --format systemd|shell) or dotenv (as python-dotenv;
    /// files from sync --format dotenv)
    #[arg(long, value_enum, default_value_t = Syntax::Shell, value_name = "SYNTAX")]
    pub env_syntax: Syntax,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// How `put` and `set` type, tag and store what they write.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Store this variable as String (repeatable)
    #[arg(long, value_name = "KEY")]
    pub plain_key: Vec<String>,

    /// Store this variable as SecureString (repeatable)
    #[arg(long, value_name = "KEY")]
    pub secure: Vec<String>,

    /// Store every variable as String
    #[arg(long, conflicts_with = "secure")]
    pub plain_all: bool,

    /// Also tag every parameter K=V (repeatable)
    #[arg(long, value_name = "K=V")]
    pub tag: Vec<String>,

    /// Advanced tier (values up to 8 KB; charged by AWS)
    #[arg(long)]
    pub advanced: bool,

    /// KMS key for SecureString parameters [default: alias/aws/ssm]
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,

    /// Replace parameters that already exist (each keeps its type unless a
    /// type flag names it)
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Variable, key, path below the app, or full parameter name
    /// (repeatable: every value is asked for before anything is written)
    #[arg(value_name = "KEY", required = true)]
    pub keys: Vec<String>,

    #[command(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Variable, key, path below the app, or full parameter name
    #[arg(value_name = "KEY")]
    pub key: String,

    /// One JSON array of objects, one per version
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Variable, key, path below the app, or full parameter name
    #[arg(value_name = "KEY")]
    pub key: String,

    /// The version whose value, type and tier become the new version
    #[arg(long, value_name = "N", required = true, value_parser = parse_version)]
    pub to_version: i64,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every parameter under the prefix, not just --app's
    #[arg(long)]
    pub all: bool,

    /// Only the parameter names, one per line
    #[arg(long, conflicts_with = "json")]
    pub keys_only: bool,

    /// Only parameters with this tag (repeatable; all must match)
    #[arg(long, value_name = "K=V")]
    pub tag: Vec<String>,

    /// One JSON array of objects
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Variable, key, path below the app, or full parameter name
    #[arg(value_name = "KEY")]
    pub key: String,

    /// A JSON object with the value and its metadata
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Variable, key, path below the app, or full parameter name
    #[arg(
        value_name = "KEY",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub key: Option<String>,

    /// Delete every parameter of --app (files/ included)
    #[arg(long)]
    pub all: bool,

    /// Do not ask for confirmation
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[command(subcommand)]
    pub action: TagAction,
}

#[derive(Debug, Subcommand)]
pub enum TagAction {
    /// Add or replace tags: tag add KEY K=V...
    Add {
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "K=V", required = true)]
        tags: Vec<String>,
    },
    /// Remove tags by key: tag remove KEY K...
    Remove {
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "K", required = true)]
        tag_keys: Vec<String>,
    },
    /// List tags as K=V lines
    List {
        #[arg(value_name = "KEY")]
        key: String,
        /// One JSON object of tag key -> value
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct DirsArgs {
    /// One JSON array of objects
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Report keys present in more than one app
    #[arg(long)]
    pub duplicates: bool,

    /// Report parameters that hold identical values
    #[arg(long)]
    pub values: bool,

    /// Print the identical values themselves instead of hash prefixes
    #[arg(long)]
    pub show_values: bool,

    /// One JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The local env file (.env syntax; see --env-syntax)
    #[arg(long, default_value = ".env", value_name = "FILE")]
    pub env: PathBuf,

    /// How backslashes in double quotes read: shell (as sh and systemd; also
    /// files from sync --format systemd|shell) or dotenv (as python-dotenv;
    /// files from sync --format dotenv)
    #[arg(long, value_enum, default_value_t = Syntax::Shell, value_name = "SYNTAX")]
    pub env_syntax: Syntax,

    /// One JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Source app (or full path)
    #[arg(value_name = "OLD")]
    pub old: String,

    /// Destination app (or full path)
    #[arg(value_name = "NEW")]
    pub new: String,

    /// Verify the copies, back up OLD and list what would be deleted
    #[arg(long)]
    pub delete_old: bool,

    /// With --delete-old: really delete OLD
    #[arg(long, requires = "delete_old")]
    pub confirm: bool,

    /// Replace parameters under NEW whose value differs
    #[arg(long, conflicts_with = "delete_old")]
    pub overwrite: bool,

    /// Where the backup goes [default: $TMPDIR or /tmp]
    #[arg(long, value_name = "DIR", requires = "delete_old")]
    pub backup_dir: Option<PathBuf>,
}

/// A version number: a positive integer.
fn parse_version(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a version number: 1, 2, 3...".to_string()),
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
