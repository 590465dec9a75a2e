//! Pure merge of fetched layers into one environment (and one set of files),
//! each value knowing the layer and parameter it came from, with the
//! conflicts docs/CONTRACT.md §2 asks to report. No I/O here.

use std::collections::BTreeMap;

use crate::config::{LayerKind, LayerSpec, Source};
use crate::fetch::Fetched;
use crate::names::{self, KeyCase};
use crate::secret::Secret;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index into the selection's layers.
    pub layer: usize,
    pub label: String,
    pub param: String,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Secret,
    pub origin: Origin,
}

/// A `files/` parameter, keyed in [`Merged::files`] by the path it writes.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub value: Secret,
    pub origin: Origin,
    /// The parameter's path after `files/`: the key, or for a template
    /// (`.tmpl`, rendered to the key) the key and `.tmpl`.
    pub rel: String,
}

impl FileEntry {
    pub fn is_template(&self) -> bool {
        crate::files::rendered(&self.rel).is_some()
    }
}

/// Something worth a warning, or an error under `--strict`. Names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// The key maps to no valid variable name.
    InvalidName { param: String },
    /// Two parameters of one layer map to the same variable.
    Duplicate {
        var: String,
        kept: String,
        dropped: String,
    },
    /// A higher layer overrides a lower one.
    Override {
        var: String,
        winner: String,
        loser: String,
    },
    /// A higher layer's `files/<path>` overrides a lower one's.
    FileOverride {
        path: String,
        winner: String,
        loser: String,
    },
}

impl Issue {
    /// One line: parameter names from SSM are escaped (`names::printable`).
    pub fn message(&self) -> String {
        let p = |s: &str| names::printable(s);
        match self {
            Issue::InvalidName { param } => {
                format!(
                    "{}: its key is not a valid variable name; skipped",
                    p(param)
                )
            }
            Issue::Duplicate { var, kept, dropped } => format!(
                "{var}: {} and {} map to the same variable; using {}",
                p(kept),
                p(dropped),
                p(kept)
            ),
            Issue::Override { var, winner, loser } => {
                format!("{var}: {} overrides {}", p(winner), p(loser))
            }
            Issue::FileOverride {
                path,
                winner,
                loser,
            } => format!("files/{}: {} overrides {}", p(path), p(winner), p(loser)),
        }
    }
}

#[derive(Debug, Default)]
pub struct Merged {
    pub vars: BTreeMap<String, Entry>,
    /// Relative path under the root (for a template, the rendered path,
    /// without `.tmpl`) -> the parameter that writes it.
    pub files: BTreeMap<String, FileEntry>,
    /// Parameters of one layer that write a path another parameter of the
    /// same layer also writes (`a.conf` and `a.conf.tmpl`), with that path;
    /// preparing the files refuses them as two parameters for one file.
    pub file_clashes: Vec<(String, FileEntry)>,
    pub issues: Vec<Issue>,
    /// Number of parameters each layer returned, by layer index.
    pub raw_counts: Vec<usize>,
}

impl Merged {
    /// Variables each kind of layer contributed to the result:
    /// (app, shared, tag).
    pub fn contributions(&self, layers: &[LayerSpec]) -> (usize, usize, usize) {
        let (mut app, mut shared, mut tag) = (0, 0, 0);
        for e in self.vars.values() {
            match layers.get(e.origin.layer).map(|l| l.kind) {
                Some(LayerKind::App) => app += 1,
                Some(LayerKind::Shared) => shared += 1,
                Some(LayerKind::Tag) => tag += 1,
                None => {}
            }
        }
        (app, shared, tag)
    }

    /// Sorted (name, value) pairs for the encoders.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.vars
            .iter()
            .map(|(k, e)| (k.as_str(), e.value.expose()))
            .collect()
    }
}

/// What a parameter is within its layer.
enum Kind<'a> {
    Var(&'a str),
    File(&'a str),
    Ignored,
}

fn classify<'a>(spec: &LayerSpec, name: &'a str) -> Kind<'a> {
    match &spec.source {
        Source::Paths { vars, files, .. } => {
            if let Some(file) = name
                .strip_prefix(files.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                Kind::File(file)
            } else if let Some(key) = name
                .strip_prefix(vars.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .filter(|k| !k.contains('/'))
            {
                Kind::Var(key)
            } else {
                Kind::Ignored
            }
        }
        // The tag overlay gives variables only; parameters inside a files/
        // folder belong to the files of their own layer.
        Source::Tagged { .. } => {
            if name.split('/').any(|s| s == "files") {
                Kind::Ignored
            } else {
                Kind::Var(names::last_segment(name))
            }
        }
    }
}

/// "app:api (/t/api/db-host)": the layer and the parameter, raw; messages
/// escape it (see [`Issue::message`]).
fn shown(origin: &Origin) -> String {
    format!("{} ({})", origin.label, origin.param)
}

