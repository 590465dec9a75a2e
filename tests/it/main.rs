//! The one integration test crate: every area of ssmm's behaviour, run
//! through the real binary against a moto SSM server (see `support`).

mod support;

mod admin;
mod arm64;
mod bad_input;
mod canary;
mod check_diff_migrate;
mod crash;
mod credentials;
mod creds_format;
mod ecs_discovery;
mod encode_roundtrip;
mod exec;
mod fault_matrix;
mod fetch_strategy;
mod files;
mod fleet;
mod harness;
mod history;
mod init;
mod properties;
mod references;
mod set;
mod sync;
mod systemd;
mod templates;
mod timeouts;
mod watch;
