//! File parameters (docs/CONTRACT.md §2 "Files", §5): turn `files/<path>` parameters into
//! bytes (plain, `base64:`, or a `url:` download with a size cap and an
//! optional sha256), confined to `--root`, and write them atomically.
//!
//! Two stages, so that a failure anywhere writes nothing at all: [`prepare`]
//! checks every path, decodes and downloads every content and verifies every
//! hash without touching the disk; only then does the caller run
//! [`write_all`].
//!
//! This module holds the types and the two stages; the rules they apply
//! live in one submodule each: `paths` (the path rule and root
//! confinement, see [`check_rel`]), `source` (what a value means: plain,
//! `base64:` or `url:`) and `download` (fetching a `url:` value).

mod download;
mod paths;
mod source;

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

use paths::{check_conflicts, confine};
use source::{Source, source_of};

/// One `files/` parameter: `rel` is the path after `files/`.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub rel: String,
    pub param: String,
    pub value: Secret,
}

/// A file ready to be written: path checked, content decoded, downloaded and
/// verified. `path` is `<root>/<rel>` as given to [`prepare`].
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
/// concurrently) and verify hashes. Writes nothing; any failure is an error
/// naming the parameter, and the caller should then write nothing at all.
pub async fn prepare(
    files: &[FileSpec],
    root: &Path,
    limits: &Limits,
) -> anyhow::Result<Vec<Prepared>> {
    // Everything that needs no network first, so a bad path or URL fails
    // before any download starts.
    check_conflicts(files)?;
    let mut sources = Vec::with_capacity(files.len());
    for spec in files {
        confine(root, &spec.rel, &spec.param, false)?;
        sources.push(source_of(spec)?);
    }

    let client = if sources.iter().any(|s| matches!(s, Source::Remote(_))) {
        Some(download::client(limits)?)
    } else {
        None
    };
    let jobs = files.iter().zip(sources).map(|(spec, source)| {
        let client = client.as_ref();
        async move {
            let content = match source {
                Source::Inline(bytes) => bytes,
                Source::Remote(remote) => {
                    let client = client.expect("built when any source is remote");
                    let _pending = crate::pending::track(format!("download for {}", spec.param));
                    download::fetch(client, &spec.param, &remote, limits).await?
                }
            };
            Ok::<_, FileError>(Prepared {
                path: root.join(&spec.rel),
                rel: spec.rel.clone(),
                param: spec.param.clone(),
                content,
            })
        }
    });
    Ok(futures_util::future::try_join_all(jobs).await?)
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
