//! The part `sync` and `exec` share: resolve (flags, environment, ECS
//! metadata when needed) -> fetch (layers, `ssm:` references, `url:` files)
//! -> merge, all before anything is written or started. Everything async
//! happens here, on one current-thread runtime dropped before returning.

use std::time::Duration;

use anyhow::anyhow;

use crate::deliver;
use crate::error::Outage;

use crate::config::{Config, LayerKind, Selection};
use crate::encode::{self, Format};
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

/// Fetch and merge what `cfg` selects, the `files/` parameters prepared
/// for `cfg.files_root` (none with `--no-files`), and resolve `refs`
/// (the inherited variables holding `ssm:` references).
/// Nothing is written.
pub fn gather(cfg: &Config, refs: &[Reference]) -> Result<Gathered> {
    let sel = cfg.selection();
    ssm::block_on_within(cfg.aws.total_timeout, async {
        let client = ssm::connect(&cfg.aws, Purpose::Read).await?;
        let (fetched, refs) = futures_util::future::try_join(
            fetch::fetch_layers(&client, sel, cfg.files_root.is_some()),
            resolve_refs(&client, refs),
        )
        .await?;

        let merged = check(sel, &fetched)?;
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
        log::debug!("API calls: {}", client.stats.summary());
        Ok::<Gathered, Error>(Gathered {
            merged,
            files,
            refs,
        })
    })?
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

/// The env file's content; done before anything is written, so a value the
/// format cannot hold leaves every file untouched.
pub fn encode_env(merged: &Merged, format: Format) -> Result<String> {
    encode::encode(format, &merged.pairs()).map_err(|e| Error::Runtime(e.into()))
}

/// Merge, then apply the rules that decide whether the result may be used:
/// `--strict` and empty app layers.
fn check(sel: &Selection, fetched: &[Fetched]) -> Result<Merged> {
    let merged = layers::merge(fetched, sel.key_case);
    if sel.strict && !merged.issues.is_empty() {
        for issue in &merged.issues {
            log::emit(log::Level::Error, &issue.message());
        }
        return Err(Error::Strict(format!(
            "--strict: {} problem(s) found ({}); nothing written or started",
            merged.issues.len(),
            strict_kinds(&merged.issues)
        )));
    }
    for issue in &merged.issues {
        log::warning!("{}", issue.message());
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
