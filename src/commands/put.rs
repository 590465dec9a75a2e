//! `ssmm put`: variables from `KEY=VALUE` arguments and `--env` files become
//! parameters under `/<prefix>/<app>/`, typed by suffix or flag, tagged
//! `app=<app>`. Everything is checked before the first write; existing
//! parameters are only replaced with `--overwrite`, and keep their type
//! unless a flag names the key. One line per key, never the value.
//!
//! `Writer` is that write path from the type flags on; `set` uses it too.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use super::admin;
use crate::cli::{PutArgs, WriteArgs};
use crate::config::{self, Config};
use crate::envfile;
use crate::error::{Error, Result};
use crate::log::{self, Level};
use crate::names;
use crate::progress;
use crate::secret::Secret;
use crate::ssm::{Purpose, PutRequest, Ssm};

/// Variable suffixes stored as String (docs/CONTRACT.md §3); everything else, `_URL`
/// included, is SecureString.
const PLAIN_SUFFIXES: [&str; 8] = [
    "_PATH",
    "_DIR",
    "_CHANNEL",
    "_NAME",
    "_HOST",
    "_PORT",
    "_REGION",
    "_ENDPOINT",
];

/// SSM's value limits, in bytes.
const STANDARD_MAX: usize = 4096;
const ADVANCED_MAX: usize = 8192;

/// One parameter to write, before its type is decided: what `put` read
/// from its arguments and files, or what `set` read from the terminal.
pub struct Entry {
    /// What the suffix rules and the type flags look at (`DB_URL`; for
    /// `set`, the variable of the KEY's last segment).
    pub var: String,
    pub name: String,
    /// The namespace the parameter is in: its `app=` tag.
    pub app: String,
    /// How messages name it: the variable for `put`, the name for `set`.
    pub label: String,
    pub value: Secret,
}

/// One parameter to write, typed.
struct Item {
    entry: Entry,
    kind: ParameterType,
    why: &'static str,
}

/// The type a variable gets and why (`flag`, `existing`, `auto: suffix`,
/// `auto: default`). `existing` is the type of the parameter being replaced
/// (`--overwrite`): it is kept whichever way, so a SecureString never
/// silently becomes a String, and a String the default rule would make a
/// SecureString stays a String too. Only a flag naming the key changes it.
pub fn decide_type(
    var: &str,
    plain: &HashSet<String>,
    secure: &HashSet<String>,
    plain_all: bool,
    existing: Option<&ParameterType>,
) -> (ParameterType, &'static str) {
    let upper = var.to_ascii_uppercase();
    if secure.contains(&upper) {
        (ParameterType::SecureString, "flag")
    } else if plain_all || plain.contains(&upper) {
        (ParameterType::String, "flag")
    } else if let Some(kind) = existing {
        (kind.clone(), "existing")
    } else if PLAIN_SUFFIXES.iter().any(|s| upper.ends_with(s)) {
        (ParameterType::String, "auto: suffix")
    } else {
        (ParameterType::SecureString, "auto: default")
    }
}

/// A KEY given on the command line or in a file -> (variable, key segment).
/// Variables map as docs/CONTRACT.md §2 says (`SLACK_CHANNEL` -> `slack-channel`); a key
/// that is already in key form (`db.host`, `db-url`) is kept.
fn key_of(raw: &str) -> Option<(String, String)> {
    if names::is_valid_var(raw) {
        return Some((raw.to_string(), names::var_to_key(raw)));
    }
    if !names::is_valid_segment(raw) {
        return None;
    }
    let var = names::key_to_var(raw, names::KeyCase::Upper)?;
    Some((var, raw.to_string()))
}

/// A `--plain-key`/`--secure` argument -> the upper-case variable it names.
fn flag_var(raw: &str, flag: &str) -> Result<String> {
    key_of(raw)
        .map(|(var, _)| var.to_ascii_uppercase())
        .ok_or_else(|| {
            Error::usage(format!(
                "invalid {flag} {}: expected a variable name or key",
                names::quoted(raw)
            ))
        })
}

fn read_env_file(cwd: &Path, path: &Path, syntax: envfile::Syntax) -> Result<Vec<envfile::Entry>> {
    let shown = path.display().to_string();
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::runtime(format!("reading standard input: {e}")))?;
        buf
    } else {
        std::fs::read(cwd.join(path))
            .map_err(|e| Error::runtime(format!("reading {shown}: {e}")))?
    };
    envfile::parse_as(&bytes, syntax).map_err(|e| Error::usage(format!("{shown}: {e}")))
}

