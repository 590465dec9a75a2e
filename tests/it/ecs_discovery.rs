//! ECS discovery against real metadata files and a real local HTTP server
//! standing in for task metadata endpoint v4; at the end, the same through
//! the real binary, for what a command does with what discovery found.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::http::{Reply, Server};
use crate::support::{Ssmm, moto, unique_prefix};
use ssmm::ecs::{EcsInfo, Need, discover};
use tokio::net::TcpListener;

/// Nothing needed beyond the cluster: an app was given.
const ANY: Need = Need {
    container_name: false,
};
/// No app given: the container name is the app.
const NAME: Need = Need {
    container_name: true,
};

// ------------------------------------------------------- test server

const BASE: &str = "/v4/abc-123";
const TASK: &str = "/v4/abc-123/task";

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
    file_err_needing(path, timeout, ANY).await
}

async fn file_err_needing(path: &Path, timeout: Duration, need: Need) -> (String, Duration) {
    let start = Instant::now();
    let e = discover(Some(path), None, timeout, need)
        .await
        .expect_err("discovery should fail");
    (format!("{e:#}"), start.elapsed())
}

// --------------------------------------------------------------- file

#[tokio::test]
async fn file_ready_immediately() {
    let (_dir, path) = temp_file(READY_FILE.as_bytes());
    let start = Instant::now();
    let info = discover(Some(&path), None, secs(5), ANY).await.unwrap();
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
    let info = discover(Some(&path), None, secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
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
    let info = discover(Some(&path), None, secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
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

/// Regression: a READY file with a Cluster and no ContainerName (or an empty
/// one) gave no container name, and ssmm took the working directory's name
/// as the app, silently.
#[tokio::test]
async fn file_ready_without_container_name_is_an_error_when_no_app_is_given() {
    for (content, why) in [
        (
            r#"{"Cluster":"prod","MetadataFileStatus":"READY"}"#,
            "missing ContainerName",
        ),
        (
            r#"{"Cluster":"prod","ContainerName":"","MetadataFileStatus":"READY"}"#,
            "ContainerName is empty",
        ),
    ] {
        let (_dir, path) = temp_file(content.as_bytes());
        let (msg, took) = file_err_needing(&path, secs(5), NAME).await;
        assert!(took < secs(1), "took {took:?}");
        assert_eq!(
            msg,
            format!(
                "ECS metadata file {}: {why} (the app name is taken from it when neither --app nor $SSMM_APP is given)",
                path.display()
            )
        );
        // With an app given, the container name is not needed.
        let info = discover(Some(&path), None, secs(5), ANY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.container_name, None);
    }
}

#[tokio::test]
async fn file_ready_with_empty_cluster_is_an_error() {
    let (_dir, path) =
        temp_file(br#"{"Cluster":"","ContainerName":"web","MetadataFileStatus":"READY"}"#);
    let (msg, _) = file_err(&path, secs(5)).await;
    assert_eq!(
        msg,
        format!("ECS metadata file {}: Cluster is empty", path.display())
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
    let info = discover(Some(&path), None, secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
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
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON)),
    ]);
    let info = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap();
    assert_eq!(
        info,
        Some(EcsInfo {
            cluster: Some("prod".into()),
            container_name: Some("web".into()),
            family: Some("web-fam".into()),
            service_name: Some("web-svc".into()),
            source: format!("metadata endpoint {}", srv.url(BASE)),
        })
    );
    assert_eq!((srv.hits(BASE), srv.hits(TASK)), (1, 1));
}

#[tokio::test]
async fn endpoint_trailing_slash_is_tolerated() {
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON)),
    ]);
    let uri = format!("{}/", srv.url(BASE));
    let info = discover(None, Some(&uri), secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(srv.hits(TASK), 1);
}

