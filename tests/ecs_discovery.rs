//! ECS discovery against real metadata files and a real local HTTP server
//! standing in for task metadata endpoint v4.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssmm::ecs::{EcsInfo, discover};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ------------------------------------------------------- test server

/// How the fake endpoint answers one path.
#[derive(Clone)]
struct Route {
    status: u16,
    body: String,
    delay: Duration,
    /// Answer 500 to this many requests before answering normally.
    fail_first: usize,
}

impl Route {
    fn json(body: &str) -> Route {
        Route {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
            fail_first: 0,
        }
    }
    fn status(status: u16) -> Route {
        Route {
            status,
            ..Route::json("{}")
        }
    }
    fn delay(mut self, d: Duration) -> Route {
        self.delay = d;
        self
    }
    fn fail_first(mut self, n: usize) -> Route {
        self.fail_first = n;
        self
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1:0, one request per connection.
struct Server {
    addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

const BASE: &str = "/v4/abc-123";
const TASK: &str = "/v4/abc-123/task";

impl Server {
    async fn start(routes: &[(&str, Route)]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<HashMap<String, Route>> = Arc::new(
            routes
                .iter()
                .map(|(p, r)| (p.to_string(), r.clone()))
                .collect(),
        );
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, routes.clone(), h.clone()));
            }
        });
        Server { addr, hits }
    }

    /// The `$ECS_CONTAINER_METADATA_URI_V4` value for this server.
    fn uri(&self) -> String {
        format!("http://{}{BASE}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        *self.hits.lock().unwrap().get(path).unwrap_or(&0)
    }
}