/// Where `put` (and `onboard`) take the variables from.
pub struct Input<'a> {
    /// `KEY=VALUE` arguments, after the file's, so they win.
    pub pairs: &'a [String],
    /// `--env FILE` (`-`: standard input).
    pub env: Option<&'a Path>,
    pub syntax: envfile::Syntax,
}

/// Everything to write, in order, later sources winning: `--env` first, then
/// the arguments.
fn collect(input: &Input, cwd: &Path) -> Result<Vec<(String, String, Secret)>> {
    let mut raw: Vec<(String, Secret, String)> = Vec::new();
    if let Some(path) = input.env {
        for e in read_env_file(cwd, path, input.syntax)? {
            let origin = format!("{} line {}", path.display(), e.line);
            raw.push((e.var, e.value, origin));
        }
    }
    for (i, pair) in input.pairs.iter().enumerate() {
        // Never show the argument: it may be a secret missing its `KEY=`.
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Error::usage(format!("argument {} is not KEY=VALUE", i + 1)));
        };
        raw.push((k.to_string(), Secret::new(v), format!("argument {}", i + 1)));
    }
    if raw.is_empty() {
        return Err(Error::usage(
            "nothing to put: give KEY=VALUE arguments or --env FILE",
        ));
    }
    let mut out: Vec<(String, String, Secret)> = Vec::new();
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    for (k, value, origin) in raw {
        // Not shown: with a value holding `=`, part of it could be in `k`.
        let Some((var, key)) = key_of(&k) else {
            return Err(Error::usage(format!(
                "{origin}: invalid variable name (use A-Z a-z 0-9 _ not starting with a digit, or a key of A-Z a-z 0-9 _ . -)"
            )));
        };
        if value.is_empty() {
            return Err(Error::usage(format!(
                "{var} ({origin}): empty value; SSM cannot store an empty parameter"
            )));
        }
        if let Some((idx, first)) = seen.get(&key) {
            log::warning!("{var}: set in {first} and {origin}; the last one wins");
            out[*idx] = (var, key.clone(), value);
            seen.insert(key, (*idx, origin));
        } else {
            seen.insert(key.clone(), (out.len(), origin));
            out.push((var, key, value));
        }
    }
    Ok(out)
}

pub fn run(cfg: &Config, args: &PutArgs) -> Result<()> {
    let input = Input {
        pairs: &args.pairs,
        env: args.env.as_deref(),
        syntax: args.env_syntax,
    };
    prepare(cfg, &input, &args.write, "put")?.write(cfg)
}

/// A `put` read and checked, not written yet: `onboard` shows its
/// [`Prepared::plan`] or writes it.
pub struct Prepared<'a> {
    pub prefix: String,
    pub app: String,
    writer: Writer<'a>,
    entries: Vec<Entry>,
}

/// Reads and checks everything `put` would write (names, values, flags),
/// before any call to SSM. `verb`: the command, for messages.
pub fn prepare<'a>(
    cfg: &Config,
    input: &Input,
    write: &'a WriteArgs,
    verb: &'static str,
) -> Result<Prepared<'a>> {
    let prefix = cfg.team.prefix()?;
    let app = cfg.team.one_app(verb)?;
    let collected = collect(input, cfg.cwd()?)?;
    let vars: Vec<&str> = collected.iter().map(|(v, _, _)| v.as_str()).collect();
    let writer = Writer::new(write, "put", &vars, &app)?;
    let entries = collected
        .into_iter()
        .map(|(var, key, value)| Entry {
            name: format!("{prefix}/{app}/{key}"),
            app: app.clone(),
            label: var.clone(),
            var,
            value,
        })
        .collect();
    Ok(Prepared {
        prefix,
        app,
        writer,
        entries,
    })
}

/// What [`Prepared::plan`] found for one parameter.
pub struct Planned {
    pub name: String,
    /// The key, the last segment of the name.
    pub key: String,
    pub kind: ParameterType,
    pub why: &'static str,
    pub len: usize,
    /// It exists already: replaced with `--overwrite`, else refused.
    pub exists: bool,
}

