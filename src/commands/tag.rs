//! `ssmm tag add|remove|list KEY`: a parameter's tags. Tags are metadata,
//! not secrets, so they are printed.

use super::admin;
use crate::cli::TagAction;
use crate::config;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::names;
use crate::output;
use crate::ssm::Purpose;

pub fn run(cfg: &Config, action: &TagAction) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let key = match action {
        TagAction::Add { key, .. }
        | TagAction::Remove { key, .. }
        | TagAction::List { key, .. } => key,
    };
    let name = admin::key_name(cfg, &prefix, key, "tag")?;
    let shown = names::printable(&name);
    let (name, shown) = (name.as_str(), shown.as_str());
    match action {
        TagAction::Add { tags, .. } => {
            let tags = config::parse_tags(tags, "tag")?;
            admin::on_ssm(cfg, Purpose::Write, |c| async move {
                c.add_tags(name, &tags).await?;
                log::notice!(
                    "tagged {shown}: {}",
                    tags.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Ok(())
            })
        }
        TagAction::Remove { tag_keys, .. } => {
            if let Some(bad) = tag_keys.iter().find(|k| k.is_empty() || k.contains('=')) {
                return Err(Error::usage(format!(
                    "invalid tag key {}: give keys only (tag remove KEY K...)",
                    names::quoted(bad)
                )));
            }
            admin::on_ssm(cfg, Purpose::Write, |c| async move {
                // RemoveTagsFromResource succeeds on a missing parameter in
                // some implementations: check it exists first.
                c.list_tags(name).await?;
                c.remove_tags(name, tag_keys).await?;
                log::notice!("removed from {shown}: {}", tag_keys.join(", "));
                Ok(())
            })
        }
        TagAction::List { json, .. } => admin::on_ssm(cfg, Purpose::Read, |c| async move {
            let tags = c.list_tags(name).await?;
            if *json {
                let obj: serde_json::Map<String, serde_json::Value> = tags
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                output::json(&serde_json::Value::Object(obj));
            } else {
                for (k, v) in tags {
                    output::line(&format!("{k}={v}"));
                }
            }
            Ok(())
        }),
    }
}
