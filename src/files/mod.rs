//! File parameters (docs/CONTRACT.md §2 "Files", §3 "Templates", §5): turn
//! `files/<path>` parameters into bytes (plain, `base64:`, or a `url:`
//! download with a size cap and an optional sha256; a `.tmpl` path rendered
//! with the merged variables), confined to `--root`, and write them
//! atomically.
//!
//! Two stages, so that a failure anywhere writes nothing at all: [`prepare`]
//! checks every path, decodes and downloads every content, verifies every
//! hash and renders every template without touching the disk; only then
//! does the caller run [`write_all`].
//!
//! This module holds the types and the two stages; the rules they apply
//! live in one submodule each: `paths` (the path rule and root
//! confinement, see [`check_rel`]), `source` (what a value means: plain,
//! `base64:` or `url:`), `download` (fetching a `url:` value) and
//! `template` (rendering a `.tmpl` file).

mod download;
mod paths;
mod source;
mod template;

use std::fmt;
use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::names::printable;
use crate::secret::Secret;
use crate::write::{self, DIR_MODE, Outcome};

pub use paths::check_rel;
pub use template::{FUEL as TEMPLATE_FUEL, SUFFIX as TEMPLATE_SUFFIX, rendered};

use paths::{check_conflicts, confine};
use source::{Source, source_of};

/// One `files/` parameter: `rel` is the path after `files/`. A `rel`
/// ending in `.tmpl` is a template, written to `rel` without `.tmpl`.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub rel: String,
    pub param: String,
    pub value: Secret,
}

/// A file ready to be written: path checked, content decoded, downloaded,
/// verified and rendered. `path` is `<root>/<rel>`, `rel` the path written
/// (a template's without `.tmpl`).
pub struct Prepared {
    pub path: PathBuf,
    pub rel: String,
    pub param: String,
    content: Vec<u8>,
}

impl Prepared {
    /// The bytes to write (a parameter value: never print them).
    pub fn content(&self) -> &[u8] {
        &self.content
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("path", &self.path)
            .field("rel", &self.rel)
            .field("param", &self.param)
            .field(
                "content",
                &format_args!("<{} bytes redacted>", self.content.len()),
            )
            .finish()
    }
}

/// Bounds on `url:` downloads.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body accepted, in bytes (`--max-file-size`).
    pub max_size: u64,
    /// Applies to connecting and, separately, to the whole download.
    pub timeout: Duration,
}

/// Why a file parameter was refused. Every message names the parameter and
/// none carries the value, a file's content or a URL's query string.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file parameter {param}: path \"{rel}\" refused: {why}")]
    Path {
        param: String,
        rel: String,
        why: String,
    },
    /// An existing target that is not a regular file or a symlink.
    #[error("file parameter {param}: {path}: {why}")]
    Target {
        param: String,
        path: String,
        why: write::NotRegular,
    },
    #[error("file parameter {param}: the value is not valid base64 ({why})")]
    Base64 { param: String, why: String },
    /// A template that cannot be rendered: its kind and line, never its text.
    #[error("file parameter {param}: {why}")]
    Template { param: String, why: String },
    #[error("file parameter {param}: url: {why}")]
    Url { param: String, why: String },
    #[error("file parameter {param}: download from {url} failed: {why}")]
    Download {
        param: String,
        url: String,
        why: String,
    },
    #[error("file parameter {param}: download from {url}: HTTP {status}")]
    Status {
        param: String,
        url: String,
        status: String,
    },
    #[error(
        "file parameter {param}: download from {url} is larger than the limit of {limit} bytes (--max-file-size)"
    )]
    TooLarge {
        param: String,
        url: String,
        limit: u64,
    },
    #[error(
        "file parameter {param}: sha256 of the download from {url} does not match (expected {expected}..., got {actual}...); nothing written"
    )]
    Hash {
        param: String,
        url: String,
        expected: String,
        actual: String,
    },
}

impl FileError {
    /// A download that could not be had (unreachable, timing out, cut off,
    /// a 5xx answer): an outage. A 4xx (an expired pre-signed URL), a size
    /// or hash mismatch, a refused redirect and every path or value problem
    /// are not.
    pub fn is_outage(&self) -> bool {
        match self {
            // A redirect refused (or unusable) is policy, not an outage;
            // every such message starts so (see `fetch`).
            FileError::Download { why, .. } => !why.starts_with(download::REDIRECT_FAILED),
            FileError::Status { status, .. } => status.starts_with('5'),
            _ => false,
        }
    }
}

