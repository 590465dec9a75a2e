//! Fetching a `url:` file parameter: redirects followed hop by hop, each
//! hop checked by the scheme rule, the size cap, the timeout, and the
//! `#sha256=` check, with messages that never show a URL's query.

use anyhow::Context;
use reqwest::Url;
use sha2::{Digest, Sha256};

use super::source::{Remote, allowed, shown};
use super::{FileError, Limits};
use crate::names::printable;

/// How every message about a redirect that was not followed starts.
pub(super) const REDIRECT_FAILED: &str = "error following redirect:";
/// Redirect hops followed per download; every hop is checked like the first.
const MAX_REDIRECTS: usize = 3;
/// Caps the up-front allocation, whatever Content-Length claims.
const MAX_PREALLOC: u64 = 8 << 20;

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One client for all downloads of a run. Proxies from the environment
/// (`HTTPS_PROXY`, `NO_PROXY`) are honoured, as reqwest does by default.
/// Redirects are not followed by reqwest but by [`fetch`], hop by hop: each
/// hop is checked before it is requested, a failure names the hop that
/// failed, and no `Referer` carries a pre-signed query on to the next host.
pub(super) fn http_client(limits: &Limits) -> anyhow::Result<reqwest::Client> {
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
pub(super) async fn fetch(
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
