//! The one HTTP GET ssmm makes, shared by `url:` file downloads and the ECS
//! task metadata endpoint: a client that follows no redirect on its own and
//! sends no `Referer`, and a GET that follows redirects hop by hop through
//! the caller's rule, stops at a byte cap and a time limit, and reports
//! what went wrong as a [`Failure`] whose text never holds a URL's query or
//! user info (a pre-signed URL's credentials). What each caller allows,
//! retries and says stays with the caller.
//!
//! It is built on the hyper, hyper-util and hyper-rustls crates the SSM
//! client links anyway: HTTP/1.1 only, certificates checked against the
//! system's CA certificates (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured),
//! and, when asked for, the proxies named by `HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY` (an https URL through an http(s) proxy goes
//! through a `CONNECT` tunnel).

use std::error::Error as StdError;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, PROXY_AUTHORIZATION, USER_AGENT,
};
use http::uri::Scheme;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Body as _, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, timeout_at};
use tower_service::Service as _;
use url::Url;

use crate::names::printable;

/// Caps the up-front allocation, whatever Content-Length claims.
const MAX_PREALLOC: u64 = 8 << 20;

const UA: &str = concat!("ssmm/", env!("CARGO_PKG_VERSION"));

/// How a client connects.
pub(crate) struct Setup {
    /// Bounds connecting: TCP, a proxy's tunnel and the TLS handshake.
    pub connect_timeout: Duration,
    /// Bounds each request, from sending it to the last byte of its body.
    pub timeout: Duration,
    /// Honour `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` from
    /// the environment.
    pub env_proxy: bool,
}

/// A client for [`get`]. It follows no redirect itself: [`get`] checks each
/// hop before it is requested, and since nothing follows them for it no
/// `Referer` could carry a query on to the next host either.
pub(crate) struct Client {
    hyper: hyper_util::client::legacy::Client<Connector, Empty<Bytes>>,
    proxies: Option<Arc<Matcher>>,
    timeout: Duration,
}

/// Why no client could be set up: the system has no usable CA certificate.
#[derive(Debug, thiserror::Error)]
#[error("builder error")]
pub(crate) struct SetupError(#[source] rustls::Error);

/// The client for [`get`]. The CA certificates are read now, once.
pub(crate) fn client(setup: &Setup) -> Result<Client, SetupError> {
    let tls = Arc::new(tls_config()?);
    let mut http = HttpConnector::new();
    // The scheme is checked by hyper-rustls's connector around it.
    http.enforce_http(false);
    http.set_nodelay(true);
    // Shared among a name's addresses, so one that never answers leaves
    // time for the next; the whole connect has the same bound below.
    http.set_connect_timeout(Some(setup.connect_timeout));
    // Keeps a long, quiet download from being dropped by a middlebox.
    http.set_keepalive(Some(Duration::from_secs(15)));
    let proxies = setup.env_proxy.then(|| Arc::new(Matcher::from_env()));
    let connector = Connector {
        https: HttpsConnector::from((http, tls.clone())),
        tls,
        proxies: proxies.clone(),
        timeout: setup.connect_timeout,
    };
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector);
    Ok(Client {
        hyper,
        proxies,
        timeout: setup.timeout,
    })
}

/// TLS 1.2 and 1.3 with aws-lc-rs, verified by webpki against the system's
/// CA certificates; ALPN offers HTTP/1.1 only.
fn tls_config() -> Result<rustls::ClientConfig, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable or unparsable certificates are skipped; only none at all
    // is an error.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(SetupError(rustls::Error::General(
            "No CA certificates were loaded from the system".into(),
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(SetupError)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// Connects directly or through the proxy the environment names for the
/// destination, all within the connect timeout.
#[derive(Clone)]
struct Connector {
    /// http, or https to the destination or to an https proxy.
    https: HttpsConnector<HttpConnector>,
    tls: Arc<rustls::ClientConfig>,
    proxies: Option<Arc<Matcher>>,
    timeout: Duration,
}

/// The connect timeout ran out.
#[derive(Debug, thiserror::Error)]
#[error("operation timed out")]
struct ConnectTimedOut;

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            tokio::time::timeout(this.timeout, this.connect(dst))
                .await
                .unwrap_or_else(|_| Err(Box::new(ConnectTimedOut)))
        })
    }
}

impl Connector {
    async fn connect(mut self, dst: Uri) -> Result<Conn, BoxError> {
        let Some(proxy) = self.proxies.as_ref().and_then(|m| m.intercept(&dst)) else {
            return Ok(Conn::new(self.https.call(dst).await?, false));
        };
        if dst.scheme() != Some(&Scheme::HTTPS) {
            // Plain http goes to the proxy itself, in absolute form.
            return Ok(Conn::new(self.https.call(proxy.uri().clone()).await?, true));
        }
        let mut tunnel = Tunnel::new(proxy.uri().clone(), self.https.clone());
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(UA));
        let tunnel = tunnel.with_headers(headers);
        // TLS to the destination, inside the tunnel.
        let mut tls = HttpsConnector::from((tunnel, self.tls.clone()));
        Ok(Conn::new(tls.call(dst).await?, false))
    }
}

/// What a connection needs to be for hyper.
trait Io: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static {}
impl<T: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static> Io for T {}

/// A direct, proxied or tunnelled connection.
struct Conn {
    io: Box<dyn Io>,
    /// To an http proxy that forwards plain http requests.
    proxied: bool,
}

