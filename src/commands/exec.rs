//! `ssmm exec`: resolve and merge exactly as `sync`, build the child's
//! environment (inherited or empty, `ssm:` references resolved, parameters
//! overlaid), write `--out` and files, then become CMD (`execve`) or
//! supervise it as PID 1 (`--init`). Any failure before that point exits
//! without starting CMD. With `--init --watch`, every check does all of it
//! again and a change restarts or signals CMD; a check that fails leaves
//! CMD alone.

use std::ffi::OsString;

use super::pipeline::Session;
use crate::cli::ExecArgs;
use crate::config::Config;
use crate::deliver::{self, Delivered, Out};
use crate::error::{Error, Result};
use crate::exec::{self, Reference, Supervision, Update};
use crate::log;
use crate::watch::{self, Changes, Failures, Fingerprint, Schedule};
use crate::write::Outcome;

pub fn run(cfg: &Config, args: &ExecArgs) -> Result<i32> {
    if args.watch.is_some() && !args.init {
        return Err(Error::usage(
            "--watch needs --init: ssmm must stay the command's parent to restart or signal it",
        ));
    }
    let cwd = cfg.cwd()?;
    let root = cfg.files_root.as_deref();

    // The inherited environment, kept as raw bytes: a variable that is not
    // UTF-8 is passed through untouched.
    let inherited: Vec<(OsString, OsString)> = if args.pristine {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    let refs = exec::references(&inherited)?;

    let out = match &args.out {
        Some(given) => Some(Out::for_format(cwd, given, args.format)?),
        None => None,
    };
    if let Some(out) = &out {
        if args.watch.is_some() {
            deliver::refuse_stdout_for_watch(out)?;
        }
        deliver::refuse_irreplaceable_out(out)?;
    }
    if let Some(splay) = args.splay {
        std::thread::sleep(watch::random_upto(splay));
    }
    let mut run = Run {
        cfg: cfg.clone(),
        args: args.clone(),
        inherited,
        refs,
        out,
        session: Session::new(),
        last: Fingerprint::new(),
        failures: Failures::default(),
    };
    let Delivery {
        env,
        done,
        count: merged_count,
    } = run.prepare_and_deliver()?;
    if let Some(root) = &root {
        log::info!(
            "files under {}: {} written, {} unchanged",
            root.display(),
            done.files_written,
            done.files_unchanged
        );
    }
    log::info!(
        "starting {} with {merged_count}",
        args.cmd[0].to_string_lossy(),
    );
    // Nothing async may outlive the start: the command is started from a
    // process with no other threads.
    run.session.release();
    run.session.watching = args.watch.is_some();
    match args.watch {
        None if args.init => exec::supervise(&args.cmd, &env),
        None => Err(exec::exec_replace(&args.cmd, &env)),
        Some(interval) => {
            let how = Supervision {
                on_change: args.on_change,
                stop_signal: args.stop_signal,
                stop_timeout: args.stop_timeout,
            };
            let schedule = Schedule::new(interval, args.splay);
            log::info!("watching: {schedule}");
            exec::supervise_watching(&args.cmd, &env, how, schedule, move || run.check())
        }
    }
}

/// What one start or check delivered: the command's environment, what was
/// written, and the parameter count line for the log.
struct Delivery {
    env: Vec<(OsString, OsString)>,
    done: Delivered,
    count: String,
}

/// What every start and every check of one `exec` share.
struct Run {
    cfg: Config,
    args: ExecArgs,
    inherited: Vec<(OsString, OsString)>,
    refs: Vec<Reference>,
    out: Option<Out>,
    /// Kept from check to check under `--watch` (its connections and
    /// credentials with it).
    session: Session,
    /// The command's environment as last delivered.
    last: Fingerprint,
    failures: Failures,
}

impl Run {
    /// Resolve, fetch, merge, build the environment, check it all, then
    /// write the files and `--out`. Returns the environment, what was
    /// written, and the parameter count line for the log.
    fn prepare_and_deliver(&mut self) -> Result<Delivery> {
        let cfg = &self.cfg;
        let args = &self.args;
        let gathered = self.session.gather(cfg, &self.refs)?;
        let env = exec::child_env(
            self.inherited.clone(),
            &gathered.refs,
            &gathered.merged.pairs(),
            args.no_override,
        )?;
        crate::require::check(
            &cfg.selection().required,
            |name| {
                env.iter()
                    .any(|(k, _)| k.as_encoded_bytes() == name.as_bytes())
            },
            &format!(
                "the environment of {}",
                crate::names::printable(&args.cmd[0].to_string_lossy())
            ),
            "nothing written or started",
        )?;

        // Encode --out before writing anything: a value its format cannot
        // hold must leave the files untouched too.
        let out_content = match &self.out {
            Some(out) => Some(deliver::encode(
                out,
                &gathered.merged.pairs(),
                args.format,
                args.creds_key,
            )?),
            None => None,
        };

        // CMD must be runnable, its arguments and environment small enough
        // to exec, and every target writable, before anything is written.
        exec::check_runnable(&args.cmd, &env)?;
        let target = self.out.as_ref().zip(out_content.as_ref());
        deliver::check(target, &gathered.files)?;

        // Deliver: files, then --out, then CMD.
        let done = deliver::deliver(target, &gathered.files, cfg.files_root.as_deref())?;
        let (app, shared, tag) = gathered.merged.contributions(&cfg.selection().layers);
        let count = format!(
            "{} parameters (app={app}, shared={shared}, tag={tag})",
            gathered.merged.vars.len()
        );
        self.last = fingerprint(&env);
        Ok(Delivery { env, done, count })
    }

    /// One `--watch` check: `Some` when anything changed (already written),
    /// `None` when nothing did or the check failed (a warning says why; the
    /// command is left alone).
    fn check(&mut self) -> Option<Update> {
        let before = std::mem::take(&mut self.last);
        match self.prepare_and_deliver() {
            Ok(Delivery { env, done, .. }) => {
                self.failures.succeeded();
                let mut changes = Changes::of_vars(&before, &self.last);
                changes.files = done.written;
                if matches!(done.out, Some(Outcome::Written))
                    && let Some(out) = &self.out
                {
                    changes.out = Some(out.shown());
                }
                if changes.is_empty() {
                    log::info!("check: no change");
                    return None;
                }
                Some(Update { changes, env })
            }
            Err(e) => {
                self.last = before;
                self.failures.failed(format!(
                    "check failed; {} keeps running unchanged: {}",
                    crate::names::printable(&self.args.cmd[0].to_string_lossy()),
                    e.message()
                ));
                None
            }
        }
    }
}

/// The environment's fingerprint (a name that is not UTF-8, which no
/// parameter can produce, is compared in its lossy form).
fn fingerprint(env: &[(OsString, OsString)]) -> Fingerprint {
    let named: Vec<(String, &[u8])> = env
        .iter()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.as_encoded_bytes()))
        .collect();
    watch::fingerprint(named.iter().map(|(k, v)| (k.as_str(), *v)))
}
