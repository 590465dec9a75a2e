//! The one HTTP GET ssmm makes, shared by `url:` file downloads and the ECS
//! task metadata endpoint: a client that follows no redirect on its own and
//! sends no `Referer`, and a GET that follows redirects hop by hop through
//! the caller's rule, stops at a byte cap and a time limit, and reports
//! what went wrong as a [`Failure`] whose text never holds a URL's query or
//! user info (a pre-signed URL's credentials). What each caller allows,
//! retries and says stays with the caller.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::names::printable;

/// Caps the up-front allocation, whatever Content-Length claims.
const MAX_PREALLOC: u64 = 8 << 20;

/// How a client connects.
pub(crate) struct Setup {
    pub connect_timeout: Duration,
    /// reqwest's own bound on each request, headers and body.
    pub timeout: Duration,
    /// Honour `HTTPS_PROXY` / `NO_PROXY` from the environment.
    pub env_proxy: bool,
}

/// A client for [`get`]. Redirects are never followed by reqwest: [`get`]
/// checks each hop before it is requested, and without reqwest following
/// them no `Referer` could carry a query on to the next host either.
pub(crate) fn client(setup: &Setup) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(setup.connect_timeout)
        .timeout(setup.timeout)
        .user_agent(concat!("ssmm/", env!("CARGO_PKG_VERSION")));
    let builder = if setup.env_proxy {
        builder
    } else {
        builder.no_proxy()
    };
    builder.build()
}

/// Bounds on one [`get`], all its hops together.
pub(crate) struct Bounds {
    /// Largest body accepted, in bytes.
    pub max_body: u64,
    /// From the first request to the last byte of the body.
    pub timeout: Duration,
    /// Redirects followed; the next one is refused.
    pub max_redirects: usize,
}

/// Where a [`get`] ended.
pub(crate) struct Got {
    /// The last URL requested: the first one unless a redirect was followed.
    pub hop: Url,
    pub redirects: usize,
    pub result: Result<Vec<u8>, Failure>,
}

/// Why a [`get`] brought no body.
pub(crate) enum Failure {
    /// An answer that is not a 2xx (a redirect without a Location is such
    /// an answer). Its body is not read: S3 error documents can echo the
    /// signed request.
    Status(StatusCode),
    /// A redirect whose Location is not a URL.
    BadLocation(StatusCode),
    /// A redirect refused, by the hop limit or the caller's rule:
    /// "redirect to <shown> refused: <why>".
    Refused(String),
    /// Larger than [`Bounds::max_body`], by Content-Length or by what came.
    TooLarge,
    /// The request or all hops together took too long.
    TimedOut,
    /// Connecting, sending or reading failed.
    Transport(Transport),
}

/// A transport error as text, without the URL's query.
pub(crate) struct Transport {
    /// Connecting failed (nothing was sent).
    pub connect: bool,
    /// The whole chain of causes, `a: b: c`.
    pub chain: String,
    /// The innermost cause alone.
    pub root: String,
}

/// GET `url`, following a redirect only when the hop limit and `follow`
/// (given the next URL and the current one) both allow it, and read the
/// body within `bounds`.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: Url,
    bounds: &Bounds,
    mut follow: impl FnMut(&Url, &Url) -> Result<(), String>,
) -> Got {
    let mut hop = url;
    let mut redirects = 0;
    // reqwest's own timeout covers each request; this bounds all hops
    // together, and is where a caller's shorter limit applies.
    let result = tokio::time::timeout(
        bounds.timeout,
        hops(client, &mut hop, &mut redirects, bounds, &mut follow),
    )
    .await
    .unwrap_or(Err(Failure::TimedOut));
    Got {
        hop,
        redirects,
        result,
    }
}

/// The statuses that redirect a GET; any other 3xx is an answer.
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The requests of one [`get`]; `hop` is set before each request, so a
/// failure at any point (a timeout included) can name it.
async fn hops(
    client: &reqwest::Client,
    hop: &mut Url,
    redirects: &mut usize,
    bounds: &Bounds,
    follow: &mut impl FnMut(&Url, &Url) -> Result<(), String>,
) -> Result<Vec<u8>, Failure> {
    let mut response = loop {
        let response = client
            .get(hop.clone())
            .send()
            .await
            .map_err(|e| transport(e, hop))?;
        let status = response.status();
        if !is_redirect(status) {
            break response;
        }
        let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
            break response;
        };
        let next = location
            .to_str()
            .ok()
            .and_then(|l| hop.join(l).ok())
            .ok_or(Failure::BadLocation(status))?;
        let allowed = if *redirects == bounds.max_redirects {
            Err(format!("more than {} redirects", bounds.max_redirects))
        } else {
            follow(&next, hop)
        };
        if let Err(why) = allowed {
            return Err(Failure::Refused(format!(
                "redirect to {} refused: {why}",
                shown(&next)
            )));
        }
        *redirects += 1;
        *hop = next;
    };
    let status = response.status();
    if !status.is_success() {
        return Err(Failure::Status(status));
    }
    let max = bounds.max_body;
    if response.content_length().is_some_and(|n| n > max) {
        return Err(Failure::TooLarge);
    }
    let hint = response.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(hint.min(max).min(MAX_PREALLOC) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, hop))? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error for the request to `hop`, without the URL: reqwest's
/// own message would print the query string.
fn transport(e: reqwest::Error, hop: &Url) -> Failure {
    if e.is_timeout() {
        return Failure::TimedOut;
    }
    let connect = e.is_connect();
    let e = e.without_url();
    let mut chain = e.to_string();
    let mut root = chain.clone();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        root = s.to_string();
        chain.push_str(": ");
        chain.push_str(&root);
        source = s.source();
    }
    Failure::Transport(Transport {
        connect,
        chain: redacted(chain, hop),
        root: redacted(root, hop),
    })
}

/// Belt and braces: whatever a lower layer put in, drop the secret parts.
fn redacted(mut text: String, hop: &Url) -> String {
    if let Some(query) = hop.query().filter(|q| !q.is_empty()) {
        text = text.replace(query, "<redacted>");
    }
    text.replace(hop.as_str(), &shown(hop))
}

/// scheme://host[:port]/path: pre-signed URLs carry their credentials in the
/// query, and user info may hold a password, so neither is ever shown.
pub(crate) fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    printable(&format!("{}://{host}{port}{}", url.scheme(), url.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_url_has_no_query_or_user_info() {
        let url =
            Url::parse("https://user:pw@h.example:8443/a/b?X-Amz-Signature=s3cr3t#f").unwrap();
        assert_eq!(shown(&url), "https://h.example:8443/a/b");
    }

    #[test]
    fn redacted_drops_the_query_and_the_full_url() {
        let hop = Url::parse("http://127.0.0.1:9/x?sig=s3cr3t").unwrap();
        let text = redacted(format!("error for {hop} (sig=s3cr3t)"), &hop);
        assert_eq!(
            text,
            "error for http://127.0.0.1:9/x?<redacted> (<redacted>)"
        );
        let bare = Url::parse("http://u:pw@h/x").unwrap();
        assert_eq!(redacted(format!("at {bare}"), &bare), "at http://h/x");
    }

    #[test]
    fn only_the_redirect_statuses_redirect() {
        for code in [301, 302, 303, 307, 308] {
            assert!(is_redirect(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 300, 304, 305, 306, 404] {
            assert!(!is_redirect(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}
