//! One thin module per subcommand, on top of config, fetch, merge and
//! write; `pipeline` is what `sync` and `exec` share.

pub mod exec;
mod pipeline;
pub mod sync;
