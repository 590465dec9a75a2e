//! `ssmm sync`: fetch the layers, merge, encode and write `--out` and the
//! files atomically (`docs/CONTRACT.md` §3). Nothing is written unless every
//! step before it succeeded; the env file is written last. With `--watch`
//! the same sync runs again every interval until ssmm is stopped; a check
//! that fails keeps the files as they are. `--on-change` runs a command
//! after a sync that wrote anything.

use std::path::Path;

use super::pipeline::{self, Session};
use crate::cli::SyncArgs;
use crate::config::Config;
use crate::deliver::{self, Out};
use crate::error::{Error, Result};
use crate::log;
use crate::output;
use crate::stop;
use crate::watch::{self, Changes, Failures, Fingerprint, Schedule};
use crate::write::Outcome;

pub fn run(cfg: &Config, args: &SyncArgs) -> Result<()> {
    let cwd = cfg.cwd()?;
    let out = match (&args.out, args.format.is_directory()) {
        (Some(given), _) => Out::for_format(cwd, given, args.format)?,
        (None, false) => Out::new(cwd, Path::new(".env")),
        (None, true) => {
            return Err(Error::usage(format!(
                "--format {} writes a directory: give it with --out DIR",
                args.format
            )));
        }
    };
    if args.watch.is_some() {
        deliver::refuse_stdout_for_watch(&out)?;
    }
    deliver::refuse_irreplaceable_out(&out)?;
    if let Some(splay) = args.splay {
        std::thread::sleep(watch::random_upto(splay));
    }
    let mut session = Session::new();
    let mut last: Option<Fingerprint> = None;
    let changed = match once(cfg, args, &out, &mut session, &mut last) {
        Ok(changed) => changed,
        // Only an outage is ridden out, and only over a file that is there.
        Err(e) if args.keep_on_error && pipeline::is_outage(&e) && out.exists_as_file() => {
            log::warning!(
                "{}; keeping the existing {} (--keep-on-error)",
                e.message(),
                out.shown()
            );
            None
        }
        Err(e) => return Err(e),
    };
    if changed.is_some() {
        on_change(args, cwd)?;
    }
    let Some(interval) = args.watch else {
        return Ok(());
    };
    stop::watching();
    session.watching = true;
    let schedule = Schedule::new(interval, args.splay);
    log::info!("watching: {schedule}");
    let mut failures = Failures::default();
    loop {
        std::thread::sleep(schedule.next_wait());
        let result = once(cfg, args, &out, &mut session, &mut last);
        if result.is_ok() {
            failures.succeeded();
        }
        match result {
            Ok(Some(changes)) => {
                if !changes.is_empty() {
                    log::notice!("change: {}", changes.describe());
                }
                if let Err(e) = on_change(args, cwd) {
                    log::warning!("{}", e.message());
                }
            }
            Ok(None) => {}
            Err(e) => failures.failed(format!(
                "check failed, the files stay as they were: {}",
                e.message()
            )),
        }
    }
}

/// One sync: gather, check, write. `Some(changes)` when anything was
/// written (`changes` naming the variables that differ from `last`, the
/// previous sync's, when there was one), `None` when nothing was.
fn once(
    cfg: &Config,
    args: &SyncArgs,
    out: &Out,
    session: &mut Session,
    last: &mut Option<Fingerprint>,
) -> Result<Option<Changes>> {
    let root = cfg.files_root.as_deref();
    let gathered = session.gather(cfg, &[])?;
    let merged = &gathered.merged;
    crate::require::check(
        &cfg.selection().required,
        |name| merged.vars.contains_key(name),
        &out.shown(),
        "nothing written",
    )?;
    let content = deliver::encode(out, &merged.pairs(), args.format, args.creds_key)?;
    deliver::check(Some((out, &content)), &gathered.files)?;
    let done = deliver::deliver(Some((out, &content)), &gathered.files, root)?;

    let (app, shared, tag) = merged.contributions(&cfg.selection().layers);
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
    let first = last.is_none();
    // A check of --watch that finds nothing to do says so only with -v.
    let quiet_no_change = |text: &str| {
        if first {
            log::notice!("{text}");
        } else {
            log::info!("{text}");
        }
    };
    match done.out {
        Some(Outcome::Unchanged) if written == 0 => quiet_no_change("no change"),
        Some(Outcome::Unchanged) => log::notice!(
            "{} unchanged; wrote {} under {}",
            out.shown(),
            output::count(written, "file"),
            root.unwrap_or(cfg.cwd()?).display()
        ),
        _ => log::notice!(
            "wrote {} variables to {} (app={app}, shared={shared}, tag={tag}){files_note}",
            merged.vars.len(),
            out.shown()
        ),
    }
    let now = watch::fingerprint(
        merged
            .vars
            .iter()
            .map(|(k, e)| (k.as_str(), e.value.expose().as_bytes())),
    );
    let changed = !matches!(done.out, Some(Outcome::Unchanged)) || written > 0;
    let mut changes = last
        .as_ref()
        .map_or_else(Changes::default, |before| Changes::of_vars(before, &now));
    changes.files = done.written;
    *last = Some(now);
    Ok(changed.then_some(changes))
}

/// `--on-change CMD`, run with `/bin/sh -c` in the working directory with
/// ssmm's own environment; a failure is an error.
fn on_change(args: &SyncArgs, cwd: &Path) -> Result<()> {
    let Some(cmd) = &args.on_change else {
        return Ok(());
    };
    log::info!("running --on-change");
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(cwd)
        .status()
        .map_err(|e| Error::runtime(format!("--on-change: cannot run /bin/sh: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(sig)) => format!("was killed by {}", crate::units::signal_name(sig)),
        _ => "failed".to_string(),
    };
    Err(Error::runtime(format!(
        "--on-change command {how} (the files were written)"
    )))
}