async fn serve(
    mut sock: TcpStream,
    routes: Arc<HashMap<String, Route>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&req);
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let n = {
        let mut hits = hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let (status, body) = match routes.get(&path) {
        None => (404, "{}".to_string()),
        Some(r) => {
            tokio::time::sleep(r.delay).await;
            if n <= r.fail_first {
                (500, "oops".to_string())
            } else {
                (r.status, r.body.clone())
            }
        }
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The client may have given up (slow-answer tests): ignore write errors.
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

const CONTAINER_JSON: &str = r#"{"Name":"web","DockerId":"d1","Labels":{"com.amazonaws.ecs.cluster":"arn:aws:ecs:us-east-1:123:cluster/from-label"}}"#;
const TASK_JSON: &str = r#"{"Cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/prod","TaskARN":"arn:aws:ecs:us-east-1:123456789012:task/prod/x","Family":"web-fam","Revision":"7","ServiceName":"web-svc"}"#;

// -------------------------------------------------------- file helpers

const READY_FILE: &str = r#"{"Cluster":"arn:aws:ecs:eu-west-1:123456789012:cluster/prod","ContainerName":"web","TaskARN":"arn:aws:ecs:eu-west-1:123456789012:task/prod/x","TaskDefinitionFamily":"web-fam","MetadataFileStatus":"READY"}"#;

/// Replace the file in one step, as a reader must never see half of it.
fn write_atomic(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn temp_file(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecs-metadata.json");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn file_err(path: &Path, timeout: Duration) -> (String, Duration) {
    let start = Instant::now();
    let e = discover(Some(path), None, timeout)
        .await
        .expect_err("discovery should fail");
    (format!("{e:#}"), start.elapsed())
}

// --------------------------------------------------------------- file

#[tokio::test]
async fn file_ready_immediately() {
    let (_dir, path) = temp_file(READY_FILE.as_bytes());
    let start = Instant::now();
    let info = discover(Some(&path), None, secs(5)).await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_eq!(
        info,
        Some(EcsInfo {
            cluster: Some("prod".into()),
            container_name: Some("web".into()),
            family: Some("web-fam".into()),
            service_name: None,
            source: format!("metadata file {}", path.display()),
        })
    );
}

#[tokio::test]
async fn file_short_cluster_name_kept_as_is() {
    let (_dir, path) = temp_file(br#"{"Cluster":"staging","MetadataFileStatus":"READY"}"#);
    let info = discover(Some(&path), None, secs(5)).await.unwrap().unwrap();
    assert_eq!(info.cluster.as_deref(), Some("staging"));
    assert_eq!(info.container_name, None);
}

#[tokio::test]
async fn file_partial_then_ready_is_waited_for() {
    // Written incomplete first, as the agent does: a truncated JSON, then
    // complete JSON without a status, then READY.
    let (_dir, path) = temp_file(br#"{"Cluster":"arn:aws:ecs:eu-west-1:1:cluster/prod","Contai"#);
    let p = path.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(250));
        write_atomic(&p, br#"{"Cluster":"arn:aws:ecs:eu-west-1:1:cluster/prod"}"#);
        std::thread::sleep(Duration::from_millis(250));
        write_atomic(&p, READY_FILE.as_bytes());
    });
    let start = Instant::now();
    let info = discover(Some(&path), None, secs(5)).await.unwrap().unwrap();
    let took = start.elapsed();
    writer.join().unwrap();
    assert!(
        took >= Duration::from_millis(450),
        "returned too early: {took:?}"
    );
    assert!(took < secs(2), "took {took:?}");
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(info.container_name.as_deref(), Some("web"));
}

#[tokio::test]
async fn file_never_ready_fails_at_timeout_naming_file() {
    let (_dir, path) = temp_file(br#"{"Cluster":"prod","ContainerName":"web"}"#);
    let (msg, took) = file_err(&path, secs(1)).await;
    assert!(took >= secs(1), "gave up early: {took:?}");
    assert!(took < Duration::from_millis(1600), "took {took:?}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not READY after 1s"), "{msg}");
}

#[tokio::test]
async fn file_status_other_than_ready_keeps_polling() {
    let (_dir, path) = temp_file(br#"{"Cluster":"prod","MetadataFileStatus":"PENDING"}"#);
    let (msg, _) = file_err(&path, Duration::from_millis(300)).await;
    assert!(msg.contains("not READY after 300ms"), "{msg}");
}

#[tokio::test]
async fn file_malformed_json_that_stays_malformed() {
    let (_dir, path) = temp_file(br#"{"Cluster": "prod", "MetadataFileStatus": "READY""#);
    let (msg, took) = file_err(&path, Duration::from_millis(500)).await;
    assert!(took < Duration::from_millis(1100), "took {took:?}");
    assert!(
        msg.contains(&format!(
            "ECS metadata file {}: not valid JSON after 500ms",
            path.display()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn file_non_utf8_and_huge_files_do_not_panic() {
    let (_dir, path) = temp_file(b"\xff\xfe{\"Cluster\":\"\xc3\x28\"}");
    let (msg, _) = file_err(&path, Duration::from_millis(200)).await;
    assert!(msg.contains("not valid JSON"), "{msg}");

    let mut big = br#"{"MetadataFileStatus":"READY","Cluster":"prod","Pad":""#.to_vec();
    big.resize(2 * 1024 * 1024, b'a');
    big.extend_from_slice(b"\"}");
    let (_dir2, path) = temp_file(&big);
    let (msg, took) = file_err(&path, secs(5)).await;
    assert!(
        took < secs(1),
        "a too-large file is not worth waiting on: {took:?}"
    );
    assert!(msg.contains("larger than 1 MiB"), "{msg}");
}

#[tokio::test]
async fn file_ready_without_cluster_is_an_error() {
    let (_dir, path) = temp_file(br#"{"ContainerName":"web","MetadataFileStatus":"READY"}"#);
    let (msg, took) = file_err(&path, secs(5)).await;
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(
        msg,
        format!("ECS metadata file {}: missing Cluster", path.display())
    );
}

#[tokio::test]
async fn file_ready_with_wrong_types_is_an_error() {
    let (_dir, path) = temp_file(br#"{"Cluster":42,"MetadataFileStatus":"READY"}"#);
    let (msg, _) = file_err(&path, secs(5)).await;
    assert!(msg.ends_with("Cluster is not a string"), "{msg}");
}

#[tokio::test]
async fn file_that_appears_late_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.json");
    let p = path.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        write_atomic(&p, READY_FILE.as_bytes());
    });
    let start = Instant::now();
    let info = discover(Some(&path), None, secs(5)).await.unwrap().unwrap();
    writer.join().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(350));
    assert_eq!(info.cluster.as_deref(), Some("prod"));
}

#[tokio::test]
async fn file_that_never_appears_fails_at_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.json");
    let (msg, took) = file_err(&path, Duration::from_millis(300)).await;
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert_eq!(
        msg,
        format!(
            "ECS metadata file {}: does not exist after 300ms",
            path.display()
        )
    );
}

#[tokio::test]
async fn file_path_that_is_a_directory_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (msg, took) = file_err(dir.path(), secs(5)).await;
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(
        msg,
        format!(
            "ECS metadata file {}: not a regular file",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn file_under_a_non_directory_fails_at_once() {
    // ENOTDIR: the path can never appear, and is not "not found".
    let (_dir, file) = temp_file(b"{}");
    let path = file.join("child.json");
    let (msg, took) = file_err(&path, secs(5)).await;
    assert!(took < secs(1), "took {took:?}");
    assert!(msg.contains("cannot read"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

// ------------------------------------------------------------ endpoint

#[tokio::test]
async fn endpoint_happy_path() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(TASK_JSON)),
    ])
    .await;
    let info = discover(None, Some(&srv.uri()), secs(5)).await.unwrap();
    assert_eq!(
        info,
        Some(EcsInfo {
            cluster: Some("prod".into()),
            container_name: Some("web".into()),
            family: Some("web-fam".into()),
            service_name: Some("web-svc".into()),
            source: format!("metadata endpoint {}", srv.uri()),
        })
    );
    assert_eq!((srv.hits(BASE), srv.hits(TASK)), (1, 1));
}

#[tokio::test]
async fn endpoint_trailing_slash_is_tolerated() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(TASK_JSON)),
    ])
    .await;
    let uri = format!("{}/", srv.uri());
    let info = discover(None, Some(&uri), secs(5)).await.unwrap().unwrap();
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(srv.hits(TASK), 1);
}

#[tokio::test]
async fn endpoint_without_service_name() {
    let task = r#"{"Cluster":"prod","Family":"batch","Revision":"3"}"#;
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(task)),
    ])
    .await;
    let info = discover(None, Some(&srv.uri()), secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(info.family.as_deref(), Some("batch"));
    assert_eq!(info.service_name, None);
}

#[tokio::test]
async fn endpoint_task_without_cluster_uses_container_label() {
    let task = r#"{"Family":"web-fam"}"#;
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(task)),
    ])
    .await;
    let info = discover(None, Some(&srv.uri()), secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("from-label"));
    assert_eq!(info.container_name.as_deref(), Some("web"));
}

