//! `ssmm check`: the same key in several apps (`--duplicates`) and
//! parameters holding identical values (`--values`), shown as salted hash
//! prefixes unless `--show-values`. A report, not a gate: exit 0 whatever it
//! finds.

use std::collections::BTreeMap;

use super::admin::{self, Hasher};
use crate::cli::CheckArgs;
use crate::config::Config;
use crate::error::Result;
use crate::log;
use crate::names::printable;
use crate::output;
use crate::ssm::{self, Param, Purpose};

pub fn run(cfg: &Config, args: &CheckArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    // Neither check named: both. --show-values implies --values.
    let (want_dups, want_values) = match (args.duplicates, args.values) {
        (false, false) => (true, true),
        (d, v) => (d, v || args.show_values),
    };
    let filters = ssm::path_filters(&prefix, true, &[])?;
    let root = prefix.as_str();
    // Values are only read (and decrypted) when they are compared.
    let (names, params): (Vec<String>, _) =
        admin::on_ssm(cfg, Purpose::Read, |client| async move {
            Ok(if want_values {
                let params = client.get_by_path(root, true).await?;
                (params.iter().map(|p| p.name.clone()).collect(), params)
            } else {
                (client.describe_names(root, filters).await?, Vec::new())
            })
        })?;

    let dups = duplicate_keys(&prefix, &names);
    let same = identical_values(&params, args.show_values)?;
    if args.json {
        print_json(want_dups.then_some(&dups), want_values.then_some(&same));
    } else {
        print_text(want_dups.then_some(&dups), want_values.then_some(&same));
    }
    log::notice!(
        "checked {} under {prefix}/",
        output::count(names.len(), "parameter")
    );
    Ok(())
}

/// A key and the apps holding it.
type Duplicate<'a> = (&'a str, Vec<&'a str>);
/// A value's hash prefix, the value itself with `--show-values`, and the
/// parameters holding it.
type Same<'a> = (String, Option<&'a str>, Vec<&'a str>);

/// Keys that stand in more than one app, with those apps, sorted.
fn duplicate_keys<'a>(prefix: &str, names: &'a [String]) -> Vec<Duplicate<'a>> {
    let mut keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for name in names {
        if let Some((app, key)) = admin::relative(prefix, name).split_once('/') {
            keys.entry(key).or_default().push(app);
        }
    }
    keys.into_iter()
        .filter(|(_, apps)| apps.len() > 1)
        .map(|(k, mut apps)| {
            apps.sort();
            (k, apps)
        })
        .collect()
}

/// Values held by more than one parameter: grouped on the value itself,
/// shown as a salted hash prefix (and the value with `show_values`).
fn identical_values(params: &[Param], show_values: bool) -> Result<Vec<Same<'_>>> {
    let hasher = Hasher::new()?;
    let mut by_value: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in params {
        by_value
            .entry(p.value.expose())
            .or_default()
            .push(p.name.as_str());
    }
    let mut same: Vec<Same<'_>> = by_value
        .into_iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|(value, mut names)| {
            names.sort();
            let shown = show_values.then_some(value);
            (hasher.short(value), shown, names)
        })
        .collect();
    same.sort_by(|a, b| a.2.cmp(&b.2));
    Ok(same)
}

fn print_json(dups: Option<&Vec<Duplicate<'_>>>, same: Option<&Vec<Same<'_>>>) {
    let mut doc = serde_json::Map::new();
    if let Some(dups) = dups {
        doc.insert(
            "duplicates".into(),
            dups.iter()
                .map(|(k, apps)| serde_json::json!({"key": k, "apps": apps}))
                .collect(),
        );
    }
    if let Some(same) = same {
        doc.insert(
            "values".into(),
            same.iter()
                .map(|(hash, value, names)| {
                    let mut o = serde_json::json!({"hash": hash, "parameters": names});
                    if let Some(v) = value {
                        o["value"] = serde_json::Value::String(v.to_string());
                    }
                    o
                })
                .collect(),
        );
    }
    output::json(&serde_json::Value::Object(doc));
}

fn print_text(dups: Option<&Vec<Duplicate<'_>>>, same: Option<&Vec<Same<'_>>>) {
    if let Some(dups) = dups {
        output::line(&format!("Keys in several apps: {}", dups.len()));
        for (k, apps) in dups {
            output::line(&format!("  {}: {}", printable(k), shown(apps)));
        }
    }
    if let Some(same) = same {
        output::line(&format!("Identical values: {}", same.len()));
        for (hash, value, names) in same {
            // A value may hold newlines: shown JSON-quoted, on one line.
            let label = match value {
                Some(v) => serde_json::Value::String(v.to_string()).to_string(),
                None => hash.clone(),
            };
            output::line(&format!("  {label}: {}", shown(names)));
        }
    }
}

/// Names (or apps) from SSM, escaped, comma-separated.
fn shown(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| printable(n))
        .collect::<Vec<_>>()
        .join(", ")
}