impl Prepared<'_> {
    /// Writes everything, exactly as `put` does: one line per key, then
    /// the summary.
    pub fn write(self, cfg: &Config) -> Result<()> {
        let Prepared {
            prefix,
            app,
            writer,
            entries,
        } = self;
        let (created, replaced) = writer.write(cfg, entries)?;
        log::notice!(
            "put {} under {prefix}/{app}/ ({created} created, {replaced} replaced)",
            crate::output::count(created + replaced, "parameter")
        );
        Ok(())
    }

    /// What [`Prepared::write`] would do, read from SSM without writing:
    /// the size checks, the existence check (types only, no values) and
    /// the type each parameter would get.
    pub fn plan(self, cfg: &Config) -> Result<Vec<Planned>> {
        let items = plan_items(self.writer.opts, &self.writer.flags, self.entries)?;
        let names: Vec<String> = items.iter().map(|i| i.entry.name.clone()).collect();
        let existing = admin::on_ssm(cfg, Purpose::Read, |client| async move {
            client.existing(&names).await.map_err(Error::Runtime)
        })?;
        Ok(items
            .into_iter()
            .map(|item| {
                let found = existing.get(&item.entry.name);
                let (kind, why) = match found {
                    Some(kind) => self.writer.decide(&item.entry.var, Some(kind)),
                    None => (item.kind, item.why),
                };
                Planned {
                    key: names::last_segment(&item.entry.name).to_string(),
                    name: item.entry.name,
                    kind,
                    why,
                    len: item.entry.value.len(),
                    exists: found.is_some(),
                }
            })
            .collect())
    }

    /// Whether `--overwrite` was given.
    pub fn overwrite(&self) -> bool {
        self.writer.opts.overwrite
    }
}

/// What `put` and `set` share once they know what to write: the type and
/// tag options, checked before any value is read, and the write itself.
pub struct Writer<'a> {
    opts: &'a WriteArgs,
    /// The command, for messages and the progress bar.
    verb: &'static str,
    flags: TypeFlags,
    /// The `--tag`s; `app=<app>` is added per parameter.
    tags: Vec<(String, String)>,
}

impl<'a> Writer<'a> {
    /// `vars`: every variable to be written (the type flags must name one
    /// of them); `verb`: the command, for messages; `app`: how messages name
    /// the app tag.
    pub fn new(
        opts: &'a WriteArgs,
        verb: &'static str,
        vars: &[&str],
        app: &str,
    ) -> Result<Writer<'a>> {
        Ok(Writer {
            opts,
            verb,
            flags: TypeFlags::new(opts, verb, vars)?,
            tags: extra_tags(opts, app)?,
        })
    }

    /// The type `var` gets and why, given the type of the parameter it
    /// replaces, if any.
    pub fn decide(
        &self,
        var: &str,
        existing: Option<&ParameterType>,
    ) -> (ParameterType, &'static str) {
        self.flags.decide(var, existing)
    }

    /// Checks every value against the tier's size limit, then writes them
    /// all (nothing when a target exists without `--overwrite`), one line
    /// per key. Returns how many were created and replaced.
    pub fn write(&self, cfg: &Config, entries: Vec<Entry>) -> Result<(usize, usize)> {
        let items = plan_items(self.opts, &self.flags, entries)?;
        let outcome = admin::on_ssm(cfg, Purpose::Write, |client| write_all(client, self, items))?;
        let failed = outcome.iter().filter(|r| r.is_err()).count();
        let replaced = outcome.iter().filter(|r| matches!(r, Ok(true))).count();
        let created = outcome.len() - failed - replaced;
        if failed > 0 {
            return Err(Error::runtime(format!(
                "{failed} of {} parameters were not written ({created} created, {replaced} replaced)",
                outcome.len()
            )));
        }
        Ok((created, replaced))
    }
}

