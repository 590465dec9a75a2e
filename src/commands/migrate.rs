//! `ssmm migrate OLD NEW`: move a namespace in three steps, each safe to
//! repeat (docs/CONTRACT.md §3):
//! 1. copy every parameter under OLD to NEW: value, type, tier, KMS key,
//!    description, data type and tags (`app=OLD` becomes `app=NEW`);
//! 2. `--delete-old`: verify every copy against its source, write a JSON
//!    backup of OLD (0600, unpredictable name) and list what would go;
//! 3. `--delete-old --confirm`: the same, then delete OLD.
//!
//! Nothing is deleted unless every copy verifies, and the backup is on disk
//! before the first delete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_ssm::types::ParameterTier;

use super::admin;
use super::delete;
use crate::cli::MigrateArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::log::{self, Level};
use crate::names::printable;
use crate::output;
use crate::progress;
use crate::secret::Secret;
use crate::ssm::{self, Meta, Purpose, PutRequest, Ssm};
use crate::write;

/// A parameter with everything a copy must carry.
struct Full {
    meta: Meta,
    value: Secret,
    tags: Vec<(String, String)>,
}

struct Plan {
    /// OLD and NEW as given, for the next command to suggest.
    args: (String, String),
    old: String,
    new: String,
    /// (old app, new app) when both are app names: the `app` tag moves.
    apps: Option<(String, String)>,
}

impl Plan {
    fn target(&self, name: &str) -> String {
        format!("{}/{}", self.new, admin::relative(&self.old, name))
    }