/// Validate every path, decode/download every content (downloads run
/// concurrently), verify hashes and render templates with `vars` (the
/// merged variables, `(name, value)`: a template's whole context). Writes
/// nothing; any failure is an error naming the parameter, and the caller
/// should then write nothing at all. The result depends on nothing but the
/// arguments (and what the `url:` values download).
pub async fn prepare(
    files: &[FileSpec],
    vars: &[(&str, &str)],
    root: &Path,
    limits: &Limits,
) -> anyhow::Result<Vec<Prepared>> {
    // Everything that needs no network first, so a bad path, URL or inline
    // template fails before any download starts.
    let targets = files.iter().map(target_of).collect::<Result<Vec<_>, _>>()?;
    check_conflicts(
        files
            .iter()
            .zip(&targets)
            .map(|(f, t)| (t.rel, f.param.as_str())),
    )?;
    let mut sources = Vec::with_capacity(files.len());
    for (spec, target) in files.iter().zip(&targets) {
        confine(root, target.rel, &spec.param, false)?;
        let source = match source_of(spec)? {
            Source::Inline(bytes) if target.template => {
                Source::Inline(render(spec, &bytes, vars, limits)?)
            }
            source => source,
        };
        sources.push(source);
    }

    let client = if sources.iter().any(|s| matches!(s, Source::Remote(_))) {
        Some(download::client(limits)?)
    } else {
        None
    };
    let jobs = files
        .iter()
        .zip(&targets)
        .zip(sources)
        .map(|((spec, target), source)| {
            let client = client.as_ref();
            async move {
                let content = match source {
                    Source::Inline(bytes) => bytes,
                    Source::Remote(remote) => {
                        let client = client.expect("built when any source is remote");
                        let _pending =
                            crate::pending::track(format!("download for {}", spec.param));
                        let bytes = download::fetch(client, &spec.param, &remote, limits).await?;
                        if target.template {
                            render(spec, &bytes, vars, limits)?
                        } else {
                            bytes
                        }
                    }
                };
                Ok::<_, FileError>(Prepared {
                    path: root.join(target.rel),
                    rel: target.rel.to_owned(),
                    param: spec.param.clone(),
                    content,
                })
            }
        });
    Ok(futures_util::future::try_join_all(jobs).await?)
}

/// Where a file parameter is written, and whether it is rendered first.
struct Target<'a> {
    rel: &'a str,
    template: bool,
}

/// A template's own path must pass the path rule, and name a file once
/// `.tmpl` is dropped (`files/.tmpl` and `files/dir/.tmpl` do not).
fn target_of(spec: &FileSpec) -> Result<Target<'_>, FileError> {
    let Some(rel) = template::rendered(&spec.rel) else {
        return Ok(Target {
            rel: &spec.rel,
            template: false,
        });
    };
    let refused = |why: String| FileError::Path {
        param: printable(&spec.param),
        rel: printable(&spec.rel),
        why,
    };
    check_rel(&spec.rel).map_err(refused)?;
    if rel.is_empty() || rel.ends_with('/') {
        return Err(refused(format!(
            "a template needs a file name before \"{}\"",
            template::SUFFIX
        )));
    }
    Ok(Target {
        rel,
        template: true,
    })
}

/// The rendered bytes of a template, or the error naming its parameter.
fn render(
    spec: &FileSpec,
    source: &[u8],
    vars: &[(&str, &str)],
    limits: &Limits,
) -> Result<Vec<u8>, FileError> {
    let rendered =
        template::render(source, vars, limits.max_size).map_err(|why| FileError::Template {
            param: printable(&spec.param),
            why,
        })?;
    crate::log::debug!(
        "{}: template rendered ({} bytes)",
        printable(&spec.param),
        rendered.len()
    );
    Ok(rendered)
}

/// Write prepared files atomically (0600, missing parents 0700) under
/// `root`, re-checking confinement right before each write. Returns the
/// paths written (relative to the root) and how many were unchanged.
pub fn write_all(prepared: &[Prepared], root: &Path) -> anyhow::Result<(Vec<String>, usize)> {
    let (mut written, mut unchanged) = (Vec::new(), 0);
    if prepared.is_empty() {
        return Ok((written, 0));
    }
    if fs::symlink_metadata(root).is_err() {
        // The root itself is the user's choice; only what is under it is
        // confined.
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(root)
            .with_context(|| format!("cannot create the files root {}", root.display()))?;
    }
    for p in prepared {
        // Creates missing parents level by level and checks the final path.
        confine(root, &p.rel, &p.param, true)?;
        let target = root.join(&p.rel);
        let outcome = write::write_atomic(&target, &p.content).with_context(|| {
            format!(
                "file parameter {}: cannot write {}",
                printable(&p.param),
                target.display()
            )
        })?;
        match outcome {
            Outcome::Written => written.push(p.rel.clone()),
            Outcome::Unchanged => unchanged += 1,
        }
    }
    Ok((written, unchanged))
}

#[cfg(test)]
mod tests {
    use super::download::REDIRECT_FAILED;
    use super::*;

    #[test]
    fn only_unreachable_slow_and_5xx_downloads_are_outages() {
        let download = |why: &str| FileError::Download {
            param: "p".into(),
            url: "u".into(),
            why: why.into(),
        };
        let status = |s: &str| FileError::Status {
            param: "p".into(),
            url: "u".into(),
            status: s.into(),
        };
        assert!(download("error sending request: Connection refused (os error 111)").is_outage());
        assert!(download("timed out after 60s").is_outage());
        assert!(status("503 Service Unavailable").is_outage());
        assert!(!status("403 Forbidden").is_outage());
        assert!(
            !download(&format!(
                "{REDIRECT_FAILED} redirect to http://10.0.0.1/x refused: plain http"
            ))
            .is_outage()
        );
        assert!(
            !FileError::Base64 {
                param: "p".into(),
                why: "x".into()
            }
            .is_outage()
        );
    }

    #[test]
    fn debug_hides_content() {
        let p = Prepared {
            path: "r/x".into(),
            rel: "x".into(),
            param: "/p/files/x".into(),
            content: b"canary-content".to_vec(),
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("14 bytes redacted"), "{shown}");
    }
}
