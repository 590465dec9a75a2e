//! File parameters (SPEC §2 "Files", §5): turn `files/<path>` parameters into
//! bytes (plain, `base64:`, or a `url:` download with a size cap and an
//! optional sha256), confined to `--root`, and write them atomically.
//!
//! Two stages, so that a failure anywhere writes nothing at all: [`prepare`]
//! checks every path, decodes and downloads every content and verifies every
//! hash without touching the disk; only then does the caller run
//! [`write_all`].
//!
//! # Root confinement
//! A file's relative path must be a plain relative path (see [`check_rel`]).
//! On disk, every component of `<root>/<rel>` that already exists is
//! inspected: a symlink (an intermediate directory or the final file) is
//! resolved with `canonicalize` and refused unless it stays inside the
//! canonicalized root; a dangling or looping symlink is refused because where
//! it leads cannot be checked. A symlink at the final path that stays inside
//! root is *replaced* by a regular file (write_atomic renames over it, never
//! following it). Missing directories are created one level at a time, 0700,
//! each only after its parent was checked, so a symlinked intermediate
//! directory can never make us create anything outside root.
//!
//! TOCTOU limit: the checks and the writes use paths, not directory handles,
//! so someone who can write inside root *while ssmm runs* could swap a
//! checked directory for a symlink between the check and the write. The
//! checks are repeated right before each write to keep that window small;
//! `--root` is assumed not to be writable by untrusted users.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::names::printable;
use crate::secret::Secret;
use crate::write::{self, DIR_MODE, Outcome};

/// How every message about a redirect that was not followed starts.
const REDIRECT_FAILED: &str = "error following redirect:";
/// Redirect hops followed per download; every hop is checked like the first.
const MAX_REDIRECTS: usize = 3;
/// Longest name one path segment may have on Linux (NAME_MAX).
const MAX_SEGMENT: usize = 255;
/// Caps the up-front allocation, whatever Content-Length claims.
const MAX_PREALLOC: u64 = 8 << 20;

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
            FileError::Download { why, .. } => !why.starts_with(REDIRECT_FAILED),
            FileError::Status { status, .. } => status.starts_with('5'),
            _ => false,
        }
    }
}

