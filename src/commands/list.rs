//! `ssmm list`: parameter names, types, tiers, versions and dates under an
//! app (or the whole prefix), optionally filtered by tags. Never values:
//! only DescribeParameters is called.

use super::admin;
use crate::cli::ListArgs;
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::log;
use crate::names::printable;
use crate::output;
use crate::ssm::{self, Meta, Purpose};

pub fn run(cfg: &Config, args: &ListArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let tags = config::parse_tags(&args.tag, "--tag")?;
    let bases: Vec<String> = if args.all {
        if !cfg.team.app_flags().is_empty() {
            return Err(Error::usage("--all lists every app; drop --app"));
        }
        vec![prefix.clone()]
    } else {
        cfg.team
            .apps()?
            .iter()
            .map(|a| format!("{prefix}/{a}"))
            .collect()
    };
    let filters = bases
        .iter()
        .map(|b| ssm::path_filters(b, true, &tags))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let paths = &bases;
    let mut metas: Vec<Meta> = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        let calls = paths
            .iter()
            .zip(filters)
            .map(|(base, f)| client.describe_meta(base, f));
        let found = futures_util::future::try_join_all(calls).await?;
        Ok(found.into_iter().flatten().collect())
    })?;
    metas.sort_by(|a, b| a.name.cmp(&b.name));
    metas.dedup_by(|a, b| a.name == b.name);

    if args.json {
        print_json(&prefix, &metas);
    } else if args.keys_only {
        for m in &metas {
            output::line(&printable(&m.name));
        }
    } else {
        print_table(&metas);
    }
    if metas.is_empty() {
        log::notice!(
            "no parameters under {}",
            bases
                .iter()
                .map(|b| format!("{b}/"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn print_json(prefix: &str, metas: &[Meta]) {
    let rows: Vec<serde_json::Value> = metas
        .iter()
        .map(|m| {
            let rel = admin::relative(prefix, &m.name);
            let (app, key) = rel.split_once('/').unwrap_or(("", rel));
            serde_json::json!({
                "name": m.name,
                "app": (!app.is_empty()).then_some(app),
                "key": key,
                "type": m.kind.as_str(),
                "tier": m.tier.as_str(),
                "version": m.version,
                "last_modified": m.last_modified,
            })
        })
        .collect();
    output::json(&serde_json::Value::Array(rows));
}

fn print_table(metas: &[Meta]) {
    let rows: Vec<Vec<String>> = metas
        .iter()
        .map(|m| {
            vec![
                printable(&m.name),
                m.kind.as_str().to_string(),
                m.tier.as_str().to_string(),
                format!("v{}", m.version),
                m.last_modified.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(&rows);
}
