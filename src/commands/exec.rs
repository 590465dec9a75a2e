//! `ssmm exec`: resolve and merge exactly as `sync`, build the child's
//! environment (inherited or empty, `ssm:` references resolved, parameters
//! overlaid), write `--out` and files, then become CMD (`execve`) or
//! supervise it as PID 1 (`--init`). Any failure before that point exits
//! without starting CMD.

use std::ffi::OsString;

use super::pipeline;
use crate::cli::ExecArgs;
use crate::config::Config;
use crate::deliver::{self, Out};
use crate::error::Result;
use crate::exec;
use crate::log;

pub fn run(cfg: &Config, args: &ExecArgs) -> Result<i32> {
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

    let out = args.out.as_ref().map(|given| Out::new(cwd, given));
    if let Some(out) = &out {
        deliver::refuse_irreplaceable_out(out)?;
    }
    let gathered = pipeline::gather(cfg, &refs)?;

    let env = exec::child_env(
        inherited,
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

    // Encode --out before writing anything: a value its format cannot hold
    // must leave the files untouched too.
    let out_content = match &out {
        Some(_) => Some(pipeline::encode_env(&gathered.merged, args.format)?),
        None => None,
    };

    // CMD must be runnable, its arguments and environment small enough to
    // exec, and every target writable, before anything is written.
    exec::check_runnable(&args.cmd, &env)?;
    deliver::check(out.as_ref(), &gathered.files)?;

    // Deliver: files, then --out, then CMD.
    let target = out.as_ref().zip(out_content.as_deref());
    let done = deliver::deliver(target, &gathered.files, root)?;
    if let Some(root) = &root {
        log::info!(
            "files under {}: {} written, {} unchanged",
            root.display(),
            done.files_written,
            done.files_unchanged
        );
    }
    let (app, shared, tag) = gathered.merged.contributions(&cfg.selection().layers);
    log::info!(
        "starting {} with {} parameters (app={app}, shared={shared}, tag={tag})",
        args.cmd[0].to_string_lossy(),
        gathered.merged.vars.len()
    );
    if args.init {
        exec::supervise(&args.cmd, &env)
    } else {
        Err(exec::exec_replace(&args.cmd, &env))
    }
}
