//! `ssmm sync`: fetch the layers, merge, encode and write `--out` and the
//! files atomically (`docs/CONTRACT.md` §3). Nothing is written unless every
//! step before it succeeded; the env file is written last.

use super::pipeline;
use crate::cli::SyncArgs;
use crate::config::Config;
use crate::deliver::{self, Out};
use crate::error::Result;
use crate::log;
use crate::output;
use crate::write::Outcome;

pub fn run(cfg: &Config, args: &SyncArgs) -> Result<()> {
    let cwd = cfg.cwd()?;
    let out = Out::new(cwd, &args.out);
    deliver::refuse_irreplaceable_out(&out)?;
    let root = cfg.files_root.as_deref();
    let gathered = match pipeline::gather(cfg, &[]) {
        Ok(gathered) => gathered,
        // Only an outage is ridden out, and only over a file that is there.
        Err(e) if args.keep_on_error && pipeline::is_outage(&e) && out.exists_as_file() => {
            log::warning!(
                "{}; keeping the existing {} (--keep-on-error)",
                e.render().trim_start_matches("ssmm: error: "),
                out.shown()
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    };

    let merged = &gathered.merged;
    crate::require::check(
        &cfg.selection().required,
        |name| merged.vars.contains_key(name),
        &out.shown(),
        "nothing written",
    )?;
    let content = pipeline::encode_env(&gathered.merged, args.format)?;
    deliver::check(Some(&out), &gathered.files)?;
    let done = deliver::deliver(Some((&out, &content)), &gathered.files, root)?;

    let (app, shared, tag) = gathered.merged.contributions(&cfg.selection().layers);
    let written = done.files_written;
    let files_note = match &root {
        Some(root) if written > 0 => {
            format!(
                ", {} under {}",
                output::count(written, "file"),
                root.display()
            )
        }
        _ => String::new(),
    };
    match done.out {
        Some(Outcome::Unchanged) if written == 0 => log::notice!("no change"),
        Some(Outcome::Unchanged) => log::notice!(
            "{} unchanged; wrote {} under {}",
            out.shown(),
            output::count(written, "file"),
            root.unwrap_or(cwd).display()
        ),
        _ => log::notice!(
            "wrote {} variables to {} (app={app}, shared={shared}, tag={tag}){files_note}",
            gathered.merged.vars.len(),
            out.shown()
        ),
    }
    Ok(())
}
