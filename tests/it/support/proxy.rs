//! A fault-injecting HTTP/1.1 proxy for putting throttling, server errors,
//! resets, slowness and stalls between `ssmm` and moto.
//!
//! It parses just enough HTTP to find message boundaries, so it can keep the
//! client's connection alive (the SDK pools connections) and decide per
//! request. moto's werkzeug closes every connection after its answer; the
//! proxy hides that from the client by dialling upstream again, which also
//! makes the client side behave like AWS's keep-alive endpoints.
//!
//! It never prints or logs messages: request and response bodies carry the
//! secret values under test.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::mix64;

/// Largest request or response head accepted, against a runaway peer.
const MAX_HEAD: usize = 64 * 1024;

/// What to do to a selected request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException`, as SSM answers past its TPS limit.
    Throttle,
    /// This HTTP status with an AWS JSON error body (`500` is
    /// `InternalServerError`, `503` is `ServiceUnavailable`).
    Status(u16),
    /// This HTTP status with an AWS JSON error body of this `__type` and
    /// message (e.g. a ValidationException that repeats a value, as SSM's
    /// do).
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// Drop the connection without answering, with a TCP RST.
    Reset,
    /// Wait this long, then forward normally. Combines with later rules.
    Delay(Duration),
    /// Read the request and never answer (until the client gives up).
    Stall,
    /// Forward, then send the answer's head and only half its body before
    /// closing the connection (a cut-off response).
    Truncate,
    /// Answer 200 with an HTML page instead of JSON (a captive portal, a
    /// misrouted endpoint).
    NotJson,
}

/// Which of the matching requests a rule hits.
#[derive(Clone, Debug)]
enum Pick {
    All,
    First(usize),
    /// Requests beyond a token bucket of `tps` tokens a second holding at
    /// most `burst` (SSM's throughput limit).
    Bucket {
        tps: f64,
        burst: f64,
        tokens: f64,
        last: Option<std::time::Instant>,
    },
    /// Each matching request independently with probability `ratio`, drawn
    /// from a hash of (seed, index of the request among the matching ones).
    Share {
        ratio: f64,
        seed: u64,
    },
}

