//! `ssmm diff`: a local env file against an app's parameters, by variable
//! name. Values are never shown: a changed variable shows two salted hash
//! prefixes. Exit 0 when equal, 1 when different.

use std::collections::BTreeMap;

use super::admin::{self, Hasher};
use crate::cli::DiffArgs;
use crate::config::{self, Config, LayerSpec};
use crate::envfile;
use crate::error::{Error, Result, exit};
use crate::fetch::Fetched;
use crate::layers::{self, Issue};
use crate::log;
use crate::names;
use crate::output;
use crate::secret::Secret;
use crate::ssm::{Param, Purpose};

pub fn run(cfg: &Config, args: &DiffArgs) -> Result<i32> {
    let prefix = cfg.team.prefix()?;
    let app = cfg.team.one_app("diff")?;
    let shown = args.env.display().to_string();
    let local = read_local(cfg, args, &shown)?;
    let layer =
        config::team_layers(&prefix, std::slice::from_ref(&app), false, Vec::new()).remove(0);
    let base = format!("{prefix}/{app}");
    let path = base.as_str();
    let params = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        Ok(client.get_by_path(path, false).await?)
    })?;
    let remote = remote_vars(layer, params, cfg);

    let d = Differences::between(&local, &remote)?;
    if args.json {
        output::json(&serde_json::json!({
            "file": shown,
            "path": format!("{base}/"),
            "added": d.added,
            "removed": d.removed,
            "changed": d.changed.iter().map(|(k, l, r)| serde_json::json!({"name": k, "file": l, "ssm": r})).collect::<Vec<_>>(),
        }));
    } else {
        d.print();
    }
    if d.is_empty() {
        log::notice!("{shown} matches {base}/ ({} variables)", local.len());
        Ok(exit::OK)
    } else {
        log::notice!(
            "{shown} vs {base}/: {} only in the file, {} only in SSM, {} changed",
            d.added.len(),
            d.removed.len(),
            d.changed.len()
        );
        Ok(exit::RUNTIME)
    }
}

fn read_local(cfg: &Config, args: &DiffArgs, shown: &str) -> Result<BTreeMap<String, Secret>> {
    let bytes = std::fs::read(cfg.cwd()?.join(&args.env))
        .map_err(|e| Error::runtime(format!("reading {shown}: {e}")))?;
    Ok(envfile::parse_as(&bytes, args.env_syntax)
        .map_err(|e| Error::usage(format!("{shown}: {e}")))?
        .into_iter()
        .map(|e| (e.var, e.value))
        .collect())
}

/// The app's variables by the rules `sync` merges with (`layers::merge`):
/// of two keys mapping to one variable the lexically last parameter name
/// wins, keys that make no variable name are left out; each with a
/// warning in diff's words.
fn remote_vars(layer: LayerSpec, params: Vec<Param>, cfg: &Config) -> BTreeMap<String, Secret> {
    let merged = layers::merge(
        &[Fetched {
            spec: layer,
            params,
        }],
        cfg.key_case,
    );
    for issue in &merged.issues {
        match issue {
            Issue::InvalidName { param } => log::warning!(
                "{}: not a valid variable name; left out of the comparison",
                names::printable(param)
            ),
            Issue::Duplicate { var, kept, dropped } => log::warning!(
                "{var}: {} and {} map to the same variable; {} wins",
                names::printable(dropped),
                names::printable(kept),
                names::printable(kept)
            ),
            // One layer: nothing overrides anything.
            Issue::Override { .. } | Issue::FileOverride { .. } => {}
        }
    }
    merged
        .vars
        .into_iter()
        .map(|(var, e)| (var, e.value))
        .collect()
}

/// Variable names only in the file, only in SSM, and in both with other
/// values (with the two salted hash prefixes).
struct Differences<'a> {
    added: Vec<&'a String>,
    removed: Vec<&'a String>,
    changed: Vec<(&'a String, String, String)>,
}

impl<'a> Differences<'a> {
    fn between(
        local: &'a BTreeMap<String, Secret>,
        remote: &'a BTreeMap<String, Secret>,
    ) -> Result<Differences<'a>> {
        let hasher = Hasher::new()?;
        Ok(Differences {
            added: local.keys().filter(|k| !remote.contains_key(*k)).collect(),
            removed: remote.keys().filter(|k| !local.contains_key(*k)).collect(),
            changed: local
                .iter()
                .filter_map(|(k, v)| {
                    let r = remote.get(k)?;
                    (r != v).then(|| (k, hasher.short(v.expose()), hasher.short(r.expose())))
                })
                .collect(),
        })
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// `+ A`, `- B`, `~ C (file h1, ssm h2)`, sorted by name.
    fn print(&self) {
        let mut lines: Vec<(&String, String)> = Vec::new();
        lines.extend(self.added.iter().map(|k| (*k, format!("+ {k}"))));
        lines.extend(self.removed.iter().map(|k| (*k, format!("- {k}"))));
        lines.extend(
            self.changed
                .iter()
                .map(|(k, l, r)| (*k, format!("~ {k} (file {l}, ssm {r})"))),
        );
        lines.sort();
        for (_, line) in lines {
            output::line(&line);
        }
    }
}