/// The path rule alone, without looking at the disk: a non-empty relative
/// path of non-empty segments, none `.` or `..`, no trailing `/`, no NUL or
/// control characters, no segment longer than 255 bytes.
pub fn check_rel(rel: &str) -> Result<(), String> {
    if rel.is_empty() {
        return Err("the path is empty".into());
    }
    if rel.starts_with('/') {
        return Err("absolute paths are not allowed".into());
    }
    if rel.ends_with('/') {
        return Err("a trailing '/' names no file".into());
    }
    if rel.chars().any(char::is_control) {
        return Err("NUL and control characters are not allowed".into());
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err("empty path segment ('//')".into()),
            "." => return Err("'.' segments are not allowed".into()),
            ".." => return Err("'..' segments are not allowed".into()),
            s if s.len() > MAX_SEGMENT => {
                return Err(format!("a segment is longer than {MAX_SEGMENT} bytes"));
            }
            _ => {}
        }
    }
    // The last segment is a file name: its temporary name must fit too.
    if rel.rsplit('/').next().map_or(0, str::len) > crate::write::MAX_NAME {
        return Err(format!(
            "the file name is longer than {} bytes",
            crate::write::MAX_NAME
        ));
    }
    Ok(())
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
        let path_err = |why: String| FileError::Path {
            param: printable(&spec.param),
            rel: printable(&spec.rel),
            why,
        };
        check_rel(&spec.rel).map_err(path_err)?;
        walk(root, &spec.rel, false).map_err(path_err)?;
        replaceable(root, &spec.rel, &spec.param)?;
        sources.push(source_of(spec)?);
    }

    let client = if sources.iter().any(|s| matches!(s, Source::Remote(_))) {
        Some(http_client(limits)?)
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
                    let _pending =
                        crate::pending::track(format!("download for {}", printable(&spec.param)));
                    fetch(client, &spec.param, &remote, limits).await?
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
/// `root`, re-checking confinement right before each write. Returns
/// `(written, unchanged)`.
pub fn write_all(prepared: &[Prepared], root: &Path) -> anyhow::Result<(usize, usize)> {
    let (mut written, mut unchanged) = (0, 0);
    if prepared.is_empty() {
        return Ok((0, 0));
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
        let path_err = |why: String| FileError::Path {
            param: printable(&p.param),
            rel: printable(&p.rel),
            why,
        };
        check_rel(&p.rel).map_err(path_err)?;
        // Creates missing parents level by level and checks the final path.
        walk(root, &p.rel, true).map_err(path_err)?;
        replaceable(root, &p.rel, &p.param)?;
        let target = root.join(&p.rel);
        let outcome = write::write_atomic(&target, &p.content).with_context(|| {
            format!(
                "file parameter {}: cannot write {}",
                printable(&p.param),
                target.display()
            )
        })?;
        match outcome {
            Outcome::Written => written += 1,
            Outcome::Unchanged => unchanged += 1,
        }
    }
    Ok((written, unchanged))
}

/// A target that exists and is not a regular file or a symlink (a device,
/// a FIFO, a directory) is never replaced or opened.
fn replaceable(root: &Path, rel: &str, param: &str) -> Result<(), FileError> {
    let path = root.join(rel);
    write::check_replaceable(&path).map_err(|why| FileError::Target {
        param: printable(param),
        path: printable(&path.display().to_string()),
        why,
    })
}

/// Two parameters naming the same file, or one naming a directory of the
/// other (`a` and `a/b`), cannot both be written: refuse up front rather
/// than fail half-way through writing.
fn check_conflicts(files: &[FileSpec]) -> Result<(), FileError> {
    let by_rel: HashMap<&str, &str> = files
        .iter()
        .map(|f| (f.rel.as_str(), f.param.as_str()))
        .collect();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for f in files {
        let conflict = |other: &str, why: &str| FileError::Path {
            param: printable(&f.param),
            rel: printable(&f.rel),
            why: format!("{why} {}", printable(other)),
        };
        if let Some(other) = seen.insert(&f.rel, &f.param) {
            return Err(conflict(other, "the same file comes from"));
        }
        for (i, _) in f.rel.match_indices('/') {
            if let Some(other) = by_rel.get(&f.rel[..i]) {
                return Err(conflict(other, "a parent directory is a file from"));
            }
        }
    }
    Ok(())
}

/// Inspect `<root>/<rel>` component by component (see the module docs).
/// With `create`, missing intermediate directories are made (0700) as the
/// walk reaches them; without it, the walk stops at the first missing one.
fn walk(root: &Path, rel: &str, create: bool) -> Result<(), String> {
    let root_canon = match fs::canonicalize(root) {
        Ok(c) => c,
        // Nothing exists under a missing root, so nothing can lead out.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(()),
        Err(e) => return Err(format!("cannot resolve the root {}: {e}", root.display())),
    };
    if !root_canon.is_dir() {
        return Err(format!("the root {} is not a directory", root.display()));
    }
    let segments: Vec<&str> = rel.split('/').collect();
    let mut cur = root.to_path_buf();
    for (i, seg) in segments.iter().enumerate() {
        cur.push(seg);
        let last = i + 1 == segments.len();
        let meta = match fs::symlink_metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if last {
                    return Ok(());
                }
                if !create {
                    // Nothing deeper exists either.
                    return Ok(());
                }
                make_dir(&cur)?;
                continue;
            }
            Err(e) => return Err(format!("cannot inspect {}: {e}", cur.display())),
        };
        let shown = cur.display();
        let is_dir = if meta.file_type().is_symlink() {
            let target = fs::canonicalize(&cur).map_err(|_| {
                format!("{shown} is a symlink that cannot be resolved (dangling or a loop)")
            })?;
            if !target.starts_with(&root_canon) {
                return Err(format!("{shown} is a symlink leading outside the root"));
            }
            target.is_dir()
        } else {
            meta.is_dir()
        };
        // The last component is checked by `replaceable`: a symlink there
        // is replaced, never followed, whatever it points at.
        if !last && !is_dir {
            return Err(format!("{shown} exists and is not a directory"));
        }
    }
    Ok(())
}

