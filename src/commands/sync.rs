//! `ssmm sync`: fetch the layers, merge, encode and write `--out` and the
//! files atomically (SPEC §3). Nothing is written unless every step before
//! it succeeded; the env file is written last.

use super::pipeline::{self, Failure, Want};
use crate::cli::{GlobalArgs, SyncArgs};
use crate::config;
use crate::error::{Error, Result};
use crate::files;
use crate::log;
use crate::write::Outcome;

pub fn run(g: &GlobalArgs, args: &SyncArgs) -> Result<()> {
    let cwd = config::current_dir()?;
    let out = cwd.join(&args.out);
    let root = pipeline::files_root(g, &cwd);
    let want = Want {
        root: root.clone(),
        refs: &[],
    };
    let gathered = match pipeline::gather(g, &args.select, &cwd, want) {
        Ok(gathered) => gathered,
        Err(Failure::Fetch(e)) if args.keep_on_error && out.exists() => {
            log::warning!(
                "{e:#}; keeping the existing {} (--keep-on-error)",
                args.out.display()
            );
            return Ok(());
        }
        Err(Failure::Fetch(e)) => return Err(Error::Runtime(e)),
        Err(Failure::Other(e)) => return Err(e),
    };

    let content = pipeline::encode_env(&gathered.merged, args.format)?;
    pipeline::check_out(&cwd, &args.out)?;
    let (files_written, _) = match &root {
        Some(root) => files::write_all(&gathered.files, root).map_err(Error::Runtime)?,
        None => (0, 0),
    };
    let env_outcome = pipeline::write_env(&cwd, &args.out, &content)?;

    let (app, shared, tag) = gathered.merged.contributions(&gathered.sel.layers);
    let files_note = match &root {
        Some(root) if files_written > 0 => {
            format!(", {files_written} files under {}", root.display())
        }
        _ => String::new(),
    };
    match env_outcome {
        Outcome::Unchanged if files_written == 0 => log::notice!("no change"),
        Outcome::Unchanged => log::notice!(
            "{} unchanged; wrote {files_written} files under {}",
            args.out.display(),
            root.as_deref().unwrap_or(cwd.as_path()).display()
        ),
        Outcome::Written => log::notice!(
            "wrote {} variables to {} (app={app}, shared={shared}, tag={tag}){files_note}",
            gathered.merged.vars.len(),
            args.out.display()
        ),
    }
    Ok(())
}
