//! `ssmm sync`: fetch the layers, merge, encode and write `--out` atomically
//! (SPEC §3). Nothing is written unless every step before it succeeded.

use std::path::Path;

use anyhow::anyhow;

use crate::cli::{GlobalArgs, SyncArgs};
use crate::config::{self, LayerSpec, Selection};
use crate::encode;
use crate::error::{Error, Result};
use crate::fetch::{self, Fetched};
use crate::layers::{self, Issue, Merged};
use crate::log;
use crate::ssm::{self, Purpose};
use crate::write::{self, Outcome};

pub fn run(g: &GlobalArgs, args: &SyncArgs) -> Result<()> {
    let cwd = config::current_dir()?;
    let sel = config::team_selection(g, &args.select, &config::process_env, &cwd)?;
    let out = cwd.join(&args.out);
    let aws = config::aws_settings(g);

    let fetched = ssm::block_on(async {
        let client = ssm::connect(&aws, Purpose::Read).await?;
        fetch::fetch_layers(&client, &sel, false)
            .await
            .map_err(Error::Runtime)
    })?;
    let fetched = match fetched {
        Ok(f) => f,
        Err(Error::Runtime(e)) if args.keep_on_error && out.exists() => {
            log::warning!(
                "{e:#}; keeping the existing {} (--keep-on-error)",
                out.display()
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    };

    let merged = resolve(&sel, &fetched)?;
    let pairs = merged.pairs();
    let content = encode::encode(args.format, &pairs).map_err(|e| Error::Runtime(e.into()))?;
    match write_out(&out, content.as_bytes())? {
        Outcome::Unchanged => log::notice!("no change"),
        Outcome::Written => {
            let (app, shared, tag) = merged.contributions(&sel.layers);
            log::notice!(
                "wrote {} variables to {} (app={app}, shared={shared}, tag={tag})",
                pairs.len(),
                args.out.display()
            );
        }
    }
    Ok(())
}

/// Merge, then apply the rules that decide whether the result may be used:
/// `--strict`, empty app layers. Shared with `exec`.
pub fn resolve(sel: &Selection, fetched: &[Fetched]) -> Result<Merged> {
    let merged = layers::merge(fetched, sel.key_case);
    if sel.strict && !merged.issues.is_empty() {
        for issue in &merged.issues {
            log::emit(log::Level::Error, &issue.message());
        }
        return Err(Error::Strict(format!(
            "--strict: {} problem(s) found ({}); nothing written",
            merged.issues.len(),
            strict_kinds(&merged.issues)
        )));
    }
    for issue in &merged.issues {
        log::warning!("{}", issue.message());
    }
    if !sel.allow_empty {
        for (spec, count) in sel.layers.iter().zip(&merged.raw_counts) {
            if let LayerSpec::App { path, .. } = spec
                && *count == 0
            {
                return Err(Error::Runtime(anyhow!(
                    "no parameters under {path}/ (pass --allow-empty if that is expected)"
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
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.join(", ")
}

fn write_out(out: &Path, content: &[u8]) -> Result<Outcome> {
    write::write_atomic(out, content)
        .map_err(|e| Error::Runtime(anyhow!("writing {}: {e}", out.display())))
}
