//! `ssmm history KEY`: every version of one parameter (GetParameterHistory
//! without decryption): number, date, who wrote it, type, tier and labels.
//! The answer carries each version's value; it is never kept or printed.

use serde_json::json;

use super::admin;
use crate::cli::HistoryArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::names::printable;
use crate::output;
use crate::ssm::{Purpose, Version};

pub fn run(cfg: &Config, args: &HistoryArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let name = admin::key_name(cfg, &prefix, &args.key, "history")?;
    let wanted = name.as_str();
    let found = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        Ok(client.history(wanted).await?)
    })?;
    let Some(versions) = found else {
        return Err(not_found(&name));
    };
    if args.json {
        output::json(&serde_json::Value::Array(
            versions.iter().map(to_json).collect(),
        ));
    } else {
        let mut rows = vec![
            ["VERSION", "LAST MODIFIED", "USER", "TYPE", "TIER", "LABELS"]
                .map(str::to_string)
                .to_vec(),
        ];
        rows.extend(versions.iter().map(to_row));
        output::table(&rows);
    }
    Ok(())
}

/// What `history` and `rollback` say about a parameter that is not there.
pub fn not_found(name: &str) -> Error {
    Error::runtime(format!("parameter {} not found", printable(name)))
}

fn to_row(v: &Version) -> Vec<String> {
    let or_dash = |s: Option<&str>| s.map_or_else(|| "-".to_string(), printable);
    let labels = if v.labels.is_empty() {
        "-".to_string()
    } else {
        v.labels
            .iter()
            .map(|l| printable(l))
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        v.version.to_string(),
        or_dash(v.last_modified.as_deref()),
        or_dash(v.user.as_deref()),
        v.kind.as_str().to_string(),
        or_dash(v.tier.as_ref().map(|t| t.as_str())),
        labels,
    ]
}

fn to_json(v: &Version) -> serde_json::Value {
    let mut obj = json!({
        "version": v.version,
        "last_modified": v.last_modified,
        "user": v.user,
        "type": v.kind.as_str(),
        "labels": v.labels,
    });
    if let Some(tier) = &v.tier {
        obj["tier"] = json!(tier.as_str());
    }
    obj
}
