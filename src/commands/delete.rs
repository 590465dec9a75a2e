//! `ssmm delete`: one parameter, or every parameter of one app (`--app A
//! --all`, confirmed on a terminal or with `-y`), in DeleteParameters
//! batches of 10.

use std::io::{BufRead, IsTerminal, Write};

use super::admin;
use crate::cli::DeleteArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::names::printable;
use crate::progress;
use crate::ssm::{self, BATCH, Purpose, Ssm};

pub fn run(cfg: &Config, args: &DeleteArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    if let Some(key) = &args.key {
        let name = admin::key_name(cfg, &prefix, key, "delete")?;
        let one = std::slice::from_ref(&name);
        let (deleted, _) = admin::on_ssm(cfg, Purpose::Write, |client| async move {
            Ok(client.delete_batch(one).await?)
        })?;
        if deleted.is_empty() {
            return Err(Error::runtime(format!(
                "parameter {} not found",
                printable(&name)
            )));
        }
        crate::output::line(&format!("deleted {}", printable(&name)));
        return Ok(());
    }

    // A whole app: only for an app named on the command line, never one
    // taken from $SSMM_APP or the directory's name.
    let [app] = cfg.team.app_flags() else {
        return Err(Error::usage(
            "delete --all needs exactly one --app on the command line",
        ));
    };
    crate::names::validate_app(app, "app").map_err(Error::Usage)?;
    let base = format!("{prefix}/{app}");
    let base = base.as_str();
    admin::on_ssm(cfg, Purpose::Write, |client| async move {
        let mut names: Vec<String> = client
            .describe_names(base, ssm::path_filters(base, true, &[])?)
            .await?;
        names.sort();
        if names.is_empty() {
            log::notice!("nothing to delete under {base}/");
            return Ok(());
        }
        if !args.yes {
            confirm(names.len(), base)?;
        }
        delete_all(&client, &names, base).await
    })
}

/// Ask on the terminal; refuse when there is none.
fn confirm(count: usize, base: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::usage(format!(
            "refusing to delete {} under {base}/ without confirmation: pass -y (no terminal to ask on)",
            crate::output::count(count, "parameter")
        )));
    }
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "Delete {} under {base}/? This cannot be undone. [y/N] ",
            crate::output::count(count, "parameter")
        );
        let _ = err.flush();
    }
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::runtime(format!("reading the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Error::runtime("not confirmed; nothing deleted"))
    }
}

/// Delete `names` in batches of 10 (concurrent up to --write-concurrency);
/// every batch is tried, failures are reported together.
pub async fn delete_all(client: &Ssm, names: &[String], base: &str) -> Result<()> {
    let batches = names.chunks(BATCH).map(|batch| client.delete_batch(batch));
    let results = progress::run_all(names.len(), "delete", batches, |bar, result| match result {
        Ok((deleted, _)) => {
            for name in deleted {
                bar.inc();
                bar.line(&format!("deleted {}", printable(name)));
            }
        }
        Err(e) => bar.emit(log::Level::Error, &format!("{e:#}")),
    })
    .await;
    let deleted: usize = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(d, _)| d.len())
        .sum();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(Error::runtime(format!(
            "{failed} DeleteParameters batches failed; {deleted} of {} parameters under {base}/ deleted",
            names.len()
        )));
    }
    log::notice!(
        "deleted {} under {base}/",
        crate::output::count(deleted, "parameter")
    );
    Ok(())
}