/// One directory level, 0700 whatever the umask. Not recursive on purpose:
/// its parent was just checked by [`walk`].
fn make_dir(path: &Path) -> Result<(), String> {
    let fail = |e: io::Error| format!("cannot create the directory {}: {e}", path.display());
    DirBuilder::new()
        .mode(DIR_MODE)
        .create(path)
        .map_err(fail)?;
    // fchmod through an O_NOFOLLOW handle: never chmod a swapped-in link.
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(fail)?;
    if dir.metadata().map_err(fail)?.permissions().mode() & 0o7777 != DIR_MODE {
        dir.set_permissions(fs::Permissions::from_mode(DIR_MODE))
            .map_err(fail)?;
    }
    Ok(())
}

enum Source {
    Inline(Vec<u8>),
    Remote(Remote),
}

/// A checked `url:` target.
struct Remote {
    /// Without the `#sha256=` fragment; the query is kept (it is the
    /// pre-signed credential) and never shown.
    url: Url,
    /// scheme://host[:port]/path, the only form that reaches a message.
    shown: String,
    sha256: Option<[u8; 32]>,
}

fn source_of(spec: &FileSpec) -> Result<Source, FileError> {
    let value = spec.value.expose();
    if let Some(encoded) = value.strip_prefix("base64:") {
        decode_base64(encoded)
            .map(Source::Inline)
            .map_err(|why| FileError::Base64 {
                param: printable(&spec.param),
                why,
            })
    } else if let Some(url) = value.strip_prefix("url:") {
        parse_remote(url)
            .map(Source::Remote)
            .map_err(|why| FileError::Url {
                param: printable(&spec.param),
                why,
            })
    } else {
        Ok(Source::Inline(value.as_bytes().to_vec()))
    }
}

/// Standard alphabet, padding optional, ASCII whitespace ignored (values
/// are often wrapped like PEM). The error never quotes the input.
fn decode_base64(encoded: &str) -> Result<Vec<u8>, String> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    ENGINE.decode(&compact).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("invalid character at offset {at}, whitespace ignored")
        }
        base64::DecodeError::InvalidLength(_) => "truncated input".into(),
        base64::DecodeError::InvalidPadding => "invalid padding".into(),
    })
}

/// Parse and vet a `url:` value without any network access.
fn parse_remote(raw: &str) -> Result<Remote, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
    let sha256 = match url.fragment() {
        None => None,
        Some(frag) => {
            let hex = frag
                .strip_prefix("sha256=")
                .ok_or("the only fragment understood is #sha256=<64 hex digits>".to_owned())?;
            Some(parse_sha256(hex).ok_or("#sha256= needs exactly 64 hex digits".to_owned())?)
        }
    };
    url.set_fragment(None);
    allowed(&url, None)?;
    Ok(Remote {
        shown: shown(&url),
        url,
        sha256,
    })
}

/// The scheme rule, for the first URL and every redirect hop: `https`, or
/// `http` to a loopback host; and never from https down to http.
fn allowed(url: &Url, previous: Option<&Url>) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if previous.is_some_and(|p| p.scheme() == "https") => {
            Err("a redirect from https:// to http:// is refused".into())
        }
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(
            "plain http:// is allowed only to loopback addresses (127.0.0.0/8, ::1, localhost); use https://"
                .into(),
        ),
        other => Err(format!(
            "scheme \"{}\" is not allowed; use https://",
            printable(other)
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// scheme://host[:port]/path: pre-signed URLs carry their credentials in the
/// query, and user info may hold a password, so neither is ever shown.
/// Also how the ECS endpoint's client shows a refused redirect.
pub(crate) fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    printable(&format!("{}://{host}{port}{}", url.scheme(), url.path()))
}

/// Exactly 64 ASCII hex digits, either case. Checked digit by digit first:
/// `u8::from_str_radix` alone would take a leading `+` (`"+0"` is 0).
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One client for all downloads of a run. Proxies from the environment
/// (`HTTPS_PROXY`, `NO_PROXY`) are honoured, as reqwest does by default.
/// Redirects are not followed by reqwest but by [`fetch`], hop by hop: each
/// hop is checked before it is requested, a failure names the hop that
/// failed, and no `Referer` carries a pre-signed query on to the next host.
fn http_client(limits: &Limits) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.timeout)
        .timeout(limits.timeout)
        .user_agent(concat!("ssmm/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot set up the HTTP client for url: file parameters")
}

