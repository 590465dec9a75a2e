//! `ssmm onboard UNIT --env FILE [put options] [--mode M] [--apply]`
//! (docs/CONTRACT.md §3 "systemd units"): `put` then `systemd`, through
//! their own code (`put::prepare`, `systemd::Target`). Without `--apply`
//! it only reads: the plan (the parameters that would be created or
//! replaced, those that exist already, then the units) and nothing is
//! written to SSM or to disk.

use std::collections::BTreeSet;

use super::put::{self, Input, Planned};
use super::systemd::{self as units, Target};
use crate::cli::{OnboardArgs, SelectArgs};
use crate::config::Config;
use crate::error::Result;
use crate::log;
use crate::names;
use crate::systemd::Mode;

pub fn run(cfg: &Config, args: &OnboardArgs) -> Result<()> {
    let target = Target::new(
        &args.unit,
        args.mode,
        &args.units,
        &SelectArgs::default(),
        cfg,
    )?;
    let input = Input {
        pairs: &[],
        env: Some(&args.env),
        syntax: args.env_syntax,
    };
    let prepared = put::prepare(cfg, &input, &args.write, "onboard")?;
    if !args.units.apply {
        return plan(cfg, &target, prepared);
    }
    prepared.write(cfg)?;
    let vars = match args.mode {
        Mode::Credentials => units::variables(cfg)?,
        _ => Vec::new(),
    };
    let files = target.files(cfg, &vars)?;
    target.apply(cfg, &files)
}

/// The plan on stdout; nothing written. Existing parameters without
/// `--overwrite` end it where `--apply` would stop, with put's refusal.
fn plan(cfg: &Config, target: &Target, prepared: put::Prepared) -> Result<()> {
    let overwrite = prepared.overwrite();
    let under = format!("{}/{}/", prepared.prefix, prepared.app);
    let planned = prepared.plan(cfg)?;
    let mut text = format!("put under {}:\n", names::printable(&under));
    for p in &planned {
        text.push_str(&line(p, overwrite));
    }
    let refused: Vec<&String> = planned
        .iter()
        .filter(|p| p.exists && !overwrite)
        .map(|p| &p.name)
        .collect();
    if !refused.is_empty() {
        print!("{text}");
        return Err(put::already_exist(refused, planned.len()));
    }
    let vars = match target.mode {
        Mode::Credentials => credential_names(cfg, &planned)?,
        _ => Vec::new(),
    };
    let files = target.files(cfg, &vars)?;
    let dir = target.unit_dir(cfg)?;
    let user = if target.opts.user { " --user" } else { "" };
    text.push_str(&format!(
        "then write under {} and run systemctl{user} daemon-reload:\n",
        dir.display()
    ));
    for f in &files {
        text.push_str(&format!("  {}\n", f.rel.display()));
    }
    text.push('\n');
    print!("{text}");
    units::print(&files)?;
    log::notice!("nothing written: pass --apply to put the parameters and install the units");
    Ok(())
}

/// One parameter of the plan: what `put` would print, marked.
fn line(p: &Planned, overwrite: bool) -> String {
    let name = names::printable(&p.name);
    match (p.exists, overwrite) {
        (true, false) => format!("  exists   {name}  (put refuses it without --overwrite)\n"),
        (exists, _) => format!(
            "  {}  {name}  {}  {}  len={}\n",
            if exists { "replace" } else { "create " },
            p.kind.as_str(),
            p.why,
            p.len
        ),
    }
}

/// Credentials mode: the variables the layers would hold once the put is
/// done: what they hold now (an empty app layer allowed, the put fills
/// it) and the put's.
fn credential_names(cfg: &Config, planned: &[Planned]) -> Result<Vec<String>> {
    let mut now = cfg.clone();
    if let Some(sel) = now.selection.as_mut() {
        sel.allow_empty = true;
    }
    let mut vars: BTreeSet<String> = units::variables(&now)?.into_iter().collect();
    vars.extend(
        planned
            .iter()
            .filter_map(|p| names::key_to_var(&p.key, cfg.key_case)),
    );
    Ok(vars.into_iter().collect())
}
