//! A loopback HTTP/1.1 server for every area that needs one (file downloads,
//! ECS task metadata endpoint v4, an SSM endpoint answering what moto never
//! would): one request per connection, answered by a route function, each
//! path's requests counted. It stops accepting when dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request, as the route sees it.
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The request line and headers.
    pub head: String,
    /// How many requests for this target arrived so far, this one included.
    pub hit: usize,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// How the server answers one request.
#[derive(Clone)]
pub struct Reply {
    delay: Duration,
    /// Answer 500 `oops` to this many hits of the target first.
    fail_first: usize,
    what: What,
    /// After answering, keep the connection open this long, then close it.
    stall_after: Duration,
}

#[derive(Clone)]
enum What {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// These bytes as they are (a response the builder cannot express).
    Raw(Vec<u8>),
    /// Nothing at all.
    Silence,
}

impl Reply {
    fn of(what: What) -> Reply {
        Reply {
            delay: Duration::ZERO,
            fail_first: 0,
            what,
            stall_after: Duration::ZERO,
        }
    }

    /// `status` with `body`, a `Content-Length` and `Connection: close`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::of(What::Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        })
    }

    /// 200 with a JSON body.
    pub fn json(body: &str) -> Reply {
        Reply::new(200, body).header("Content-Type", "application/json")
    }

    /// `status` with an empty JSON object.
    pub fn status(status: u16) -> Reply {
        Reply::new(status, "{}").header("Content-Type", "application/json")
    }

    /// A redirect (`status` 301, 302, 307...) to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::new(status, "").header("Location", location)
    }

    /// Reads the request, then says nothing for `d` and closes.
    pub fn stall(d: Duration) -> Reply {
        Reply::of(What::Silence).stall_after(d)
    }

    /// Exactly these bytes, then the connection closes.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::of(What::Raw(bytes.into()))
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let What::Answer { headers, .. } = &mut self.what {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Waits `d` before answering.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    /// Answers 500 `oops` to the first `n` requests for the target.
    pub fn fail_first(mut self, n: usize) -> Reply {
        self.fail_first = n;
        self
    }

    /// Keeps the connection open for `d` after answering (a body that never
    /// ends, a final chunk that never comes).
    pub fn stall_after(mut self, d: Duration) -> Reply {
        self.stall_after = d;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        match &self.what {
            What::Answer {
                status,
                headers,
                body,
            } => {
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let mut out = out.into_bytes();
                out.extend_from_slice(body);
                out
            }
            What::Raw(bytes) => bytes.clone(),
            What::Silence => Vec::new(),
        }
    }
}

type Route = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server; see the module docs.
pub struct Server {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// On 127.0.0.1, answering with `route`.
    pub fn start(route: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on([127, 0, 0, 1].into(), route)
    }

    /// On another loopback address (127.0.0.2 is another host to a client).
    pub fn start_on(
        ip: IpAddr,
        route: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind((ip, 0)).expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let route: Arc<Route> = Arc::new(route);
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (route, hits) = (route.clone(), h.clone());
                thread::spawn(move || respond(conn, &*route, &hits));
            }
        });
        Server { addr, hits, stop }
    }

    /// A fixed table of targets; any other target gets 404 `{}`.
    pub fn routes(table: &[(&str, Reply)]) -> Server {
        Server::routes_on([127, 0, 0, 1].into(), table)
    }

    /// [`Server::routes`] on another loopback address.
    pub fn routes_on(ip: IpAddr, table: &[(&str, Reply)]) -> Server {
        let table: HashMap<String, Reply> = table
            .iter()
            .map(|(p, r)| (p.to_string(), r.clone()))
            .collect();
        Server::start_on(ip, move |req| {
            table
                .get(&req.target)
                .cloned()
                .unwrap_or_else(|| Reply::new(404, "{}"))
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests for `target` so far.
    pub fn hits(&self, target: &str) -> usize {
        *self.hits.lock().unwrap().get(target).unwrap_or(&0)
    }

    /// Requests for `path`, whatever their query.
    pub fn hits_matching(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.split('?').next() == Some(path))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total_hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag and closes the port.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn respond(mut conn: TcpStream, route: &Route, hits: &Mutex<HashMap<String, usize>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let hit = {
        let mut hits = hits.lock().unwrap();
        let n = hits.entry(target.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let mut req = Request {
        method,
        target,
        head,
        hit,
    };
    let length = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let reply = route(&req);
    req.head.clear();
    thread::sleep(reply.delay);
    let reply = if hit <= reply.fail_first {
        Reply::new(500, "oops")
    } else {
        reply
    };
    // The client may have given up (slow-answer tests): ignore write errors.
    let _ = conn.write_all(&reply.bytes());
    let _ = conn.flush();
    thread::sleep(reply.stall_after);
    let _ = conn.shutdown(Shutdown::Both);
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