impl Pick {
    fn hits(&mut self, index: usize) -> bool {
        match *self {
            Pick::All => true,
            Pick::First(n) => index < n,
            Pick::Bucket {
                tps,
                burst,
                ref mut tokens,
                ref mut last,
            } => {
                let now = std::time::Instant::now();
                let refill = last.map_or(burst, |t| now.duration_since(t).as_secs_f64() * tps);
                *tokens = (*tokens + refill).min(burst);
                *last = Some(now);
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    false
                } else {
                    true
                }
            }
            Pick::Share { ratio, seed } => {
                let h = mix64(seed ^ mix64(index as u64));
                ((h >> 11) as f64 / (1u64 << 53) as f64) < ratio
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Rule {
    /// SSM operation names (`GetParametersByPath`); `None` is every request.
    ops: Option<Vec<String>>,
    fault: Fault,
    pick: Pick,
}

/// What the proxy does to requests: a list of rules, tried in order for each
/// request. A selected `Delay` adds its delay and goes on to the next rule;
/// any other selected fault ends the list for that request.
///
/// ```ignore
/// // Throttle about a third of the path reads, and slow every request.
/// Plan::share(Fault::Throttle, 0.33, 7)
///     .only(&["GetParametersByPath"])
///     .then(Plan::always(Fault::Delay(Duration::from_millis(20))))
/// ```
#[derive(Clone, Debug, Default)]
pub struct Plan {
    rules: Vec<Rule>,
}

impl Plan {
    /// Forward everything untouched.
    pub fn none() -> Plan {
        Plan::default()
    }

    /// Apply `fault` to every matching request.
    pub fn always(fault: Fault) -> Plan {
        Plan::rule(fault, Pick::All)
    }

    /// Apply `fault` to the first `n` matching requests after `set_plan`.
    pub fn first(fault: Fault, n: usize) -> Plan {
        Plan::rule(fault, Pick::First(n))
    }

    /// Apply `fault` to a share (`0.0..=1.0`) of matching requests. Which
    /// ones depends only on `seed` and each request's position among the
    /// matching requests, so a sequential client sees the same pattern on
    /// every run.
    pub fn share(fault: Fault, ratio: f64, seed: u64) -> Plan {
        assert!(
            (0.0..=1.0).contains(&ratio),
            "share ratio {ratio} not in 0..=1"
        );
        Plan::rule(fault, Pick::Share { ratio, seed })
    }

    /// Apply `fault` to requests beyond a token bucket that refills `tps`
    /// tokens a second up to `burst` (starting full): SSM's throughput limit
    /// is `Plan::over_rate(Fault::Throttle, 40.0, 40.0)`.
    pub fn over_rate(fault: Fault, tps: f64, burst: f64) -> Plan {
        Plan::rule(
            fault,
            Pick::Bucket {
                tps,
                burst,
                tokens: 0.0,
                last: None,
            },
        )
    }

    /// Restricts every rule so far to these SSM operations (the part of
    /// `X-Amz-Target` after the dot, e.g. `GetParametersByPath`).
    pub fn only(mut self, ops: &[&str]) -> Plan {
        for rule in &mut self.rules {
            rule.ops = Some(ops.iter().map(|s| s.to_string()).collect());
        }
        self
    }

    /// Appends `other`'s rules after this plan's.
    pub fn then(mut self, other: Plan) -> Plan {
        self.rules.extend(other.rules);
        self
    }

    fn rule(fault: Fault, pick: Pick) -> Plan {
        Plan {
            rules: vec![Rule {
                ops: None,
                fault,
                pick,
            }],
        }
    }
}

/// A plan in force, with how many requests each rule has matched so far.
struct ActivePlan {
    rules: Vec<(Rule, usize)>,
}

/// What to do with one request.
#[derive(Default)]
struct Decision {
    delay: Duration,
    fault: Option<Fault>,
    faulted: bool,
}

impl ActivePlan {
    fn new(plan: Plan) -> ActivePlan {
        ActivePlan {
            rules: plan.rules.into_iter().map(|r| (r, 0)).collect(),
        }
    }

    fn decide(&mut self, op: &str) -> Decision {
        let mut d = Decision::default();
        for (rule, seen) in &mut self.rules {
            if rule
                .ops
                .as_ref()
                .is_some_and(|ops| !ops.iter().any(|o| o == op))
            {
                continue;
            }
            let index = *seen;
            *seen += 1;
            if !rule.pick.hits(index) {
                continue;
            }
            d.faulted = true;
            match &rule.fault {
                Fault::Delay(t) => d.delay += *t,
                other => {
                    d.fault = Some(other.clone());
                    break;
                }
            }
        }
        d
    }
}

/// One request as the proxy saw it: no value, only which operation it was
/// and which access key signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// As [`FaultProxy::count`] names it.
    pub op: String,
    /// The service of the SigV4 credential scope (`ssm`, `sts`), if signed.
    pub service: Option<String>,
    /// The access key id of the SigV4 `Authorization` header, if signed.
    pub access_key: Option<String>,
}

impl Seen {
    fn of(head: &Head, op: &str) -> Seen {
        // `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`
        let scope = head
            .get("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split(',').next())
            .map(|c| c.trim().split('/').map(str::to_owned).collect::<Vec<_>>());
        Seen {
            op: op.to_owned(),
            service: scope.as_ref().and_then(|s| s.get(3).cloned()),
            access_key: scope.and_then(|s| s.first().cloned()),
        }
    }
}

struct Shared {
    upstream: SocketAddr,
    seen: Mutex<Vec<Seen>>,
    issued: Mutex<Vec<String>>,
    plan: Mutex<ActivePlan>,
    counts: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    faults: AtomicUsize,
    connections: AtomicUsize,
}

/// The proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: mpsc::Receiver<()>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `upstream`
    /// (`http://host:port`), with `Plan::none()`. It accepts connections as
    /// soon as this returns.
    pub fn start(upstream: &str) -> FaultProxy {
        let authority = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("proxy: upstream must be http://host:port, got {upstream}"));
        let authority = authority.split('/').next().unwrap_or_default();
        let upstream = authority
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("proxy: cannot resolve upstream {authority}"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy: bind");
        listener.set_nonblocking(true).expect("proxy: nonblocking");
        let addr = listener.local_addr().expect("proxy: local addr");
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(ActivePlan::new(Plan::none())),
            seen: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            faults: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread = thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy: runtime");
                rt.block_on(accept_loop(listener, thread_shared, shutdown_rx));
                // Dropping the runtime cancels every connection task, stalled
                // ones included, and closes their sockets.
                drop(rt);
                let _ = stopped_tx.send(());
            })
            .expect("proxy: spawn thread");
        FaultProxy {
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            stopped,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the plan; its rules start counting matches from zero.
    pub fn set_plan(&self, plan: Plan) {
        *self.shared.plan.lock().unwrap() = ActivePlan::new(plan);
    }

    /// Requests seen for an SSM operation (e.g. `GetParametersByPath`),
    /// faulted ones included. Requests without `X-Amz-Target` count as `""`.
    pub fn count(&self, op: &str) -> usize {
        self.shared
            .counts
            .lock()
            .unwrap()
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// Every operation seen and its count, sorted by name.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut all: Vec<_> = self
            .shared
            .counts
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        all.sort();
        all
    }

    /// Every request so far, in order: its operation and signing key.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The secret keys and session tokens STS handed out through the proxy
    /// (AssumeRole and AssumeRoleWithWebIdentity answers), for the no-leak
    /// checks.
    pub fn issued(&self) -> Vec<String> {
        self.shared.issued.lock().unwrap().clone()
    }

    /// The access keys that signed requests to `service` (`ssm`, `sts`),
    /// each once, in order of first use; unsigned requests count as `-`.
    pub fn signers(&self, service: &str) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for s in self.seen() {
            if s.service.as_deref() == Some(service) || (s.service.is_none() && service == "-") {
                let key = s.access_key.unwrap_or_else(|| "-".into());
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// Requests seen, faulted ones included.
    pub fn total(&self) -> usize {
        self.shared.total.load(Ordering::SeqCst)
    }

    /// Requests that at least one rule hit (delays included).
    pub fn faults_injected(&self) -> usize {
        self.shared.faults.load(Ordering::SeqCst)
    }

    /// Client connections accepted (shows whether keep-alive is in use).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Zeroes the counts, totals, connection count and [`FaultProxy::seen`]
    /// (not the plan).
    pub fn reset_counts(&self) {
        self.shared.counts.lock().unwrap().clear();
        self.shared.seen.lock().unwrap().clear();
        self.shared.total.store(0, Ordering::SeqCst);
        self.shared.faults.store(0, Ordering::SeqCst);
        self.shared.connections.store(0, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Bounded: a proxy that will not stop is leaked rather than allowed
        // to hang the test.
        if self.stopped.recv_timeout(Duration::from_secs(5)).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("proxy: listener");
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                tokio::spawn(async move {
                    // Errors only end this connection; the client sees the
                    // close, which is all a proxy can tell it.
                    let _ = serve(stream, shared).await;
                });
            }
        }
    }
}

/// One HTTP message as read off the wire: the head verbatim and the body in
/// its original framing.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

/// The parts of a head the proxy needs.
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(raw: &[u8]) -> io::Result<Head> {
        let text = std::str::from_utf8(raw).map_err(|_| bad("head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Head { start, headers })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn content_length(&self) -> io::Result<Option<usize>> {
        self.get("content-length")
            .map(|v| v.parse().map_err(|_| bad("bad Content-Length")))
            .transpose()
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Reads a head up to and including the blank line. `None` on a clean EOF
/// before the first byte (the peer closed an idle connection).
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = r.read_until(b'\n', &mut head).await?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.len() > MAX_HEAD {
            return Err(bad("head too large"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            // A blank line before any header is a stray CRLF between
            // messages (RFC 9112 §2.2 says to ignore it).
            if before == 0 {
                head.clear();
                continue;
            }
            return Ok(Some(head));
        }
    }
}

/// Reads a chunked body verbatim (chunks, last chunk and trailers).
async fn read_chunked<R: AsyncBufRead + Unpin>(r: &mut R, out: &mut Vec<u8>) -> io::Result<()> {
    loop {
        let start = out.len();
        if r.read_until(b'\n', out).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = std::str::from_utf8(&out[start..]).map_err(|_| bad("chunk size"))?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| bad("chunk size"))?;
        if size == 0 {
            loop {
                let t = out.len();
                if r.read_until(b'\n', out).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if &out[t..] == b"\r\n" || &out[t..] == b"\n" {
                    return Ok(());
                }
            }
        }
        let at = out.len();
        out.resize(at + size + 2, 0); // data and its CRLF
        r.read_exact(&mut out[at..]).await?;
    }
}

/// Reads one request. `None` when the client closed between requests.
async fn read_request<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<(Head, Message)>> {
    let Some(raw) = read_head(r).await? else {
        return Ok(None);
    };
    let head = Head::parse(&raw)?;
    let mut body = Vec::new();
    if head.has_token("transfer-encoding", "chunked") {
        read_chunked(r, &mut body).await?;
    } else if let Some(n) = head.content_length()? {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    }
    Ok(Some((head, Message { head: raw, body })))
}

/// A response read from upstream, re-framed for a keep-alive client.
struct Response {
    bytes: Vec<u8>,
    /// Upstream will not take another request on this connection.
    upstream_done: bool,
}

async fn read_response<R: AsyncBufRead + Unpin>(
    r: &mut R,
    request_method: &str,
) -> io::Result<Option<Response>> {
    let Some(raw) = read_head(r).await? else {
        return Ok(None);
    };
    let head = Head::parse(&raw)?;
    let status: u16 = head
        .start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let http10 = head.start.starts_with("HTTP/1.0");
    let mut upstream_done = head.has_token("connection", "close")
        || (http10 && !head.has_token("connection", "keep-alive"));
    let no_body =
        request_method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304;

    let mut body = Vec::new();
    let mut length_known = true;
    if no_body {
        // Nothing follows the head.
    } else if head.has_token("transfer-encoding", "chunked") {
        read_chunked(r, &mut body).await?;
    } else if let Some(n) = head.content_length()? {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    } else {
        r.read_to_end(&mut body).await?;
        length_known = false;
        upstream_done = true;
    }

    // Rewrite the head: drop hop-by-hop connection management so the client
    // connection stays open, and give an EOF-delimited body a length.
    let mut out = Vec::with_capacity(raw.len() + body.len() + 32);
    let text = String::from_utf8_lossy(&raw);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !length_known {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(Some(Response {
        bytes: out,
        upstream_done,
    }))
}

/// Serves one client connection until it closes or a fault ends it.
async fn serve(client: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    // Nagle plus delayed ACK would add ~40 ms per request (measured).
    client.set_nodelay(true)?;
    let mut client = BufReader::new(client);
    let mut upstream: Option<BufReader<TcpStream>> = None;
    loop {
        let Some((head, request)) = read_request(&mut client).await? else {
            return Ok(());
        };
        let op = head
            .get("x-amz-target")
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
            .or_else(|| form_action(&head, &request.body))
            .unwrap_or_default();
        shared.seen.lock().unwrap().push(Seen::of(&head, &op));
        let client_closes = head.has_token("connection", "close");
        let method = head.start.split(' ').next().unwrap_or_default().to_owned();

        *shared.counts.lock().unwrap().entry(op.clone()).or_default() += 1;
        shared.total.fetch_add(1, Ordering::SeqCst);
        let decision = shared.plan.lock().unwrap().decide(&op);
        if decision.faulted {
            shared.faults.fetch_add(1, Ordering::SeqCst);
        }
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }

        let response = match decision.fault {
            Some(Fault::Throttle) => canned(400, "ThrottlingException", "Rate exceeded"),
            Some(Fault::Status(code)) => {
                let kind = match code {
                    500 => "InternalServerError",
                    503 => "ServiceUnavailable",
                    _ => "InternalFailure",
                };
                canned(code, kind, "injected by the test proxy")
            }
            Some(Fault::Error {
                status,
                code,
                message,
            }) => canned(status, &code, &message),
            Some(Fault::Reset) => {
                // SO_LINGER 0 turns the close into an RST.
                let _ = client.get_ref().set_zero_linger();
                return Ok(());
            }
            Some(Fault::Stall) => {
                // Hold the connection, discarding anything more it sends,
                // until the client gives up or the proxy stops.
                let mut sink = [0u8; 4096];
                while client.read(&mut sink).await? > 0 {}
                return Ok(());
            }
            Some(Fault::Truncate) => {
                let full = match forward(&shared, &mut upstream, &request, &method).await {
                    Ok(bytes) => bytes,
                    Err(_) => return Ok(()),
                };
                let cut = match full.windows(4).position(|w| w == b"\r\n\r\n") {
                    Some(head_end) => {
                        let body = full.len() - (head_end + 4);
                        head_end + 4 + body / 2
                    }
                    None => full.len() / 2,
                };
                client.write_all(&full[..cut]).await?;
                client.flush().await?;
                return Ok(());
            }
            Some(Fault::NotJson) => {
                let body = "<html><body><h1>Welcome</h1>Please log in.</body></html>";
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            Some(Fault::Delay(_)) => unreachable!("delays are folded into Decision::delay"),
            None => match forward(&shared, &mut upstream, &request, &method).await {
                Ok(bytes) => {
                    if op.starts_with("AssumeRole") {
                        shared.issued.lock().unwrap().extend(sts_secrets(&bytes));
                    }
                    bytes
                }
                Err(e) => canned(502, "BadGateway", &format!("proxy: upstream failed: {e}")),
            },
        };
        let response = if client_closes {
            add_close(response)
        } else {
            response
        };
        client.write_all(&response).await?;
        client.flush().await?;
        if client_closes {
            return Ok(());
        }
    }
}

/// The `SecretAccessKey` and `SessionToken` of an STS answer (XML).
fn sts_secrets(response: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(response);
    ["SecretAccessKey", "SessionToken"]
        .iter()
        .filter_map(|tag| {
            let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
            let end = text[start..].find(&format!("</{tag}>"))? + start;
            Some(text[start..end].to_owned())
        })
        .collect()
}

/// The `Action` of a form-encoded (AWS query protocol: STS) request.
fn form_action(head: &Head, body: &[u8]) -> Option<String> {
    if !head
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return None;
    }
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_owned)
}

/// Sends a request upstream and reads the answer, dialling again when the
/// previous connection is gone (moto closes after every response).
async fn forward(
    shared: &Shared,
    upstream: &mut Option<BufReader<TcpStream>>,
    request: &Message,
    method: &str,
) -> io::Result<Vec<u8>> {
    for attempt in 0..2 {
        let reused = upstream.is_some();
        let conn = match upstream {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect(shared.upstream).await?;
                stream.set_nodelay(true)?;
                upstream.insert(BufReader::new(stream))
            }
        };
        let sent = async {
            conn.write_all(&request.head).await?;
            conn.write_all(&request.body).await?;
            conn.flush().await
        }
        .await;
        let answer = match sent {
            Ok(()) => read_response(conn, method).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(Some(resp)) => {
                if resp.upstream_done {
                    *upstream = None;
                }
                return Ok(resp.bytes);
            }
            // A reused connection that upstream had already closed: dial
            // again once. A fresh one failing is a real error.
            Ok(None) | Err(_) if reused && attempt == 0 => *upstream = None,
            Ok(None) => {
                *upstream = None;
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Err(e) => {
                *upstream = None;
                return Err(e);
            }
        }
    }
    unreachable!("the second attempt always returns")
}

/// An AWS JSON 1.1 error response, framed for keep-alive.
fn canned(status: u16, kind: &str, message: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\n\
         x-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n\
         x-amzn-ErrorType: {kind}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Adds `Connection: close` to a response head (whose own connection
/// headers were already dropped) for a client that asked to close.
fn add_close(mut response: Vec<u8>) -> Vec<u8> {
    if let Some(end) = response.windows(2).position(|w| w == b"\r\n") {
        response.splice(end + 2..end + 2, b"Connection: close\r\n".iter().copied());
    }
    response
}
