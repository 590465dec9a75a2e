//! Fetching a `url:` file parameter through the shared GET ([`crate::http`])
//! with the files' own policy on top: every redirect hop must pass the
//! scheme rule, at most [`MAX_REDIRECTS`] of them, the `--max-file-size`
//! cap and the timeout, then the `#sha256=` check; and the messages that
//! name the parameter and the URL (never its query).

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::source::{Remote, allowed};
use super::{FileError, Limits};
use crate::http::{self, Failure, shown};
use crate::names::printable;

/// How every message about a redirect that was not followed starts.
pub(super) const REDIRECT_FAILED: &str = "error following redirect:";
/// Redirect hops followed per download; every hop is checked like the first.
const MAX_REDIRECTS: usize = 3;

/// One client for all downloads of a run. Proxies from the environment
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are honoured.
pub(super) fn client(limits: &Limits) -> anyhow::Result<http::Client> {
    http::client(&http::Setup {
        connect_timeout: limits.timeout,
        timeout: limits.timeout,
        env_proxy: true,
    })
    .context("cannot set up the HTTP client for url: file parameters")
}

/// Download with the size cap and the timeout, then verify the hash.
pub(super) async fn fetch(
    client: &http::Client,
    param: &str,
    remote: &Remote,
    limits: &Limits,
) -> Result<Vec<u8>, FileError> {
    let bounds = http::Bounds {
        max_body: limits.max_size,
        timeout: limits.timeout,
        max_redirects: MAX_REDIRECTS,
    };
    let got = http::get(client, remote.url.clone(), &bounds, |next, hop| {
        allowed(next, Some(hop))
    })
    .await;
    let param = printable(param);
    // The first URL, and the hop that failed when it is another one.
    let url = if got.redirects == 0 {
        remote.shown.clone()
    } else {
        format!("{} (redirected to {})", remote.shown, shown(&got.hop))
    };
    let download = |why: String| FileError::Download {
        param: param.clone(),
        url: url.clone(),
        why,
    };
    let body = got.result.map_err(|f| match f {
        Failure::Status(status) => FileError::Status {
            param: param.clone(),
            url: url.clone(),
            status: status.to_string(),
        },
        Failure::TooLarge => FileError::TooLarge {
            param: param.clone(),
            url: url.clone(),
            limit: limits.max_size,
        },
        Failure::TimedOut => download(format!("timed out after {:?}", limits.timeout)),
        Failure::Transport(t) => download(t.chain),
        Failure::BadLocation(_) => download(format!("{REDIRECT_FAILED} the Location is not a URL")),
        Failure::Refused(why) => download(format!("{REDIRECT_FAILED} {why}")),
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

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
