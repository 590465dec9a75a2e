//! One thin module per subcommand, on top of config, fetch, merge and write.

pub mod sync;
