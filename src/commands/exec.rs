//! `ssmm exec`: resolve and merge exactly as `sync`, build the child's
//! environment (inherited or empty, `ssm:` references resolved, parameters
//! overlaid), write `--out` and files, then become CMD (`execve`) or
//! supervise it as PID 1 (`--init`). Any failure before that point exits
//! without starting CMD.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use anyhow::anyhow;

use super::pipeline::{self, Want};
use crate::cli::ExecArgs;
use crate::config::Config;
use crate::deliver::{self, Out};
use crate::error::{Error, Result};
use crate::exec;
use crate::log;

pub fn run(cfg: &Config, args: &ExecArgs) -> Result<i32> {
    let cwd = cfg.cwd()?;
    let root = cfg.files_root.clone();

    // The inherited environment, kept as raw bytes: a variable that is not
    // UTF-8 is passed through untouched.
    let inherited: Vec<(OsString, OsString)> = if args.pristine {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    let mut refs = Vec::new();
    for (k, v) in &inherited {
        if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
            && let Some(name) = pipeline::parse_ref(v)
        {
            pipeline::check_ref_name(k, name)?;
            refs.push((k.to_string(), name.to_string()));
        }
    }

    let out = args.out.as_ref().map(|given| Out::new(cwd, given));
    if let Some(out) = &out {
        deliver::refuse_irreplaceable_out(out)?;
    }
    let want = Want {
        root: root.clone(),
        refs: &refs,
    };
    let gathered = pipeline::gather(cfg, want)?;

    // Child environment: inherited (references resolved), then parameters
    // on top, or under with --no-override.
    let mut env: BTreeMap<OsString, OsString> = inherited.into_iter().collect();
    for (var, value) in &gathered.refs {
        env.insert(var.into(), value.expose().into());
    }
    for (var, entry) in &gathered.merged.vars {
        if entry.value.expose().contains('\0') {
            return Err(Error::Runtime(anyhow!(
                "{var}: the value contains a NUL byte and cannot be passed in the environment"
            )));
        }
        let key = OsString::from(var);
        if args.no_override && env.contains_key(&key) {
            log::debug!("{var}: inherited value kept (--no-override)");
            continue;
        }
        env.insert(key, entry.value.expose().into());
    }
    for k in env.keys() {
        if k.as_bytes().contains(&b'=') || k.is_empty() {
            return Err(Error::Runtime(anyhow!(
                "an inherited variable has an invalid name"
            )));
        }
    }

    // Encode --out before writing anything: a value its format cannot hold
    // must leave the files untouched too.
    let out_content = match &out {
        Some(_) => Some(pipeline::encode_env(&gathered.merged, args.format)?),
        None => None,
    };

    // CMD must be runnable, its arguments and environment small enough to
    // exec, and every target writable, before anything is written.
    exec::resolve_program(
        &args.cmd[0],
        env.get(std::ffi::OsStr::new("PATH")).map(|p| p.as_os_str()),
    )?;
    let env: Vec<(OsString, OsString)> = env.into_iter().collect();
    exec::check_size(&args.cmd, &env)?;
    deliver::check(out.as_ref(), &gathered.files)?;

    // Deliver: files, then --out, then CMD.
    let target = out.as_ref().zip(out_content.as_deref());
    let done = deliver::deliver(target, &gathered.files, root.as_deref())?;
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