    /// The tags a copy of a parameter with `tags` should carry.
    fn target_tags(&self, tags: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| match &self.apps {
                Some((old, new)) if k == "app" && v == old => (k.clone(), new.clone()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        out.sort();
        out
    }
}

pub fn run(cfg: &Config, args: &MigrateArgs) -> Result<()> {
    let needs_prefix = !args.old.starts_with('/') || !args.new.starts_with('/');
    let prefix = if needs_prefix {
        Some(cfg.team.prefix()?)
    } else {
        None
    };
    let (old, old_app) = admin::namespace(prefix.as_deref(), &args.old)?;
    let (new, new_app) = admin::namespace(prefix.as_deref(), &args.new)?;
    let nested = |a: &str, b: &str| a == b || b.starts_with(&format!("{a}/"));
    if nested(&old, &new) || nested(&new, &old) {
        return Err(Error::usage(format!(
            "{old} and {new} overlap: migrate between separate namespaces"
        )));
    }
    let plan = Plan {
        args: (args.old.clone(), args.new.clone()),
        old,
        new,
        apps: old_app.zip(new_app),
    };
    let backup_dir = match &args.backup_dir {
        Some(dir) => cfg.cwd()?.join(dir),
        None => std::env::temp_dir(),
    };
    let (plan, backup_dir) = (&plan, backup_dir.as_path());
    admin::on_ssm(cfg, Purpose::Write, |client| async move {
        if args.delete_old {
            verify_backup_delete(&client, plan, backup_dir, args.confirm).await
        } else {
            copy(&client, plan, args.overwrite).await
        }
    })
}

/// Every parameter under `base` with value, metadata and tags, by name.
async fn read_all(client: &Ssm, base: &str) -> Result<Vec<Full>> {
    let filters = ssm::path_filters(base, true, &[])?;
    let (metas, values) = futures_util::future::try_join(
        client.describe_meta(base, filters),
        client.get_by_path(base, true),
    )
    .await
    .map_err(Error::Runtime)?;
    let mut values: HashMap<String, Secret> =
        values.into_iter().map(|p| (p.name, p.value)).collect();
    let tag_calls = metas.iter().map(|m| client.list_tags(&m.name));
    let tags = futures_util::future::try_join_all(tag_calls)
        .await
        .map_err(Error::Runtime)?;
    let mut out = Vec::with_capacity(metas.len());
    for (meta, tags) in metas.into_iter().zip(tags) {
        // Listed but gone by the time values were read: not there.
        if let Some(value) = values.remove(&meta.name) {
            out.push(Full { meta, value, tags });
        }
    }
    out.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    Ok(out)
}

fn nothing_under(base: &str) -> Error {
    Error::runtime(format!("no parameters under {base}/"))
}

async fn copy(client: &Ssm, plan: &Plan, overwrite: bool) -> Result<()> {
    let sources = read_all(client, &plan.old).await?;
    if sources.is_empty() {
        return Err(nothing_under(&plan.old));
    }
    let targets: Vec<String> = sources.iter().map(|s| plan.target(&s.meta.name)).collect();
    let (existing, target_metas) = futures_util::future::try_join(
        client.get_many(&targets),
        client.describe_meta(&plan.new, ssm::path_filters(&plan.new, true, &[])?),
    )
    .await
    .map_err(Error::Runtime)?;
    let tiers: HashMap<String, ParameterTier> =
        target_metas.into_iter().map(|m| (m.name, m.tier)).collect();

    // Decide everything before the first write.
    let (todo, conflicts) = decide(&sources, &targets, &existing, &tiers, overwrite);
    let already = todo.iter().filter(|t| t.3).count();
    if !conflicts.is_empty() {
        return Err(Error::runtime(format!(
            "{} parameters under {}/ already exist with a different value or type; nothing was copied (pass --overwrite to replace them): {}",
            conflicts.len(),
            plan.new,
            conflicts
                .iter()
                .map(|n| printable(n))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    let tiers = &tiers;
    let writes = todo.iter().map(|&(src, target, exists, same)| async move {
        let result = if same {
            copy_tags(client, plan, src, target, exists).await
        } else {
            copy_one(
                client,
                plan,
                src,
                target,
                exists,
                tiers.get(target.as_str()),
            )
            .await
        };
        (src, target, same, result)
    });
    let results = progress::run_all(
        todo.len(),
        "copy",
        writes,
        |bar, (src, target, same, result)| {
            bar.inc();
            match result {
                Ok(()) if *same => bar.line(&format!(
                    "{} = {} (already copied)",
                    printable(&src.meta.name),
                    printable(target)
                )),
                Ok(()) => bar.line(&format!(
                    "{} -> {}",
                    printable(&src.meta.name),
                    printable(target)
                )),
                Err(e) => bar.emit(Level::Error, &format!("{e:#}")),
            }
        },
    )
    .await;
    let results: Vec<_> = results.into_iter().map(|(_, _, _, r)| r).collect();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(Error::runtime(format!(
            "{failed} of {} parameters were not copied to {}/; run the same command again",
            sources.len(),
            plan.new
        )));
    }
    log::notice!(
        "copied {} from {}/ to {}/ ({already} already there); next: ssmm migrate {} {} --delete-old",
        output::count(sources.len(), "parameter"),
        plan.old,
        plan.new,
        plan.args.0,
        plan.args.1
    );
    Ok(())
}

/// (source, target, target exists, target already holds the value)
type Copy<'a> = (&'a Full, &'a String, bool, bool);

/// What each copy needs: a new target, a replaced one (`overwrite`), or
/// only tags (same value and type, and a tier at least the source's); and
/// the targets that hold something else, which stop the whole copy.
fn decide<'a>(
    sources: &'a [Full],
    targets: &'a [String],
    existing: &[Option<ssm::Param>],
    tiers: &HashMap<String, ParameterTier>,
    overwrite: bool,
) -> (Vec<Copy<'a>>, Vec<&'a str>) {
    let mut conflicts = Vec::new();
    let mut todo: Vec<Copy<'a>> = Vec::new();
    for ((src, target), found) in sources.iter().zip(targets).zip(existing) {
        match found {
            None => todo.push((src, target, false, false)),
            // Same value: only the tags may need bringing over, or the
            // value again to raise the tier (never lowered).
            Some(p) if p.value == src.value && p.kind == src.meta.kind => {
                let tier_ok = tiers
                    .get(target.as_str())
                    .is_some_and(|t| tier_rank(t) >= tier_rank(&src.meta.tier));
                todo.push((src, target, true, tier_ok))
            }
            Some(_) if overwrite => todo.push((src, target, true, false)),
            Some(_) => conflicts.push(target.as_str()),
        }
    }
    (todo, conflicts)
}

/// Write `src`'s value, type, tier, KMS key, description and data type to
/// `target`, then its tags. SSM cannot lower a tier: the target's is kept
/// when higher.
async fn copy_one(
    client: &Ssm,
    plan: &Plan,
    src: &Full,
    target: &str,
    exists: bool,
    target_tier: Option<&ParameterTier>,
) -> anyhow::Result<()> {
    let tags = plan.target_tags(&src.tags);
    let req = PutRequest {
        name: target,
        value: &src.value,
        kind: src.meta.kind.clone(),
        tier: match target_tier {
            Some(t) if tier_rank(t) > tier_rank(&src.meta.tier) => t.clone(),
            _ => src.meta.tier.clone(),
        },
        key_id: src.meta.key_id.as_deref(),
        description: src.meta.description.as_deref(),
        data_type: src.meta.data_type.as_deref(),
        overwrite: exists,
        tags: &tags,
    };
    client.put(&req).await?;
    copy_tags(client, plan, src, target, exists).await
}

/// An existing target gets `src`'s tags (a new one got them with the put).
async fn copy_tags(
    client: &Ssm,
    plan: &Plan,
    src: &Full,
    target: &str,
    exists: bool,
) -> anyhow::Result<()> {
    let tags = plan.target_tags(&src.tags);
    if exists && !tags.is_empty() {
        client.add_tags(target, &tags).await?;
    }
    Ok(())
}

/// Why a copy does not match its source, if it does not.
fn mismatch(plan: &Plan, src: &Full, copy: Option<&Full>) -> Option<&'static str> {
    let Some(copy) = copy else {
        return Some("no copy");
    };
    if copy.value != src.value {
        return Some("the value differs");
    }
    if copy.meta.kind != src.meta.kind {
        return Some("the type differs");
    }
    if tier_rank(&copy.meta.tier) < tier_rank(&src.meta.tier) {
        return Some("the tier differs");
    }
    let want = plan.target_tags(&src.tags);
    if !want.iter().all(|t| copy.tags.contains(t)) {
        return Some("tags are missing");
    }
    None
}

fn tier_rank(t: &ParameterTier) -> u8 {
    match t {
        ParameterTier::Standard => 0,
        _ => 1,
    }
}

async fn verify_backup_delete(
    client: &Ssm,
    plan: &Plan,
    backup_dir: &Path,
    confirm: bool,
) -> Result<()> {
    let (sources, copies) =
        futures_util::future::try_join(read_all(client, &plan.old), read_all(client, &plan.new))
            .await?;
    if sources.is_empty() {
        return Err(nothing_under(&plan.old));
    }
    let copies: HashMap<&str, &Full> = copies.iter().map(|c| (c.meta.name.as_str(), c)).collect();
    let bad: Vec<String> = sources
        .iter()
        .filter_map(|s| {
            let target = plan.target(&s.meta.name);
            mismatch(plan, s, copies.get(target.as_str()).copied()).map(|why| {
                format!(
                    "{} -> {}: {why}",
                    printable(&s.meta.name),
                    printable(&target)
                )
            })
        })
        .collect();
    if !bad.is_empty() {
        for line in &bad {
            log::emit(Level::Error, line);
        }
        return Err(Error::runtime(format!(
            "{} of {} copies under {}/ do not match their source; nothing was deleted (run `ssmm migrate {} {}` again to copy)",
            bad.len(),
            sources.len(),
            plan.new,
            plan.args.0,
            plan.args.1
        )));
    }
    let backup = write_backup(backup_dir, plan, &sources).map_err(Error::Runtime)?;
    log::notice!(
        "verified {}; backup of {}/ written to {}",
        output::count(sources.len(), "copy").replace("copys", "copies"),
        plan.old,
        backup.display()
    );
    let names: Vec<String> = sources.iter().map(|s| s.meta.name.clone()).collect();
    if !confirm {
        for name in &names {
            crate::output::line(&format!("would delete {}", printable(name)));
        }
        log::notice!(
            "{} under {}/ would be deleted; add --confirm to delete them",
            output::count(names.len(), "parameter"),
            plan.old
        );
        return Ok(());
    }
    delete::delete_all(client, &names, &plan.old).await
}

/// The sources as JSON, in a new file named with 128 random bits, created
/// 0600 with O_EXCL|O_NOFOLLOW and fsync-ed before anything is deleted.
fn write_backup(dir: &Path, plan: &Plan, sources: &[Full]) -> anyhow::Result<PathBuf> {
    let params: Vec<serde_json::Value> = sources
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.meta.name,
                "type": s.meta.kind.as_str(),
                "tier": s.meta.tier.as_str(),
                "version": s.meta.version,
                "key_id": s.meta.key_id,
                "description": s.meta.description,
                "data_type": s.meta.data_type,
                "last_modified": s.meta.last_modified,
                "tags": s.tags.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect::<serde_json::Map<_, _>>(),
                "value": s.value.expose(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "source": plan.old,
        "destination": plan.new,
        "parameters": params,
    });
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    let names = ("ssmm-migrate-backup-", ".json");
    Ok(write::create_unique(
        dir,
        "the backup",
        names,
        text.as_bytes(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_app_tags_move() {
        let plan = Plan {
            args: ("api".into(), "api2".into()),
            old: "/acme/api".into(),
            new: "/acme/api2".into(),
            apps: Some(("api".into(), "api2".into())),
        };
        assert_eq!(
            plan.target("/acme/api/files/a.pem"),
            "/acme/api2/files/a.pem"
        );
        assert_eq!(
            plan.target_tags(&[("owner".into(), "x".into()), ("app".into(), "api".into())]),
            vec![
                ("app".to_string(), "api2".to_string()),
                ("owner".into(), "x".into())
            ]
        );
    }
}
