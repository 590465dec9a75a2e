//! Looking at what a run left on disk: modes, contents, trees and
//! snapshots to compare before and after.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Permission bits (and setuid/setgid/sticky) of `p`, following symlinks.
#[track_caller]
pub fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The text of `p`.
#[track_caller]
pub fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Writes `content` to `p` with `mode`, creating its parent directories.
pub fn write(p: &Path, content: impl AsRef<[u8]>, mode: u32) {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(p, content).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// The names in `dir`, sorted (not recursive).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The paths in `dir`, sorted (not recursive).
pub fn paths_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// One thing found under a directory, without following symlinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File {
        mode: u32,
        content: Vec<u8>,
    },
    Dir {
        mode: u32,
    },
    Link(PathBuf),
    /// A device, FIFO or socket.
    Special {
        mode: u32,
    },
}

impl Node {
    /// What is at `path` (not following a final symlink), if anything.
    pub fn of(path: &Path) -> Option<Node> {
        let meta = fs::symlink_metadata(path).ok()?;
        let mode = meta.permissions().mode() & 0o7777;
        Some(if meta.file_type().is_symlink() {
            Node::Link(fs::read_link(path).unwrap_or_default())
        } else if meta.is_dir() {
            Node::Dir { mode }
        } else if meta.is_file() {
            Node::File {
                mode,
                content: fs::read(path).unwrap_or_default(),
            }
        } else {
            Node::Special { mode }
        })
    }

    /// A short description for messages: kind, mode, size and the start of
    /// the content.
    pub fn describe(&self) -> String {
        match self {
            Node::File { mode, content } => format!(
                "file {mode:o} {} bytes {:?}",
                content.len(),
                String::from_utf8_lossy(&content[..content.len().min(200)])
            ),
            Node::Dir { mode } => format!("dir {mode:o}"),
            Node::Link(to) => format!("link -> {}", to.display()),
            Node::Special { mode } => format!("special {mode:o}"),
        }
    }
}

/// Everything under `dir` by relative path; `{".": absent}` is shown as an
/// empty map with [`Snapshot::absent`] set.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub absent: bool,
    pub nodes: BTreeMap<String, Node>,
}

impl Snapshot {
    pub fn of(dir: &Path) -> Snapshot {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
            let Ok(entries) = fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let Some(node) = Node::of(&path) else {
                    continue;
                };
                if let Node::Dir { .. } = node {
                    walk(base, &path, out);
                }
                out.insert(rel, node);
            }
        }
        let mut nodes = BTreeMap::new();
        let absent = fs::symlink_metadata(dir).is_err();
        walk(dir, dir, &mut nodes);
        Snapshot { absent, nodes }
    }

    /// Only the regular files: relative path to content and mode.
    pub fn files(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        self.nodes
            .iter()
            .filter_map(|(k, n)| match n {
                Node::File { mode, content } => Some((k.clone(), (content.clone(), *mode))),
                _ => None,
            })
            .collect()
    }

    /// Relative paths of everything, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Regular files that are new or whose content or mode changed since
    /// `before`.
    pub fn written_since(&self, before: &Snapshot) -> Vec<(String, u32)> {
        self.nodes
            .iter()
            .filter_map(|(k, n)| match n {
                Node::File { mode, .. } if before.nodes.get(k) != Some(n) => {
                    Some((k.clone(), *mode))
                }
                _ => None,
            })
            .collect()
    }

    /// What differs from `before`, one line each, or `None`.
    pub fn diff(&self, before: &Snapshot) -> Option<String> {
        if self == before {
            return None;
        }
        let mut lines = Vec::new();
        if self.absent != before.absent {
            lines.push(format!(
                "the directory {}",
                if self.absent { "vanished" } else { "appeared" }
            ));
        }
        for (k, n) in &before.nodes {
            match self.nodes.get(k) {
                None => lines.push(format!("  removed {k} ({})", n.describe())),
                Some(m) if m != n => lines.push(format!(
                    "  changed {k}: {} -> {}",
                    n.describe(),
                    m.describe()
                )),
                Some(_) => {}
            }
        }
        for (k, n) in &self.nodes {
            if !before.nodes.contains_key(k) {
                lines.push(format!("  added {k} ({})", n.describe()));
            }
        }
        Some(lines.join("\n"))
    }
}

/// The relative paths of every file and directory under `dir`, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    Snapshot::of(dir).paths()
}