#[tokio::test]
async fn endpoint_without_service_name() {
    let task = r#"{"Cluster":"prod","Family":"batch","Revision":"3"}"#;
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(task)),
    ]);
    let info = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
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
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(task)),
    ]);
    let info = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("from-label"));
    assert_eq!(info.container_name.as_deref(), Some("web"));
}

#[tokio::test]
async fn endpoint_without_any_cluster_is_an_error() {
    let srv = Server::routes(&[
        (BASE, Reply::json(r#"{"Name":"web","Labels":{}}"#)),
        (TASK, Reply::json(r#"{"Family":"web-fam"}"#)),
    ]);
    let e = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.starts_with(&format!(
            "ECS metadata endpoint {}: missing Cluster",
            srv.url(BASE)
        )),
        "{msg}"
    );
}

/// Regression: an endpoint answering `"Name": ""` (or no Name) for the
/// container made ssmm take the working directory's name as the app.
#[tokio::test]
async fn endpoint_without_container_name_is_an_error_when_no_app_is_given() {
    for (container, why) in [
        (r#"{"DockerId":"d1"}"#, "missing Name"),
        (r#"{"Name":"","DockerId":"d1"}"#, "Name is empty"),
    ] {
        let srv = Server::routes(&[
            (BASE, Reply::json(container)),
            (TASK, Reply::json(TASK_JSON)),
        ]);
        let e = discover(None, Some(&srv.url(BASE)), secs(5), NAME)
            .await
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "ECS metadata endpoint {}: {why} (the app name is taken from it when neither --app nor $SSMM_APP is given)",
                srv.url(BASE)
            )
        );
        let info = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.container_name, None);
        assert_eq!(info.cluster.as_deref(), Some("prod"));
    }
}

#[tokio::test]
async fn endpoint_with_empty_cluster_and_no_label_is_an_error() {
    let srv = Server::routes(&[
        (BASE, Reply::json(r#"{"Name":"web","Labels":{}}"#)),
        (TASK, Reply::json(r#"{"Cluster":"","Family":"web-fam"}"#)),
    ]);
    let e = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        format!(
            "ECS metadata endpoint {}: empty Cluster (task) and no label com.amazonaws.ecs.cluster (container)",
            srv.url(BASE)
        )
    );
}

/// Regression: the endpoint client followed up to 10 redirects to any host,
/// so an answer could come from anywhere.
#[tokio::test]
async fn endpoint_redirect_to_another_host_or_port_is_refused() {
    // Each would answer well, were it asked: on another host, another port.
    let routes = [
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON)),
    ];
    let other_host = Server::routes_on([127, 0, 0, 2].into(), &routes);
    let other_port = Server::routes(&routes);
    for target in [&other_host, &other_port] {
        let srv = Server::routes(&[
            (BASE, Reply::redirect(307, &target.url(BASE))),
            (
                TASK,
                Reply::redirect(307, &format!("{}/task", target.url(BASE))),
            ),
        ]);
        let start = Instant::now();
        let e = discover(None, Some(&srv.url(BASE)), secs(10), NAME)
            .await
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(start.elapsed() < secs(2), "took {:?}", start.elapsed());
        assert!(
            msg.starts_with(&format!("ECS metadata endpoint {}", srv.url(BASE))),
            "{msg}"
        );
        // The container or the task request, whichever failed first.
        assert!(
            msg.contains(&format!(": redirect to {}", target.url(BASE))),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!(
                " refused: redirects are followed only within http://{}",
                srv.addr()
            )),
            "{msg}"
        );
        assert_eq!(target.total_hits(), 0, "the other server was asked");
        // Not retried: asking again gets the same redirect.
        assert!(srv.hits(BASE) <= 1 && srv.hits(TASK) <= 1, "retried");
    }
}

#[tokio::test]
async fn endpoint_redirect_within_the_endpoint_is_followed_a_few_times() {
    let srv = Server::routes(&[
        (BASE, Reply::redirect(307, "/v4/moved")),
        ("/v4/moved", Reply::json(CONTAINER_JSON)),
        (TASK, Reply::redirect(307, "/v4/moved/task")),
        ("/v4/moved/task", Reply::json(TASK_JSON)),
    ]);
    let info = discover(None, Some(&srv.url(BASE)), secs(5), NAME)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(info.container_name.as_deref(), Some("web"));
    assert_eq!((srv.hits("/v4/moved"), srv.hits("/v4/moved/task")), (1, 1));

    let looping = Server::routes(&[
        (BASE, Reply::redirect(307, BASE)),
        (TASK, Reply::redirect(307, TASK)),
    ]);
    let e = discover(None, Some(&looping.url(BASE)), secs(5), ANY)
        .await
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.ends_with("refused: more than 3 redirects"), "{msg}");
}

#[tokio::test]
async fn endpoint_500_always_fails_after_bounded_retries() {
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::status(500)),
    ]);
    let start = Instant::now();
    let e = discover(None, Some(&srv.url(BASE)), secs(10), ANY)
        .await
        .unwrap_err();
    assert!(start.elapsed() < secs(3), "took {:?}", start.elapsed());
    let msg = format!("{e:#}");
    assert_eq!(
        msg,
        format!(
            "ECS metadata endpoint {}/task: HTTP 500 after 3 attempts",
            srv.url(BASE)
        )
    );
    assert_eq!(srv.hits(TASK), 3);
}

