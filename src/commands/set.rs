//! `ssmm set KEY...`: values typed on the terminal with echo off, then
//! written as `put` writes them (`put::Writer`: the same type rules, tags,
//! existence check and output lines). Every value is read before the first
//! write, so an empty answer, end of input or Ctrl-C leaves SSM as it was.

use std::collections::HashSet;

use super::admin;
use super::put::{self, Entry, Writer};
use crate::cli::SetArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::names::{self, KeyCase};
use crate::secret::Secret;
use crate::ssm::Purpose;
use crate::tty::{self, Answer, Tty};

/// A KEY resolved: its name, its app and the variable the type rules see.
struct Target {
    name: String,
    app: String,
    var: String,
}

pub fn run(cfg: &Config, args: &SetArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let targets = resolve(cfg, &prefix, &args.keys)?;
    let vars: Vec<&str> = targets.iter().map(|t| t.var.as_str()).collect();
    let apps: HashSet<&str> = targets.iter().map(|t| t.app.as_str()).collect();
    let app_shown = match apps.iter().next() {
        Some(app) if apps.len() == 1 => app.to_string(),
        _ => "<its app>".to_string(),
    };
    let writer = Writer::new(&args.write, "set", &vars, &app_shown)?;

    let mut tty = Tty::open().map_err(|e| {
        Error::usage(format!(
            "set reads values from the terminal, and there is none to ask on (/dev/tty: {e}): use `ssmm put --env -` to read them from standard input"
        ))
    })?;
    // Before anything is typed: a target that exists is refused (and the
    // write checks again), and the prompt can say which type each gets.
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let names_ref = names.as_slice();
    let existing = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        Ok(client.existing(names_ref).await?)
    })?;
    if !args.write.overwrite && !existing.is_empty() {
        return Err(put::already_exist(existing.keys().collect(), targets.len()));
    }

    let mut entries = Vec::with_capacity(targets.len());
    for t in targets {
        let (kind, _) = writer.decide(&t.var, existing.get(&t.name));
        let shown = names::printable(&t.name);
        let prompt = format!("Value for {shown} ({}, not echoed): ", kind.as_str());
        let answer = tty
            .ask_hidden(&prompt)
            .map_err(|e| Error::runtime(format!("reading the value for {shown}: {e}")))?;
        let value = check_answer(answer, &shown)?;
        entries.push(Entry {
            var: t.var,
            label: shown,
            name: t.name,
            app: t.app,
            value,
        });
    }
    // Echo and the signals' default actions are back before any write.
    drop(tty);

    let (created, replaced) = writer.write(cfg, entries)?;
    log::notice!(
        "set {} ({created} created, {replaced} replaced)",
        crate::output::count(created + replaced, "parameter")
    );
    Ok(())
}

/// Every KEY as a parameter name (the forms `show` takes), each named once.
fn resolve(cfg: &Config, prefix: &str, keys: &[String]) -> Result<Vec<Target>> {
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(keys.len());
    for key in keys {
        let name = admin::key_name(cfg, prefix, key, "set")?;
        let Some((app, _)) = admin::relative(prefix, &name).split_once('/') else {
            return Err(Error::usage(format!(
                "invalid KEY {}: a parameter right under the prefix is in no app; set writes /<team>/<app>/<key>",
                names::quoted(key)
            )));
        };
        let app = app.to_string();
        if !seen.insert(name.clone()) {
            return Err(Error::usage(format!(
                "{} is named twice",
                names::printable(&name)
            )));
        }
        let last = names::last_segment(&name);
        let var = names::key_to_var(last, KeyCase::Upper)
            .unwrap_or_else(|| last.to_ascii_uppercase().replace(['-', '.'], "_"));
        targets.push(Target { name, app, var });
    }
    Ok(targets)
}

/// A typed line as a value; anything else aborts with nothing written.
fn check_answer(answer: Answer, shown: &str) -> Result<Secret> {
    let line = match answer {
        Answer::End => {
            return Err(Error::runtime(format!(
                "no value for {shown} (end of input): nothing written"
            )));
        }
        Answer::MoreLines => {
            return Err(Error::runtime(format!(
                "the value typed for {shown} was followed by more lines (a pasted multi-line value?): nothing written, the rest discarded (use `ssmm put --env -` for multi-line values)"
            )));
        }
        Answer::Line(line) => line,
    };
    if line.is_empty() {
        return Err(Error::runtime(format!(
            "empty value for {shown}: nothing written"
        )));
    }
    if line.len() >= tty::LINE_LIMIT {
        return Err(Error::runtime(format!(
            "the value typed for {shown} reached the terminal's line limit ({} bytes) and may have been cut: nothing written (use `ssmm put --env -` for long values)",
            tty::LINE_LIMIT
        )));
    }
    match String::from_utf8(line) {
        Ok(text) => Ok(Secret::new(text)),
        Err(_) => Err(Error::runtime(format!(
            "the value typed for {shown} is not valid UTF-8: nothing written"
        ))),
    }
}
