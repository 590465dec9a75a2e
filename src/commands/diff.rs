//! `ssmm diff`: a local env file against an app's parameters, by variable
//! name. Values are never shown: a changed variable shows two salted hash
//! prefixes. Exit 0 when equal, 1 when different.

use std::collections::BTreeMap;

use super::admin::{self, Hasher};
use crate::cli::DiffArgs;
use crate::config::Config;
use crate::envfile;
use crate::error::{Error, Result, exit};
use crate::log;
use crate::names;
use crate::output;
use crate::secret::Secret;
use crate::ssm::Purpose;

pub fn run(cfg: &Config, args: &DiffArgs) -> Result<i32> {
    let cwd = cfg.cwd()?;
    let prefix = cfg.team.prefix()?;
    let app = cfg.team.one_app("diff")?;
    let shown = args.env.display().to_string();
    let bytes = std::fs::read(cwd.join(&args.env))
        .map_err(|e| Error::runtime(format!("reading {shown}: {e}")))?;
    let local: BTreeMap<String, Secret> = envfile::parse_as(&bytes, args.env_syntax)
        .map_err(|e| Error::usage(format!("{shown}: {e}")))?
        .into_iter()
        .map(|e| (e.var, e.value))
        .collect();

    let base = format!("{prefix}/{app}");
    let path = base.as_str();
    let mut params = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        Ok(client.get_by_path(path, false).await?)
    })?;
    // As in sync: of two keys mapping to one variable, the lexically last
    // parameter name wins.
    params.sort_by(|a, b| a.name.cmp(&b.name));
    let mut remote: BTreeMap<String, Secret> = BTreeMap::new();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for p in params {
        match names::key_to_var(names::last_segment(&p.name), cfg.key_case) {
            Some(var) => {
                if let Some(earlier) = from.insert(var.clone(), p.name.clone()) {
                    log::warning!(
                        "{var}: {} and {} map to the same variable; {} wins",
                        names::printable(&earlier),
                        names::printable(&p.name),
                        names::printable(&p.name)
                    );
                }
                remote.insert(var, p.value);
            }
            None => log::warning!(
                "{}: not a valid variable name; left out of the comparison",
                names::printable(&p.name)
            ),
        }
    }

    let hasher = Hasher::new()?;
    let added: Vec<&String> = local.keys().filter(|k| !remote.contains_key(*k)).collect();
    let removed: Vec<&String> = remote.keys().filter(|k| !local.contains_key(*k)).collect();
    let changed: Vec<(&String, String, String)> = local
        .iter()
        .filter_map(|(k, v)| {
            let r = remote.get(k)?;
            (r != v).then(|| (k, hasher.short(v.expose()), hasher.short(r.expose())))
        })
        .collect();

    if args.json {
        output::json(&serde_json::json!({
            "file": shown,
            "path": format!("{base}/"),
            "added": added,
            "removed": removed,
            "changed": changed.iter().map(|(k, l, r)| serde_json::json!({"name": k, "file": l, "ssm": r})).collect::<Vec<_>>(),
        }));
    } else {
        let mut lines: Vec<(&String, String)> = Vec::new();
        lines.extend(added.iter().map(|k| (*k, format!("+ {k}"))));
        lines.extend(removed.iter().map(|k| (*k, format!("- {k}"))));
        lines.extend(
            changed
                .iter()
                .map(|(k, l, r)| (*k, format!("~ {k} (file {l}, ssm {r})"))),
        );
        lines.sort();
        for (_, line) in lines {
            output::line(&line);
        }
    }
    let differs = !(added.is_empty() && removed.is_empty() && changed.is_empty());
    if differs {
        log::notice!(
            "{shown} vs {base}/: {} only in the file, {} only in SSM, {} changed",
            added.len(),
            removed.len(),
            changed.len()
        );
        Ok(exit::RUNTIME)
    } else {
        log::notice!("{shown} matches {base}/ ({} variables)", local.len());
        Ok(exit::OK)
    }
}