/// The refusal when targets exist and `--overwrite` is not given.
pub fn already_exist(existing: Vec<&String>, total: usize) -> Error {
    let mut list = existing;
    list.sort();
    Error::runtime(format!(
        "{} of {total} parameters already exist; nothing was written (pass --overwrite to replace them): {}",
        list.len(),
        list.iter()
            .map(|s| names::printable(s))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `--plain-key`, `--secure` and `--plain-all`, checked against what is put.
struct TypeFlags {
    plain: HashSet<String>,
    secure: HashSet<String>,
    plain_all: bool,
}

impl TypeFlags {
    fn new(args: &WriteArgs, verb: &str, vars: &[&str]) -> Result<TypeFlags> {
        let named = |list: &[String], flag: &str| -> Result<HashSet<String>> {
            list.iter().map(|k| flag_var(k, flag)).collect()
        };
        let plain = named(&args.plain_key, "--plain-key")?;
        let secure = named(&args.secure, "--secure")?;
        if let Some(both) = plain.intersection(&secure).next() {
            return Err(Error::usage(format!(
                "{both} is given to both --plain-key and --secure"
            )));
        }
        let vars: HashSet<String> = vars.iter().map(|v| v.to_ascii_uppercase()).collect();
        for (flag, set) in [("--plain-key", &plain), ("--secure", &secure)] {
            if let Some(unused) = set.iter().find(|v| !vars.contains(*v)) {
                return Err(Error::usage(format!(
                    "{flag} {unused} names no variable being {verb}"
                )));
            }
        }
        Ok(TypeFlags {
            plain,
            secure,
            plain_all: args.plain_all,
        })
    }

    fn decide(&self, var: &str, existing: Option<&ParameterType>) -> (ParameterType, &'static str) {
        decide_type(var, &self.plain, &self.secure, self.plain_all, existing)
    }
}

/// The `--tag`s (`app=<app>` is added to each parameter apart).
fn extra_tags(args: &WriteArgs, app: &str) -> Result<Vec<(String, String)>> {
    let mut tags = Vec::new();
    for (k, v) in config::parse_tags(&args.tag, "--tag")? {
        if k == "app" {
            return Err(Error::usage(format!(
                "--tag app=... is not needed: every parameter is tagged app={app}"
            )));
        }
        tags.push((k, v));
    }
    Ok(tags)
}

fn tier_of(args: &WriteArgs) -> (ParameterTier, usize) {
    if args.advanced {
        (ParameterTier::Advanced, ADVANCED_MAX)
    } else {
        (ParameterTier::Standard, STANDARD_MAX)
    }
}

/// What to write, each value checked against the tier's size limit and
/// typed as if new (a parameter being replaced may keep its type instead,
/// once the existence check has told it).
fn plan_items(args: &WriteArgs, flags: &TypeFlags, entries: Vec<Entry>) -> Result<Vec<Item>> {
    let (_, max) = tier_of(args);
    let mut items = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.value.len() > max {
            let (hint, kind) = if args.advanced {
                (
                    "the most SSM stores; use a files/ parameter with url: instead",
                    "an advanced",
                )
            } else {
                ("pass --advanced for up to 8192", "a standard")
            };
            return Err(Error::usage(format!(
                "{}: the value is {} bytes, over the {max} of {kind} parameter ({hint})",
                entry.label,
                entry.value.len(),
            )));
        }
        let (kind, why) = flags.decide(&entry.var, None);
        items.push(Item { entry, kind, why });
    }
    Ok(items)
}

/// The existence check (nothing is written when a target exists, unless
/// `--overwrite`), then every write at once behind the progress bar, one
/// line per key. The result of each write: whether it replaced.
async fn write_all(
    client: Ssm,
    writer: &Writer<'_>,
    mut items: Vec<Item>,
) -> Result<Vec<std::result::Result<bool, String>>> {
    let args = writer.opts;
    let names: Vec<String> = items.iter().map(|i| i.entry.name.clone()).collect();
    let existing = client.existing(&names).await?;
    if !args.overwrite && !existing.is_empty() {
        return Err(already_exist(existing.keys().collect(), items.len()));
    }
    for item in &mut items {
        if let Some(kind) = existing.get(&item.entry.name) {
            (item.kind, item.why) = writer.decide(&item.entry.var, Some(kind));
        }
    }
    let (tier, _) = tier_of(args);
    let client = &client;
    let writes = items.iter().map(|item| {
        let existed = existing.contains_key(&item.entry.name);
        let tier = tier.clone();
        let mut tags = vec![("app".to_string(), item.entry.app.clone())];
        tags.extend(writer.tags.iter().cloned());
        async move {
            (
                item,
                write_one(client, item, tier, args, &tags, existed).await,
            )
        }
    });
    let results = progress::run_all(items.len(), writer.verb, writes, |bar, (item, result)| {
        bar.inc();
        match result {
            Ok(replaced) => bar.line(&format!(
                "{}  {}  {}  len={}{}",
                names::printable(&item.entry.name),
                item.kind.as_str(),
                item.why,
                item.entry.value.len(),
                if *replaced { "  (replaced)" } else { "" }
            )),
            Err(e) => bar.emit(Level::Error, &format!("{}: {e}", item.entry.label)),
        }
    })
    .await;
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// One item through `Ssm::put_confirmed`. Returns whether an existing
/// parameter was replaced.
async fn write_one(
    client: &Ssm,
    item: &Item,
    tier: ParameterTier,
    args: &WriteArgs,
    tags: &[(String, String)],
    existed: bool,
) -> std::result::Result<bool, String> {
    let req = PutRequest {
        name: &item.entry.name,
        value: &item.entry.value,
        kind: item.kind.clone(),
        tier,
        key_id: args.kms_key_id.as_deref(),
        description: None,
        data_type: None,
        overwrite: existed,
        tags,
    };
    client.put_confirmed(req, args.overwrite).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_suffix_rules() {
        let none = HashSet::new();
        for (var, kind, why) in [
            ("SLACK_CHANNEL", ParameterType::String, "auto: suffix"),
            ("db_host", ParameterType::String, "auto: suffix"),
            ("API_PORT", ParameterType::String, "auto: suffix"),
            ("AWS_REGION", ParameterType::String, "auto: suffix"),
            ("S3_ENDPOINT", ParameterType::String, "auto: suffix"),
            ("LOG_DIR", ParameterType::String, "auto: suffix"),
            ("CONFIG_PATH", ParameterType::String, "auto: suffix"),
            ("APP_NAME", ParameterType::String, "auto: suffix"),
            ("DB_URL", ParameterType::SecureString, "auto: default"),
            ("TOKEN", ParameterType::SecureString, "auto: default"),
            ("HOSTNAME", ParameterType::SecureString, "auto: default"),
        ] {
            assert_eq!(
                decide_type(var, &none, &none, false, None),
                (kind, why),
                "{var}"
            );
        }
    }

    #[test]
    fn flags_beat_suffixes() {
        let plain: HashSet<String> = ["DB_URL".to_string()].into();
        let secure: HashSet<String> = ["DB_HOST".to_string()].into();
        assert_eq!(
            decide_type("DB_URL", &plain, &secure, false, None),
            (ParameterType::String, "flag")
        );
        assert_eq!(
            decide_type("DB_HOST", &plain, &secure, true, None),
            (ParameterType::SecureString, "flag")
        );
        assert_eq!(
            decide_type("TOKEN", &HashSet::new(), &HashSet::new(), true, None),
            (ParameterType::String, "flag")
        );
    }

    #[test]
    fn an_existing_type_beats_the_suffix_rules_and_a_flag_beats_it() {
        let none = HashSet::new();
        let secure = ParameterType::SecureString;
        let plain = ParameterType::String;
        // The bug: an existing SecureString `api-host` became a String.
        assert_eq!(
            decide_type("API_HOST", &none, &none, false, Some(&secure)),
            (ParameterType::SecureString, "existing")
        );
        assert_eq!(
            decide_type("API_TOKEN", &none, &none, false, Some(&plain)),
            (ParameterType::String, "existing")
        );
        let named: HashSet<String> = ["API_HOST".to_string()].into();
        assert_eq!(
            decide_type("API_HOST", &named, &none, false, Some(&secure)),
            (ParameterType::String, "flag")
        );
        assert_eq!(
            decide_type("API_TOKEN", &none, &none, true, Some(&secure)),
            (ParameterType::String, "flag")
        );
        let named: HashSet<String> = ["API_TOKEN".to_string()].into();
        assert_eq!(
            decide_type("API_TOKEN", &none, &named, false, Some(&plain)),
            (ParameterType::SecureString, "flag")
        );
    }

    #[test]
    fn keys_and_variables_map_both_ways() {
        assert_eq!(
            key_of("SLACK_CHANNEL"),
            Some(("SLACK_CHANNEL".into(), "slack-channel".into()))
        );
        assert_eq!(
            key_of("db.host"),
            Some(("DB_HOST".into(), "db.host".into()))
        );
        assert_eq!(key_of("1abc"), None);
        assert_eq!(key_of("a/b"), None);
        assert_eq!(key_of(""), None);
    }
}