#[tokio::test]
async fn endpoint_500_twice_then_ok_succeeds() {
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON).fail_first(1)),
        (TASK, Reply::json(TASK_JSON).fail_first(2)),
    ]);
    let info = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("prod"));
    assert_eq!(info.container_name.as_deref(), Some("web"));
    assert_eq!((srv.hits(BASE), srv.hits(TASK)), (2, 3));
}

#[tokio::test]
async fn endpoint_4xx_is_not_retried() {
    let srv = Server::routes(&[(BASE, Reply::status(404)), (TASK, Reply::json(TASK_JSON))]);
    let e = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        format!("ECS metadata endpoint {}: HTTP 404", srv.url(BASE))
    );
    assert_eq!(srv.hits(BASE), 1);
}

#[tokio::test]
async fn endpoint_invalid_json_is_an_error() {
    let srv = Server::routes(&[
        (BASE, Reply::json("<html>")),
        (TASK, Reply::json(TASK_JSON)),
    ]);
    let e = discover(None, Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        format!("ECS metadata endpoint {}: not valid JSON", srv.url(BASE))
    );
}

#[tokio::test]
async fn endpoint_slower_than_request_timeout_fails_within_overall_timeout() {
    // A 3 s answer would succeed without a per-request timeout (~2 s).
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON).delay(secs(3))),
    ]);
    let start = Instant::now();
    let e = discover(None, Some(&srv.url(BASE)), secs(10), ANY)
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took < secs(9), "took {took:?}");
    let msg = format!("{e:#}");
    assert_eq!(
        msg,
        format!(
            "ECS metadata endpoint {}/task: timed out after 3 attempts",
            srv.url(BASE)
        )
    );
    assert_eq!(srv.hits(TASK), 3);
}

#[tokio::test]
async fn endpoint_slow_answer_is_cut_at_overall_timeout() {
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON).delay(secs(3))),
    ]);
    let start = Instant::now();
    let e = discover(None, Some(&srv.url(BASE)), secs(1), ANY)
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let msg = format!("{e:#}");
    assert!(msg.contains(&format!("{}/task", srv.url(BASE))), "{msg}");
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
    let e = discover(None, Some(&uri), secs(10), ANY).await.unwrap_err();
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
        let e = discover(None, Some(bad), secs(1), ANY).await.unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("not an http(s) URL"), "{bad}: {msg}");
        assert!(msg.contains(bad), "{bad}: {msg}");
    }
}

// ------------------------------------------------------------ choosing