/// Merge layers in order (later wins).
pub fn merge(fetched: &[Fetched], key_case: KeyCase) -> Merged {
    let mut merged = Merged::default();
    for (index, layer) in fetched.iter().enumerate() {
        merged.raw_counts.push(layer.params.len());
        let label = layer.spec.label.clone();
        // Within one layer: the lexically last parameter name wins.
        let mut params: Vec<_> = layer.params.iter().collect();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        let mut layer_vars: BTreeMap<String, Entry> = BTreeMap::new();
        let mut layer_files: BTreeMap<String, FileEntry> = BTreeMap::new();
        for p in params {
            let origin = Origin {
                layer: index,
                label: label.clone(),
                param: p.name.clone(),
            };
            let entry = Entry {
                value: p.value.clone(),
                origin,
            };
            match classify(&layer.spec, &p.name) {
                Kind::Var(key) => match names::key_to_var(key, key_case) {
                    Some(var) => {
                        if let Some(prev) = layer_vars.insert(var.clone(), entry) {
                            merged.issues.push(Issue::Duplicate {
                                var,
                                kept: p.name.clone(),
                                dropped: prev.origin.param,
                            });
                        }
                    }
                    None => merged.issues.push(Issue::InvalidName {
                        param: p.name.clone(),
                    }),
                },
                Kind::File(rel) => {
                    // Precedence is by the path written: a template's
                    // without `.tmpl`.
                    let path = crate::files::rendered(rel).unwrap_or(rel).to_string();
                    let file = FileEntry {
                        value: entry.value,
                        origin: entry.origin,
                        rel: rel.to_string(),
                    };
                    if let Some(prev) = layer_files.insert(path.clone(), file) {
                        merged.file_clashes.push((path, prev));
                    }
                }
                Kind::Ignored => {}
            }
        }
        for (var, entry) in layer_vars {
            if let Some(prev) = merged.vars.get(&var) {
                // The same parameter reached through two layers (a tagged
                // parameter under shared/) is not a conflict.
                if prev.origin.param != entry.origin.param {
                    merged.issues.push(Issue::Override {
                        var: var.clone(),
                        winner: shown(&entry.origin),
                        loser: shown(&prev.origin),
                    });
                }
            }
            merged.vars.insert(var, entry);
        }
        for (rel, entry) in layer_files {
            if let Some(prev) = merged.files.get(&rel)
                && prev.origin.param != entry.origin.param
            {
                merged.issues.push(Issue::FileOverride {
                    path: rel.clone(),
                    winner: shown(&entry.origin),
                    loser: shown(&prev.origin),
                });
            }
            merged.files.insert(rel, entry);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssm::Param;
    use aws_sdk_ssm::types::ParameterType;

    fn layer(spec: LayerSpec, params: &[(&str, &str)]) -> Fetched {
        Fetched {
            spec,
            params: params
                .iter()
                .map(|(n, v)| Param {
                    name: n.to_string(),
                    value: Secret::new(*v),
                    kind: ParameterType::SecureString,
                })
                .collect(),
        }
    }

    fn shared() -> LayerSpec {
        crate::config::team_layers("/t", &[], true, vec![]).remove(0)
    }

    fn app(a: &str) -> LayerSpec {
        crate::config::team_layers("/t", &[a.to_string()], false, vec![]).remove(0)
    }

    #[test]
    fn later_layers_win_and_overrides_are_reported_by_name() {
        let m = merge(
            &[
                layer(
                    shared(),
                    &[("/t/shared/db-host", "s"), ("/t/shared/only-shared", "1")],
                ),
                layer(app("api"), &[("/t/api/db-host", "a")]),
                layer(app("canary"), &[("/t/canary/db-host", "c")]),
            ],
            KeyCase::Upper,
        );
        assert_eq!(m.vars["DB_HOST"].value.expose(), "c");
        assert_eq!(m.vars["ONLY_SHARED"].value.expose(), "1");
        let overrides: Vec<_> = m.issues.iter().map(Issue::message).collect();
        assert_eq!(
            overrides,
            [
                "DB_HOST: app:api (/t/api/db-host) overrides shared (/t/shared/db-host)",
                "DB_HOST: app:canary (/t/canary/db-host) overrides app:api (/t/api/db-host)",
            ]
        );
        assert_eq!(
            m.contributions(&[shared(), app("api"), app("canary")]),
            (1, 1, 0)
        );
    }

    #[test]
    fn duplicates_within_a_layer_keep_the_lexically_last_name() {
        let m = merge(
            &[layer(
                app("api"),
                &[("/t/api/db.host", "dot"), ("/t/api/db-host", "dash")],
            )],
            KeyCase::Upper,
        );
        // "/t/api/db.host" > "/t/api/db-host" ('.' > '-')
        assert_eq!(m.vars["DB_HOST"].value.expose(), "dot");
        assert_eq!(
            m.issues,
            [Issue::Duplicate {
                var: "DB_HOST".into(),
                kept: "/t/api/db.host".into(),
                dropped: "/t/api/db-host".into()
            }]
        );
    }

    #[test]
    fn invalid_names_are_skipped_and_reported() {
        let m = merge(
            &[layer(app("api"), &[("/t/api/1password", "x")])],
            KeyCase::Upper,
        );
        assert!(m.vars.is_empty());
        assert_eq!(
            m.issues,
            [Issue::InvalidName {
                param: "/t/api/1password".into()
            }]
        );
    }

    #[test]
    fn files_and_nested_parameters_are_told_apart() {
        let m = merge(
            &[layer(
                app("api"),
                &[
                    ("/t/api/files/conf/app.yml", "f"),
                    ("/t/api/nested/key", "n"),
                    ("/t/api/key", "k"),
                ],
            )],
            KeyCase::Upper,
        );
        assert_eq!(m.vars.keys().collect::<Vec<_>>(), ["KEY"]);
        assert_eq!(m.files.keys().collect::<Vec<_>>(), ["conf/app.yml"]);
    }

    #[test]
    fn the_same_parameter_through_two_layers_is_not_an_override() {
        let tagged =
            crate::config::team_layers("/t", &[], false, vec![("env".into(), "prod".into())])
                .remove(0);
        let m = merge(
            &[
                layer(shared(), &[("/t/shared/x", "1")]),
                layer(
                    tagged,
                    &[
                        ("/t/shared/x", "1"),
                        ("/t/other/y", "2"),
                        ("/t/o/files/z", "3"),
                    ],
                ),
            ],
            KeyCase::Upper,
        );
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        assert_eq!(m.vars.keys().collect::<Vec<_>>(), ["X", "Y"]);
        assert_eq!(m.vars["Y"].origin.label, "tag");
    }

    #[test]
    fn ecs_layers_take_environment_and_files() {
        let layers = crate::config::ecs_layers("prod", &["web".into()], true);
        let m = merge(
            &[
                layer(
                    layers[0].clone(),
                    &[
                        ("/prod/environment/region", "eu"),
                        ("/prod/files/ca.pem", "c"),
                    ],
                ),
                layer(
                    layers[1].clone(),
                    &[
                        ("/prod/web/environment/region", "us"),
                        ("/prod/web/files/conf/a.yml", "a"),
                    ],
                ),
            ],
            KeyCase::Upper,
        );
        assert_eq!(m.vars["REGION"].value.expose(), "us");
        assert_eq!(m.files.keys().collect::<Vec<_>>(), ["ca.pem", "conf/a.yml"]);
        assert_eq!(m.contributions(&layers), (1, 0, 0));
    }

    #[test]
    fn files_are_keyed_by_rendered_path() {
        let m = merge(
            &[
                layer(
                    shared(),
                    &[
                        ("/t/shared/files/site.conf", "plain"),
                        ("/t/shared/files/other.conf.tmpl", "t"),
                    ],
                ),
                layer(
                    app("api"),
                    &[
                        ("/t/api/files/site.conf.tmpl", "{{ X }}"),
                        ("/t/api/files/other.conf", "p"),
                        ("/t/api/files/a.conf", "1"),
                        ("/t/api/files/a.conf.tmpl", "2"),
                    ],
                ),
            ],
            KeyCase::Upper,
        );
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            ["a.conf", "other.conf", "site.conf"]
        );
        assert_eq!(m.files["site.conf"].rel, "site.conf.tmpl");
        assert!(m.files["site.conf"].is_template());
        assert!(!m.files["other.conf"].is_template());
        let messages: Vec<_> = m.issues.iter().map(Issue::message).collect();
        assert_eq!(
            messages,
            [
                "files/other.conf: app:api (/t/api/files/other.conf) overrides shared (/t/shared/files/other.conf.tmpl)",
                "files/site.conf: app:api (/t/api/files/site.conf.tmpl) overrides shared (/t/shared/files/site.conf)",
            ]
        );
        // One layer's a.conf and a.conf.tmpl: the clash is kept for
        // `files::prepare` to refuse.
        assert_eq!(m.file_clashes.len(), 1);
        assert_eq!(m.file_clashes[0].0, "a.conf");
        assert_eq!(m.file_clashes[0].1.origin.param, "/t/api/files/a.conf");
        assert_eq!(m.files["a.conf"].origin.param, "/t/api/files/a.conf.tmpl");
    }

    #[test]
    fn key_case_keep_keeps_case() {
        let m = merge(
            &[layer(app("api"), &[("/t/api/Mixed-Case", "v")])],
            KeyCase::Keep,
        );
        assert!(m.vars.contains_key("Mixed_Case"));
    }
}
