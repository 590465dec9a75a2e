//! `ssmm dirs`: every app namespace under the prefix with its parameter
//! count and last change, from DescribeParameters (no values read).

use std::collections::BTreeMap;

use super::admin;
use crate::cli::DirsArgs;
use crate::config::Config;
use crate::error::Result;
use crate::log;
use crate::names::printable;
use crate::output;
use crate::ssm::{self, Purpose};

#[derive(Default)]
struct Dir {
    count: usize,
    last_modified: Option<String>,
}

pub fn run(cfg: &Config, args: &DirsArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let filters = ssm::path_filters(&prefix, true, &[])?;
    let root = prefix.as_str();
    let metas = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        Ok(client.describe_meta(root, filters).await?)
    })?;

    // Parameters directly under the prefix belong to no app: key "".
    let mut dirs: BTreeMap<String, Dir> = BTreeMap::new();
    for m in &metas {
        let rel = admin::relative(&prefix, &m.name);
        let app = rel.split_once('/').map(|(a, _)| a).unwrap_or("");
        let d = dirs.entry(app.to_string()).or_default();
        d.count += 1;
        // RFC 3339 in UTC: the text order is the time order.
        if m.last_modified > d.last_modified {
            d.last_modified = m.last_modified.clone();
        }
    }
    if args.json {
        let rows: Vec<serde_json::Value> = dirs
            .iter()
            .map(|(app, d)| {
                serde_json::json!({
                    "app": (!app.is_empty()).then_some(app),
                    "path": if app.is_empty() { prefix.clone() } else { format!("{prefix}/{app}") },
                    "count": d.count,
                    "last_modified": d.last_modified,
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(rows));
    } else {
        let rows: Vec<Vec<String>> = dirs
            .iter()
            .map(|(app, d)| {
                vec![
                    if app.is_empty() {
                        format!("{prefix}/ (no app)")
                    } else {
                        format!("{prefix}/{}/", printable(app))
                    },
                    d.count.to_string(),
                    d.last_modified.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        output::table(&rows);
    }
    if dirs.is_empty() {
        log::notice!("no parameters under {prefix}/");
    }
    Ok(())
}