#[tokio::test]
async fn neither_file_nor_uri_is_none() {
    assert_eq!(discover(None, None, secs(1), ANY).await.unwrap(), None);
}

#[tokio::test]
async fn file_takes_precedence_over_endpoint() {
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON)),
    ]);
    let (_dir, path) =
        temp_file(br#"{"Cluster":"from-file","ContainerName":"c","MetadataFileStatus":"READY"}"#);
    let info = discover(Some(&path), Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.cluster.as_deref(), Some("from-file"));
    assert!(info.source.starts_with("metadata file "), "{}", info.source);
    assert_eq!(srv.hits(BASE) + srv.hits(TASK), 0);
}

#[tokio::test]
async fn broken_file_does_not_fall_back_to_endpoint() {
    let srv = Server::routes(&[
        (BASE, Reply::json(CONTAINER_JSON)),
        (TASK, Reply::json(TASK_JSON)),
    ]);
    let (_dir, path) = temp_file(br#"{"MetadataFileStatus":"READY"}"#);
    let e = discover(Some(&path), Some(&srv.url(BASE)), secs(5), ANY)
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("missing Cluster"));
    assert_eq!(srv.hits(BASE) + srv.hits(TASK), 0);
}

// ------------------------------------------------- through the binary

/// Why the container name is needed, as the message ends.
const NAME_NEEDED: &str =
    "(the app name is taken from it when neither --app nor $SSMM_APP is given)";

/// A working directory named `webdir`, whose app would be `webdir` if ssmm
/// fell back to the directory's name; that app's parameters are seeded in
/// both layouts, so such a fall back would succeed and write them.
struct Site {
    _base: tempfile::TempDir,
    dir: PathBuf,
    prefix: String,
    cluster: String,
}

impl Site {
    fn new() -> Site {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("webdir");
        fs::create_dir(&dir).unwrap();
        let prefix = unique_prefix();
        let cluster = format!("c{}", &unique_prefix()[2..]);
        let m = moto();
        m.put(&format!("{prefix}/webdir/from-dir"), "1");
        m.put(&format!("/{cluster}/webdir/environment/from-dir"), "1");
        m.put(&format!("{prefix}/web/from-app"), "1");
        m.put(&format!("/{cluster}/web/environment/from-app"), "1");
        Site {
            _base: base,
            dir,
            prefix,
            cluster,
        }
    }

    /// The global arguments of a layout: `--prefix P` or `--layout ecs`.
    fn layout_args(&self, layout: &str) -> Vec<String> {
        match layout {
            "team" => vec!["--prefix".into(), self.prefix.clone()],
            _ => vec!["--layout".into(), "ecs".into()],
        }
    }