/// The statuses that redirect a GET; any other 3xx is an answer (an error).
fn is_redirect(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Download with the size cap and the timeout, then verify the hash.
async fn fetch(
    client: &reqwest::Client,
    param: &str,
    remote: &Remote,
    limits: &Limits,
) -> Result<Vec<u8>, FileError> {
    // The hop being requested: the first URL, then each redirect target.
    // Set before each request, so a failure at any point can name it.
    let mut hop = remote.url.clone();
    let mut redirects = 0;
    let download = async {
        let mut response = loop {
            let response = client
                .get(hop.clone())
                .send()
                .await
                .map_err(|e| describe(e, &hop, limits))?;
            if !is_redirect(response.status()) {
                break response;
            }
            // A redirect without a Location is an answer like any other 3xx.
            let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
                break response;
            };
            let next = location
                .to_str()
                .ok()
                .and_then(|l| hop.join(l).ok())
                .ok_or_else(|| {
                    Failed::Other(format!("{REDIRECT_FAILED} the Location is not a URL"))
                })?;
            let refused = |why: String| {
                Failed::Other(format!(
                    "{REDIRECT_FAILED} redirect to {} refused: {why}",
                    shown(&next)
                ))
            };
            if redirects == MAX_REDIRECTS {
                return Err(refused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            allowed(&next, Some(&hop)).map_err(refused)?;
            redirects += 1;
            hop = next;
        };
        let status = response.status();
        if !status.is_success() {
            // The body is not shown: S3 error documents can echo the
            // signed request.
            return Err(Failed::Status(status.to_string()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > limits.max_size)
        {
            return Err(Failed::TooLarge);
        }
        let hint = response.content_length().unwrap_or(0);
        let mut body = Vec::with_capacity(hint.min(limits.max_size).min(MAX_PREALLOC) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe(e, &hop, limits))?
        {
            if body.len() as u64 + chunk.len() as u64 > limits.max_size {
                return Err(Failed::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // reqwest's own timeout covers the body too; this is the backstop, and
    // bounds all hops together.
    let result = tokio::time::timeout(limits.timeout, download)
        .await
        .unwrap_or_else(|_| Err(Failed::Other(timed_out(limits))));
    let param = printable(param);
    // The first URL, and the hop that failed when it is another one.
    let url = if redirects == 0 {
        remote.shown.clone()
    } else {
        format!("{} (redirected to {})", remote.shown, shown(&hop))
    };
    let body = result.map_err(|f| match f {
        Failed::Status(status) => FileError::Status {
            param: param.clone(),
            url: url.clone(),
            status,
        },
        Failed::TooLarge => FileError::TooLarge {
            param: param.clone(),
            url: url.clone(),
            limit: limits.max_size,
        },
        Failed::Other(why) => FileError::Download {
            param: param.clone(),
            url: url.clone(),
            why,
        },
    })?;
    if let Some(expected) = &remote.sha256 {
        let actual: [u8; 32] = Sha256::digest(&body).into();
        if &actual != expected {
            // Short prefixes, as `check` shows hashes: enough to compare.
            return Err(FileError::Hash {
                param,
                url,
                expected: to_hex(&expected[..6]),
                actual: to_hex(&actual[..6]),
            });
        }
    }
    crate::log::debug!("downloaded {} bytes from {url}", body.len());
    Ok(body)
}

/// How a download failed, before the parameter is attached.
enum Failed {
    Status(String),
    TooLarge,
    Other(String),
}

fn timed_out(limits: &Limits) -> String {
    format!("timed out after {:?}", limits.timeout)
}

/// A reqwest error for the request to `hop` as text without the URL:
/// reqwest's own message would print the query string, which holds a
/// pre-signed URL's credentials.
fn describe(e: reqwest::Error, hop: &Url, limits: &Limits) -> Failed {
    if e.is_timeout() {
        return Failed::Other(timed_out(limits));
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    // Belt and braces: whatever a lower layer put in, drop the secret parts.
    if let Some(query) = hop.query().filter(|q| !q.is_empty()) {
        text = text.replace(query, "<redacted>");
    }
    text = text.replace(hop.as_str(), &shown(hop));
    Failed::Other(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rule_table() {
        for good in ["a", "a/b/c.pem", ".hidden", "a..b", "...", "dir/.x", "ü/ñ"] {
            assert_eq!(check_rel(good), Ok(()), "{good}");
        }
        let long = "x".repeat(256);
        for bad in [
            "", "/abs", "a//b", "a/", "./a", "a/.", "..", "a/../b", "a\0b", "a\nb", "a\x7fb",
            "a\u{85}b", &long,
        ] {
            assert!(check_rel(bad).is_err(), "{bad:?} was accepted");
        }
        // A directory name may have 255 bytes; a file name 228, so that its
        // temporary name (27 bytes longer) fits.
        assert_eq!(check_rel(&format!("{}/f", "x".repeat(255))), Ok(()));
        assert_eq!(check_rel(&"x".repeat(228)), Ok(()));
        assert!(check_rel(&"x".repeat(229)).is_err());
    }

    #[test]
    fn base64_padding_optional_and_whitespace_ignored() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64(" aG\n k=\r\n").unwrap(), b"hi");
        assert_eq!(decode_base64("").unwrap(), b"");
        let err = decode_base64("aG-k").unwrap_err();
        assert!(!err.contains('-'), "{err}");
        assert!(decode_base64("a").is_err());
    }

    #[test]
    fn loopback_rule() {
        for ok in [
            "https://example.com/x",
            "http://127.0.0.1:9/x",
            "http://127.1.2.3/x",
            "http://[::1]:8/x",
            "http://localhost/x",
            "http://LOCALHOST/x",
        ] {
            assert!(parse_remote(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/x",
            "http://example.com/x",
            "http://localhost.example.com/x",
            "http://[::ffff:127.0.0.1]/x",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(parse_remote(bad).is_err(), "{bad}");
        }
        let https = Url::parse("https://a.example/").unwrap();
        let local = Url::parse("http://127.0.0.1/").unwrap();
        assert!(allowed(&local, Some(&https)).is_err(), "downgrade");
        assert!(allowed(&local, Some(&local)).is_ok());
    }

    #[test]
    fn sha256_fragment_is_stripped_and_checked() {
        let hex = "AB".repeat(32);
        let r = parse_remote(&format!("https://h.example/p?q=1#sha256={hex}")).unwrap();
        assert_eq!(r.sha256, Some([0xab; 32]));
        assert_eq!(r.url.as_str(), "https://h.example/p?q=1");
        assert_eq!(r.shown, "https://h.example/p");
        assert!(parse_remote("https://h.example/p#sha256=abc").is_err());
        assert!(parse_remote(&format!("https://h/p#sha256={}", "g".repeat(64))).is_err());
        assert!(parse_remote("https://h.example/p#md5=00").is_err());
    }

    #[test]
    fn sha256_with_a_plus_sign_is_not_hex() {
        // `u8::from_str_radix("+0", 16)` is Ok(0): every pair must be checked
        // as two hex digits, or `+0+0...` would pass for a digest of zeros.
        assert_eq!(parse_sha256(&"+0".repeat(32)), None);
        let mut digest = "0f".repeat(32);
        digest.replace_range(0..2, "+f");
        assert_eq!(parse_sha256(&digest), None);
        for bad in ["-0", " 0", "0 ", "0x", "g0"] {
            let hex = format!("{bad}{}", "00".repeat(31));
            assert_eq!(parse_sha256(&hex), None, "{hex:?}");
        }
        assert_eq!(parse_sha256(&"0f".repeat(32)), Some([0x0f; 32]));
        assert_eq!(parse_sha256(&"aB".repeat(32)), Some([0xab; 32]));
        let e = parse_remote(&format!("https://h.example/p#sha256={}", "+0".repeat(32)))
            .err()
            .unwrap();
        assert_eq!(e, "#sha256= needs exactly 64 hex digits");
    }

    #[test]
    fn shown_url_has_no_query_or_user_info() {
        let r = parse_remote("https://user:pw@h.example:8443/a/b?X-Amz-Signature=s3cr3t").unwrap();
        assert_eq!(r.shown, "https://h.example:8443/a/b");
    }

    #[test]
    fn conflicting_paths_are_refused() {
        let spec = |rel: &str, param: &str| FileSpec {
            rel: rel.into(),
            param: param.into(),
            value: Secret::new("v"),
        };
        assert!(check_conflicts(&[spec("a", "/p/a"), spec("a/b", "/p/b")]).is_err());
        assert!(check_conflicts(&[spec("a/b", "/p/b"), spec("a", "/p/a")]).is_err());
        assert!(check_conflicts(&[spec("x", "/p/1"), spec("x", "/p/2")]).is_err());
        assert!(check_conflicts(&[spec("a", "/p/a"), spec("ab/c", "/p/c")]).is_ok());
    }

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