impl Conn {
    fn new(io: impl Io, proxied: bool) -> Conn {
        Conn {
            io: Box::new(io),
            proxied,
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
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
    client: &Client,
    url: Url,
    bounds: &Bounds,
    mut follow: impl FnMut(&Url, &Url) -> Result<(), String>,
) -> Got {
    let mut hop = url;
    let mut redirects = 0;
    // The client's own timeout covers each request; this bounds all hops
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
    client: &Client,
    hop: &mut Url,
    redirects: &mut usize,
    bounds: &Bounds,
    follow: &mut impl FnMut(&Url, &Url) -> Result<(), String>,
) -> Result<Vec<u8>, Failure> {
    let (response, deadline) = loop {
        let deadline = Instant::now() + client.timeout;
        let response = timeout_at(deadline, send(client, hop))
            .await
            .map_err(|_| Failure::TimedOut)??;
        let status = response.status();
        if !is_redirect(status) {
            break (response, deadline);
        }
        let Some(location) = response.headers().get(LOCATION) else {
            break (response, deadline);
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
    let mut body = response.into_body();
    let max = bounds.max_body;
    let length = body.size_hint().exact();
    if length.is_some_and(|n| n > max) {
        return Err(Failure::TooLarge);
    }
    let hint = length.unwrap_or(0);
    let mut out = Vec::with_capacity(hint.min(max).min(MAX_PREALLOC) as usize);
    while let Some(frame) = timeout_at(deadline, body.frame())
        .await
        .map_err(|_| Failure::TimedOut)?
    {
        let frame = frame.map_err(|e| transport(READING, &e, hop))?;
        // Trailers, if any, are not body.
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if out.len() as u64 + chunk.len() as u64 > max {
            return Err(Failure::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// How a transport error's text starts, by what failed.
const SENDING: &str = "error sending request";
const READING: &str = "error decoding response body: request or response body error";

/// One GET of `hop`: `Accept`, `User-Agent`, Basic `Authorization` from the
/// URL's user info (which never goes on the request line), and for plain
/// http through a proxy the proxy's own credentials.
async fn send(client: &Client, hop: &Url) -> Result<Response<Incoming>, Failure> {
    let (uri, auth) = target(hop).ok_or_else(|| {
        Failure::Transport(Transport {
            connect: false,
            chain: "builder error: Parsed Url is not a valid Uri".into(),
            root: "Parsed Url is not a valid Uri".into(),
        })
    })?;
    let mut request = Request::get(uri.clone())
        .header(ACCEPT, HeaderValue::from_static("*/*"))
        .header(USER_AGENT, HeaderValue::from_static(UA));
    if let Some(auth) = auth {
        request = request.header(AUTHORIZATION, auth);
    }
    // For https the proxy's credentials went with the CONNECT.
    if uri.scheme() == Some(&Scheme::HTTP)
        && let Some(proxy) = client.proxies.as_ref().and_then(|m| m.intercept(&uri))
        && let Some(auth) = proxy.basic_auth()
    {
        request = request.header(PROXY_AUTHORIZATION, auth.clone());
    }
    let request = request
        .body(Empty::new())
        .expect("a GET built from a parsed URI");
    client
        .hyper
        .request(request)
        .await
        .map_err(|e| transport(SENDING, &e, hop))
}

/// The request URI (the URL without user info and fragment) and, when the
/// URL has user info, its `Authorization: Basic` value.
fn target(hop: &Url) -> Option<(Uri, Option<HeaderValue>)> {
    let mut bare = hop.clone();
    bare.set_fragment(None);
    let mut auth = None;
    if !hop.username().is_empty() || hop.password().is_some() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(String::from)
        };
        let user = decode(hop.username())?;
        let password = match hop.password() {
            Some(p) => decode(p)?,
            None => String::new(),
        };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
        value.set_sensitive(true);
        auth = Some(value);
        bare.set_username("").ok()?;
        bare.set_password(None).ok()?;
    }
    let uri = bare.as_str().parse().ok()?;
    Some((uri, auth))
}

/// A transport error for the request to `hop`, as `what: cause: cause...`,
/// without the URL's secrets.
fn transport(what: &str, e: &(dyn StdError + 'static), hop: &Url) -> Failure {
    if is_timeout(e) {
        return Failure::TimedOut;
    }
    let connect = e
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(|e| e.is_connect());
    let mut chain = what.to_owned();
    let mut root = chain.clone();
    let mut source = Some(e);
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

/// A timeout anywhere in the chain: the connect timeout, or the system's.
fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.is::<ConnectTimedOut>()
            || s.downcast_ref::<hyper::Error>()
                .is_some_and(|e| e.is_timeout())
            || s.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
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

    #[test]
    fn user_info_becomes_basic_auth_and_leaves_the_request_uri() {
        let hop = Url::parse("https://us%20er:p%40ss@h.example/a?q=1#f").unwrap();
        let (uri, auth) = target(&hop).unwrap();
        assert_eq!(uri.to_string(), "https://h.example/a?q=1");
        // base64("us er:p@ss")
        assert_eq!(auth.unwrap(), "Basic dXMgZXI6cEBzcw==");
        let (_, auth) = target(&Url::parse("http://u@h/").unwrap()).unwrap();
        assert_eq!(auth.unwrap(), "Basic dTo=");
        let (uri, auth) = target(&Url::parse("http://h:8080/x").unwrap()).unwrap();
        assert_eq!(uri.to_string(), "http://h:8080/x");
        assert!(auth.is_none());
    }
}
