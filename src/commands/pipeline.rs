//! The part `sync` and `exec` share: resolve (flags, environment, ECS
//! metadata when needed) -> fetch (layers, `ssm:` references, `url:` files)
//! -> merge, all before anything is written or started. Everything async
//! happens here, on the current-thread runtime of a [`Session`]: dropped
//! before a command starts, kept from check to check by `--watch`.

use std::time::Duration;

use anyhow::anyhow;

use crate::deliver;
use crate::error::Outage;

use crate::config::{Config, LayerKind, Selection};
use crate::error::{Error, Result};
use crate::exec::{self, Reference};
use crate::fetch::{self, Fetched};
use crate::files::{self, FileError, FileSpec, Limits, Prepared};
use crate::layers::{self, Issue, Merged};
use crate::log;
use crate::names;
use crate::secret::Secret;
use crate::ssm::{self, Purpose, Ssm};

/// Per-download limit on top of the size cap.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Gathered {
    pub merged: Merged,
    pub files: Vec<Prepared>,
    /// Resolved references, in the order asked.
    pub refs: Vec<(String, Secret)>,
}

/// Whether `e` is an outage (SSM or a download unreachable, timing out,
/// throttled, 5xx past the retries): what `--keep-on-error` may ride out.
/// Configuration and bad data are not.
pub fn is_outage(e: &Error) -> bool {
    match e {
        Error::Runtime(e) => e.chain().any(|c| {
            c.is::<Outage>()
                || c.downcast_ref::<FileError>()
                    .is_some_and(FileError::is_outage)
        }),
        _ => false,
    }
}

/// One runtime and one SSM client kept for every gathering of a command:
/// a `--watch` reuses them check after check, with their connections and
/// the credentials they cached, so a check costs the SSM calls of a start
/// and nothing more.
#[derive(Default)]
pub struct Session {
    rt: Option<tokio::runtime::Runtime>,
    client: Option<Ssm>,
    /// The merge's warnings as last said: a check that finds the same ones
    /// says them only with `-vv`.
    said: Option<Vec<String>>,
    /// Set by a watch: a gathering stuck past `--total-timeout` warns
    /// instead of ending the process.
    pub watching: bool,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// Drops the runtime and the client (nothing async may outlive a
    /// command's start), keeping what was said.
    pub fn release(&mut self) {
        self.client = None;
        self.rt = None;
    }

    /// Fetch and merge what `cfg` selects, the `files/` parameters prepared
    /// for `cfg.files_root` (none with `--no-files`), and resolve `refs`
    /// (the inherited variables holding `ssm:` references). Nothing is
    /// written. The runtime and the client are made on first use (the
    /// client again after a failure to connect).
    pub fn gather(&mut self, cfg: &Config, refs: &[Reference]) -> Result<Gathered> {
        let rt = match &mut self.rt {
            Some(rt) => rt,
            None => self.rt.insert(ssm::runtime()?),
        };
        let Session {
            client,
            said,
            watching,
            ..
        } = self;
        let _watchdog = ssm::watchdog(cfg.aws.total_timeout, !*watching);
        rt.block_on(ssm::within(cfg.aws.total_timeout, async {
            let client = match client {
                Some(c) => c,
                None => client.insert(ssm::connect(&cfg.aws, Purpose::Read).await?),
            };
            client.stats.reset();
            let gathered = gather_with(cfg, client, refs, said).await;
            log::debug!("API calls: {}", client.stats.summary());
            gathered
        }))?
    }
}

async fn gather_with(
    cfg: &Config,
    client: &Ssm,
    refs: &[Reference],
    said: &mut Option<Vec<String>>,
) -> Result<Gathered> {
    let sel = cfg.selection();
    let (fetched, refs) = futures_util::future::try_join(
        fetch::fetch_layers(client, sel, cfg.files_root.is_some()),
        resolve_refs(client, refs),
    )
    .await?;

    let merged = check(sel, &fetched, said)?;
    let files = match &cfg.files_root {
        Some(root) => {
            let limits = Limits {
                max_size: cfg.max_file_size,
                timeout: DOWNLOAD_TIMEOUT,
            };
            files::prepare(&file_specs(&merged), &merged.pairs(), root, &limits)
                .await
                .map_err(deliver::file_error)?
        }
        None => Vec::new(),
    };
    Ok(Gathered {
        merged,
        files,
        refs,
    })
}

/// What `files::prepare` takes: each file the merge kept, and the clashes
/// of one layer (refused there as two parameters for one file).
pub fn file_specs(merged: &Merged) -> Vec<FileSpec> {
    merged
        .files
        .values()
        .chain(merged.file_clashes.iter().map(|(_, e)| e))
        .map(|e| FileSpec {
            rel: e.rel.clone(),
            param: e.origin.param.clone(),
            value: e.value.clone(),
        })
        .collect()
}

/// Merge, then apply the rules that decide whether the result may be used:
/// `--strict` and empty app layers.
fn check(sel: &Selection, fetched: &[Fetched], said: &mut Option<Vec<String>>) -> Result<Merged> {
    let merged = layers::merge(fetched, sel.key_case);
    let messages: Vec<String> = merged.issues.iter().map(Issue::message).collect();
    let level = if said.as_ref() == Some(&messages) {
        log::Level::Debug
    } else if sel.strict {
        log::Level::Error
    } else {
        log::Level::Warn
    };
    for message in &messages {
        log::emit(level, message);
    }
    *said = Some(messages);
    if sel.strict && !merged.issues.is_empty() {
        return Err(Error::Strict(format!(
            "--strict: {} problem(s) found ({}); nothing written or started",
            merged.issues.len(),
            strict_kinds(&merged.issues)
        )));
    }
    if !sel.allow_empty {
        for (spec, count) in sel.layers.iter().zip(&merged.raw_counts) {
            if spec.kind == LayerKind::App && *count == 0 {
                return Err(Error::runtime(format!(
                    "no parameters under {} (pass --allow-empty if that is expected)",
                    spec.shown_path()
                )));
            }
        }
    }
    Ok(merged)
}

fn strict_kinds(issues: &[Issue]) -> String {
    let mut kinds: Vec<&str> = issues
        .iter()
        .map(|i| match i {
            Issue::InvalidName { .. } => "invalid names",
            Issue::Duplicate { .. } => "duplicate keys",
            Issue::Override { .. } => "overrides",
            Issue::FileOverride { .. } => "file overrides",
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.join(", ")
}

async fn resolve_refs(client: &Ssm, refs: &[Reference]) -> anyhow::Result<Vec<(String, Secret)>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    // Each parameter (with its version or label) once, however many
    // variables refer to it.
    let mut names: Vec<String> = Vec::new();
    for r in refs {
        if !names.contains(&r.param) {
            names.push(r.param.clone());
        }
    }
    let got = client.get_many(&names).await?;
    let by_name: std::collections::HashMap<&String, Option<Secret>> = names
        .iter()
        .zip(got)
        .map(|(name, slot)| (name, slot.map(|p| p.value)))
        .collect();
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let Some(value) = by_name.get(&r.param).cloned().flatten() else {
            return Err(anyhow!(
                "${} refers to {}, which does not exist or cannot be read",
                r.var,
                names::printable(&r.param)
            ));
        };
        out.push((
            r.var.clone(),
            exec::select(r, value).map_err(|e| anyhow!(e))?,
        ));
    }
    log::info!("resolved {} ssm: references", out.len());
    Ok(out)
}
