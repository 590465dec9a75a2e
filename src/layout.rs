//! The two parameter layouts (`docs/CONTRACT.md` §2), a leaf both the
//! command line and the resolving code use.

/// `team` (`/<team>/shared`, `/<team>/<app>`) or `ecs` (`/<cluster>/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layout {
    #[default]
    Team,
    Ecs,
}