    /// A READY metadata file for this site's cluster with `extra` fields.
    fn metadata_file(&self, name: &str, extra: &str) -> PathBuf {
        let path = self._base.path().join(name);
        let cluster = format!(
            "arn:aws:ecs:us-east-1:123456789012:cluster/{}",
            self.cluster
        );
        fs::write(
            &path,
            format!(r#"{{"Cluster":"{cluster}",{extra}"MetadataFileStatus":"READY"}}"#),
        )
        .unwrap();
        path
    }

    fn ssmm(&self, layout: &str, var: &str, value: &Path) -> Ssmm {
        Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(&self.dir)
            .env(var, value)
            .args(self.layout_args(layout))
    }

    /// `sync` and `exec` both refuse with `msg` (the whole first line), exit
    /// 1, writing nothing and starting nothing.
    fn refused(&self, layout: &str, var: &str, value: &Path, msg: &str) {
        let out = self.ssmm(layout, var, value).arg("sync").run();
        out.code(1);
        assert_eq!(out.stderr.lines().next(), Some(msg), "{layout}\n{out}");
        let marker = self.dir.join("started");
        let out = self
            .ssmm(layout, var, value)
            .args(["exec", "--", "touch"])
            .arg(&marker)
            .run();
        out.code(1);
        assert_eq!(out.stderr.lines().next(), Some(msg), "{layout}\n{out}");
        let left: Vec<_> = fs::read_dir(&self.dir).unwrap().flatten().collect();
        assert!(left.is_empty(), "{layout}: wrote or started {left:?}");
    }
}

/// Regression: a READY metadata file with a Cluster and no ContainerName
/// made `sync` and `exec` use the working directory's name as the app, exit
/// 0 and say nothing (both layouts take the app from the container name).
#[test]
fn metadata_file_without_container_name_is_an_error_not_the_directory_name() {
    let site = Site::new();
    for (extra, why) in [
        ("", "missing ContainerName"),
        (r#""ContainerName":"","#, "ContainerName is empty"),
    ] {
        let meta = site.metadata_file("meta.json", extra);
        let msg = format!(
            "ssmm: error: ECS metadata file {}: {why} {NAME_NEEDED}",
            meta.display()
        );
        for layout in ["team", "ecs"] {
            site.refused(layout, "ECS_CONTAINER_METADATA_FILE", &meta, &msg);
        }
    }
}

/// Regression: the same through endpoint v4, answering `"Name": ""` or no
/// Name for the container.
#[test]
fn metadata_endpoint_without_container_name_is_an_error_not_the_directory_name() {
    let site = Site::new();
    let task = format!(r#"{{"Cluster":"{}","Family":"web"}}"#, site.cluster);
    for (container, why) in [
        (r#"{"DockerId":"d1"}"#, "missing Name"),
        (r#"{"Name":"","DockerId":"d1"}"#, "Name is empty"),
    ] {
        let srv = Server::routes(&[(BASE, Reply::json(container)), (TASK, Reply::json(&task))]);
        let uri = PathBuf::from(srv.url(BASE));
        let msg = format!(
            "ssmm: error: ECS metadata endpoint {}: {why} {NAME_NEEDED}",
            srv.url(BASE)
        );
        for layout in ["team", "ecs"] {
            site.refused(layout, "ECS_CONTAINER_METADATA_URI_V4", &uri, &msg);
        }
    }
}

#[test]
fn empty_cluster_in_metadata_is_an_error() {
    let site = Site::new();
    let meta = site._base.path().join("meta.json");
    fs::write(
        &meta,
        r#"{"Cluster":"","ContainerName":"web","MetadataFileStatus":"READY"}"#,
    )
    .unwrap();
    let msg = format!(
        "ssmm: error: ECS metadata file {}: Cluster is empty",
        meta.display()
    );
    site.refused("ecs", "ECS_CONTAINER_METADATA_FILE", &meta, &msg);

    let srv = Server::routes(&[
        (BASE, Reply::json(r#"{"Name":"web","Labels":{}}"#)),
        (TASK, Reply::json(r#"{"Cluster":"","Family":"web"}"#)),
    ]);
    let msg = format!(
        "ssmm: error: ECS metadata endpoint {}: empty Cluster (task) and no label com.amazonaws.ecs.cluster (container)",
        srv.url(BASE)
    );
    let uri = PathBuf::from(srv.url(BASE));
    site.refused("ecs", "ECS_CONTAINER_METADATA_URI_V4", &uri, &msg);
}

/// With `--app` or `$SSMM_APP`, the container name is not needed: metadata
/// without one is fine, and the cluster still comes from it.
#[test]
fn metadata_without_container_name_is_fine_when_the_app_is_given() {
    let site = Site::new();
    let meta = site.metadata_file("meta.json", "");
    let task = format!(r#"{{"Cluster":"{}"}}"#, site.cluster);
    let srv = Server::routes(&[
        (BASE, Reply::json(r#"{"Name":""}"#)),
        (TASK, Reply::json(&task)),
    ]);
    let uri = PathBuf::from(srv.url(BASE));
    for (var, value) in [
        ("ECS_CONTAINER_METADATA_FILE", &meta),
        ("ECS_CONTAINER_METADATA_URI_V4", &uri),
    ] {
        for layout in ["team", "ecs"] {
            let by_env = site.ssmm(layout, var, value).env("SSMM_APP", "web");
            let by_flag = site.ssmm(layout, var, value).args(["--app", "web"]);
            for cmd in [by_env, by_flag] {
                let env_file = site.dir.join(".env");
                cmd.args(["sync", "--no-shared"]).run().success();
                assert_eq!(
                    fs::read_to_string(&env_file).unwrap(),
                    "FROM_APP=\"1\"\n",
                    "{layout} {var}"
                );
                fs::remove_file(&env_file).unwrap();
            }
        }
    }
}

/// The endpoint is link-local: an `HTTP_PROXY` (or `ALL_PROXY`) meant for
/// other traffic never sees its requests, `NO_PROXY` or not. moto
/// (127.0.0.1) is in `NO_PROXY`; the endpoint is on 127.0.0.2.
#[test]
fn metadata_endpoint_ignores_proxies_from_the_environment() {
    let site = Site::new();
    let task = format!(r#"{{"Cluster":"{}"}}"#, site.cluster);
    let srv = Server::routes_on(
        [127, 0, 0, 2].into(),
        &[
            (BASE, Reply::json(CONTAINER_JSON)),
            (TASK, Reply::json(&task)),
        ],
    );
    let proxy = Server::start(|_| Reply::new(502, "not for the endpoint"));
    let uri = PathBuf::from(srv.url(BASE));
    for var in ["HTTP_PROXY", "ALL_PROXY"] {
        let env_file = site.dir.join(".env");
        site.ssmm("ecs", "ECS_CONTAINER_METADATA_URI_V4", &uri)
            .env(var, proxy.base())
            .env("NO_PROXY", "127.0.0.1")
            .args(["sync", "--no-shared"])
            .run()
            .success();
        assert_eq!(
            fs::read_to_string(&env_file).unwrap(),
            "FROM_APP=\"1\"\n",
            "{var}"
        );
        fs::remove_file(&env_file).unwrap();
    }
    assert_eq!(proxy.total_hits(), 0);
    assert_eq!((srv.hits(BASE), srv.hits(TASK)), (2, 2));
}

/// Regression: endpoint v4's answers were followed through up to 10
/// redirects to any host. A redirect off the endpoint is refused, exit 1,
/// and the other host is never asked.
#[test]
fn metadata_endpoint_redirect_to_another_host_is_refused() {
    let site = Site::new();
    let task = format!(r#"{{"Cluster":"{}"}}"#, site.cluster);
    let other = Server::routes_on(
        [127, 0, 0, 2].into(),
        &[
            (BASE, Reply::json(CONTAINER_JSON)),
            (TASK, Reply::json(&task)),
        ],
    );
    let srv = Server::routes(&[
        (BASE, Reply::redirect(307, &other.url(BASE))),
        (
            TASK,
            Reply::redirect(307, &format!("{}/task", other.url(BASE))),
        ),
    ]);
    for layout in ["team", "ecs"] {
        let out = site
            .ssmm(
                layout,
                "ECS_CONTAINER_METADATA_URI_V4",
                Path::new(&srv.url(BASE)),
            )
            .arg("sync")
            .run();
        out.code(1)
            .stderr_contains(&format!(
                "ssmm: error: ECS metadata endpoint {}",
                srv.url(BASE)
            ))
            .stderr_contains(&format!(": redirect to {}", other.url(BASE)))
            .stderr_contains(&format!(
                " refused: redirects are followed only within http://{}",
                srv.addr()
            ));
        assert_eq!(other.total_hits(), 0, "{layout}: the other host was asked");
        assert!(!site.dir.join(".env").exists(), "{layout}");
    }
}
