//! One thin module per subcommand, on top of config, fetch, merge and
//! write; `pipeline` is what `sync` and `exec` share, `admin` what the team
//! admin commands share.

mod admin;
pub mod check;
pub mod delete;
pub mod diff;
pub mod dirs;
pub mod exec;
pub mod history;
pub mod list;
pub mod meta;
pub mod migrate;
pub mod onboard;
mod pipeline;
pub mod put;
pub mod rollback;
pub mod set;
pub mod show;
pub mod sync;
pub mod systemd;
pub mod tag;