#[tokio::test]
async fn endpoint_without_any_cluster_is_an_error() {
    let srv = Server::start(&[
        (BASE, Route::json(r#"{"Name":"web","Labels":{}}"#)),
        (TASK, Route::json(r#"{"Family":"web-fam"}"#)),
    ])
    .await;
    let e = discover(None, Some(&srv.uri()), secs(5)).await.unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.starts_with(&format!(
            "ECS metadata endpoint {}: missing Cluster",
            srv.uri()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn endpoint_500_always_fails_after_bounded_retries() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::status(500)),
    ])
    .await;
    let start = Instant::now();
    let e = discover(None, Some(&srv.uri()), secs(10))
        .await
        .unwrap_err();
    assert!(start.elapsed() < secs(3), "took {:?}", start.elapsed());
    let msg = format!("{e:#}");
    assert_eq!(
        msg,
        format!(
            "ECS metadata endpoint {}/task: HTTP 500 after 3 attempts",
            srv.uri()
        )
    );
    assert_eq!(srv.hits(TASK), 3);
}

#[tokio::test]
async fn endpoint_500_twice_then_ok_succeeds() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON).fail_first(1)),
        (TASK, Route::json(TASK_JSON).fail_first(2)),
    ])
    .await;
    let info = discover(None, Some(&srv.uri()), secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(info.container_name.as_deref(), Some("web"));
    assert_eq!((srv.hits(BASE), srv.hits(TASK)), (2, 3));
}

