//! Progress of long write runs (`put`, `migrate`, `delete --all`): an
//! indicatif bar on stderr when stderr is a terminal and there are more than
//! a few items; nothing otherwise. Result lines go to stdout either way,
//! printed around the bar so they never tear it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::log::{self, Level};

/// "More than a few": below this a bar would only flicker.
const FEW: usize = 3;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(total: usize, verb: &str) -> Progress {
        let show = total > FEW
            && std::io::stderr().is_terminal()
            && log::enabled(Level::Notice)
            && !log::is_json();
        if !show {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(verb.to_string());
        Progress(Some(bar))
    }

    /// A result line on stdout.
    pub fn line(&self, text: &str) {
        match &self.0 {
            Some(bar) => bar.suspend(|| crate::output::line(text)),
            None => crate::output::line(text),
        }
    }

    /// A diagnostic on stderr (through `log`).
    pub fn emit(&self, level: Level, text: &str) {
        match &self.0 {
            Some(bar) => bar.suspend(|| log::emit(level, text)),
            None => log::emit(level, text),
        }
    }

    pub fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

/// The write loop `put`, `migrate` and `delete --all` share: every job at
/// once (the client's permits bound how many are in flight), behind one
/// bar of `total` steps, `report` printing each result as it comes (and
/// stepping the bar with [`Progress::inc`]); the results in job order.
pub async fn run_all<T, Fut>(
    total: usize,
    verb: &str,
    jobs: impl IntoIterator<Item = Fut>,
    report: impl Fn(&Progress, &T),
) -> Vec<T>
where
    Fut: std::future::Future<Output = T>,
{
    let progress = Progress::new(total, verb);
    let (bar, report) = (&progress, &report);
    let results = futures_util::future::join_all(jobs.into_iter().map(|job| async move {
        let result = job.await;
        report(bar, &result);
        result
    }))
    .await;
    drop(progress);
    results
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