#[tokio::test]
async fn endpoint_4xx_is_not_retried() {
    let srv = Server::start(&[(BASE, Route::status(404)), (TASK, Route::json(TASK_JSON))]).await;
    let e = discover(None, Some(&srv.uri()), secs(5)).await.unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        format!("ECS metadata endpoint {}: HTTP 404", srv.uri())
    );
    assert_eq!(srv.hits(BASE), 1);
}

#[tokio::test]
async fn endpoint_invalid_json_is_an_error() {
    let srv = Server::start(&[
        (BASE, Route::json("<html>")),
        (TASK, Route::json(TASK_JSON)),
    ])
    .await;
    let e = discover(None, Some(&srv.uri()), secs(5)).await.unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        format!("ECS metadata endpoint {}: not valid JSON", srv.uri())
    );
}

#[tokio::test]
async fn endpoint_slower_than_request_timeout_fails_within_overall_timeout() {
    // A 3 s answer would succeed without a per-request timeout (~2 s).
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(TASK_JSON).delay(secs(3))),
    ])
    .await;
    let start = Instant::now();
    let e = discover(None, Some(&srv.uri()), secs(10))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took < secs(9), "took {took:?}");
    let msg = format!("{e:#}");
    assert_eq!(
        msg,
        format!(
            "ECS metadata endpoint {}/task: timed out after 3 attempts",
            srv.uri()
        )
    );
    assert_eq!(srv.hits(TASK), 3);
}

#[tokio::test]
async fn endpoint_slow_answer_is_cut_at_overall_timeout() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(TASK_JSON).delay(secs(3))),
    ])
    .await;
    let start = Instant::now();
    let e = discover(None, Some(&srv.uri()), secs(1)).await.unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let msg = format!("{e:#}");
    assert!(msg.contains(&format!("{}/task", srv.uri())), "{msg}");
    assert!(msg.contains("no answer within 1s"), "{msg}");
}

#[tokio::test]
async fn endpoint_refusing_connections_fails_after_retries() {
    // Bind then drop: a port that refuses connections.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let uri = format!("http://{addr}{BASE}");
    let start = Instant::now();
    let e = discover(None, Some(&uri), secs(10)).await.unwrap_err();
    assert!(start.elapsed() < secs(3), "took {:?}", start.elapsed());
    let msg = format!("{e:#}");
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(msg.ends_with("after 3 attempts"), "{msg}");
}

#[tokio::test]
async fn endpoint_uri_must_be_http() {
    for bad in [
        "ftp://127.0.0.1/v4/x",
        "169.254.170.2/v4/x",
        "file:///etc/passwd",
    ] {
        let e = discover(None, Some(bad), secs(1)).await.unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("not an http(s) URL"), "{bad}: {msg}");
        assert!(msg.contains(bad), "{bad}: {msg}");
    }
}

// ------------------------------------------------------------ choosing

#[tokio::test]
async fn neither_file_nor_uri_is_none() {
    assert_eq!(discover(None, None, secs(1)).await.unwrap(), None);
}

#[tokio::test]
async fn file_takes_precedence_over_endpoint() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(TASK_JSON)),
    ])
    .await;
    let (_dir, path) =
        temp_file(br#"{"Cluster":"from-file","ContainerName":"c","MetadataFileStatus":"READY"}"#);
    let info = discover(Some(&path), Some(&srv.uri()), secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("from-file"));
    assert!(info.source.starts_with("metadata file "), "{}", info.source);
    assert_eq!(srv.hits(BASE) + srv.hits(TASK), 0);
}

#[tokio::test]
async fn broken_file_does_not_fall_back_to_endpoint() {
    let srv = Server::start(&[
        (BASE, Route::json(CONTAINER_JSON)),
        (TASK, Route::json(TASK_JSON)),
    ])
    .await;
    let (_dir, path) = temp_file(br#"{"MetadataFileStatus":"READY"}"#);
    let e = discover(Some(&path), Some(&srv.uri()), secs(5))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("missing Cluster"));
    assert_eq!(srv.hits(BASE) + srv.hits(TASK), 0);
}
