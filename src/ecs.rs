//! ECS discovery for the `ecs` layout: the cluster and container name from
//! the container metadata file (polled until READY) or task metadata
//! endpoint v4 (with timeouts and bounded retries), per docs/CONTRACT.md §2.
//!
//! A field the caller needs that ECS leaves missing or empty is an error
//! naming the source and the field: falling back to another name (the
//! working directory's) would silently read another app's parameters.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value};
use tokio::time::Instant;
use url::Url;

use crate::http;

/// How often the metadata file is re-read while the agent is writing it.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Metadata is a few KiB; anything bigger is not metadata, and is not read.
const MAX_BODY: usize = 1024 * 1024;
/// The endpoint is link-local and answers in milliseconds when healthy.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const ATTEMPTS: u32 = 3;
/// Redirects followed from the endpoint, and only to its own scheme, host
/// and port: an answer is never taken from another host.
const MAX_REDIRECTS: usize = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Task-level cluster tag on every container, used when the task answer lacks one.
const CLUSTER_LABEL: &str = "com.amazonaws.ecs.cluster";

/// What ECS told us about the running container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EcsInfo {
    /// Short name: text after the last '/' of an ARN.
    pub cluster: Option<String>,
    pub container_name: Option<String>,
    pub family: Option<String>,
    pub service_name: Option<String>,
    /// "metadata file /path" or "metadata endpoint http://...".
    pub source: String,
}

/// What the caller takes from the metadata besides the cluster, which is
/// always required (metadata without one is broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Need {
    /// No app was given (`--app`, `$SSMM_APP`): the container name is the
    /// app, so metadata without one is an error.
    pub container_name: bool,
}

/// Why the container name is required, for the message that says it is missing.
const NAME_NEEDED: &str = "the app name is taken from it when neither --app nor $SSMM_APP is given";

/// The order of docs/CONTRACT.md §2: metadata file (if `file` is Some) polled until
/// `MetadataFileStatus` == "READY", bounded by `timeout`; else endpoint v4
/// (if `uri` is Some): GET {uri} (container: Name) and GET {uri}/task
/// (Cluster, Family, ServiceName), concurrently, each with a per-request
/// timeout and bounded retries, overall bounded by `timeout`.
/// Neither given: Ok(None). Present but broken: Err naming the source.
/// A file that is given but broken is an error even when `uri` is also set:
/// falling back would silently pick a different source than the operator's.
/// A field in `need` that the source leaves missing or empty is an error too.
pub async fn discover(
    file: Option<&Path>,
    uri: Option<&str>,
    timeout: Duration,
    need: Need,
) -> anyhow::Result<Option<EcsInfo>> {
    if let Some(path) = file {
        return from_file(path, timeout, need).await.map(Some);
    }
    if let Some(uri) = uri {
        return from_endpoint(uri, timeout, need).await.map(Some);
    }
    Ok(None)
}

/// "arn:aws:ecs:us-east-1:123:cluster/prod" -> "prod"; "prod" -> "prod".
pub fn short_cluster_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

// ---------------------------------------------------------------- file

/// One look at the metadata file.
enum Look {
    Ready(Map<String, Value>),
    /// Not there yet; the text says in what state, for the timeout message.
    NotYet(&'static str),
}

async fn from_file(path: &Path, timeout: Duration, need: Need) -> anyhow::Result<EcsInfo> {
    let source = format!("metadata file {}", path.display());
    let deadline = deadline_after(timeout);
    loop {
        let state = match look_at_file(path) {
            Ok(Look::Ready(obj)) => {
                return file_info(&obj, need, source.clone())
                    .map_err(|m| anyhow!("ECS metadata file {}: {m}", path.display()));
            }
            Ok(Look::NotYet(state)) => state,
            Err(m) => bail!("ECS metadata file {}: {m}", path.display()),
        };
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "ECS metadata file {}: {state} after {}",
                path.display(),
                crate::units::format_duration(timeout)
            );
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

/// Reads are blocking std::fs on purpose: a stat plus a read of a small
/// local file, and tokio's `fs` feature is not enabled for one file.
fn look_at_file(path: &Path) -> Result<Look, String> {
    // stat before open: opening a FIFO would block, a directory is no file.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Look::NotYet("does not exist"));
        }
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let bytes = read_capped(path).map_err(|e| format!("cannot read: {e}"))?;
    let Some(bytes) = bytes else {
        return Err("larger than 1 MiB".into());
    };
    // The agent writes the file incomplete first: unparseable is "not yet".
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Look::NotYet("not valid JSON"));
    };
    let Value::Object(obj) = value else {
        return Ok(Look::NotYet("not a JSON object"));
    };
    match obj.get("MetadataFileStatus") {
        Some(Value::String(s)) if s == "READY" => Ok(Look::Ready(obj)),
        _ => Ok(Look::NotYet("not READY")),
    }
}

/// The whole file, or None when it is over the cap.
fn read_capped(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok((buf.len() <= MAX_BODY).then_some(buf))
}

/// Fields of a READY metadata file. It has no service name.
fn file_info(obj: &Map<String, Value>, need: Need, source: String) -> Result<EcsInfo, String> {
    let cluster = short_cluster_name(required_str(obj, "Cluster")?);
    if cluster.is_empty() {
        return Err("missing Cluster".into());
    }
    Ok(EcsInfo {
        cluster: Some(cluster.to_string()),
        container_name: name_field(obj, "ContainerName", need)?,
        family: opt_str(obj, "TaskDefinitionFamily")?,
        service_name: None,
        source,
    })
}

// ------------------------------------------------------------ endpoint

async fn from_endpoint(uri: &str, timeout: Duration, need: Need) -> anyhow::Result<EcsInfo> {
    let base = check_uri(uri)?;
    let deadline = deadline_after(timeout);
    let origin = Url::parse(base).context("ECS metadata endpoint: parsing the URL")?;
    let client = http::client(&http::Setup {
        connect_timeout: CONNECT_TIMEOUT,
        timeout: REQUEST_TIMEOUT,
        // The endpoint is link-local; an HTTP(S)_PROXY meant for AWS must not catch it.
        env_proxy: false,
    })
    .context("ECS metadata endpoint: building the HTTP client")?;
    let task_url = format!("{base}/task");
    let task = Url::parse(&task_url).context("ECS metadata endpoint: parsing the URL")?;
    let endpoint = Endpoint {
        client,
        origin,
        deadline,
        timeout,
    };
    let (container, task) = tokio::try_join!(
        endpoint.get_json(base, &endpoint.origin),
        endpoint.get_json(&task_url, &task),
    )?;
    endpoint_info(&container, &task, need, format!("metadata endpoint {base}"))
        .map_err(|m| anyhow!("ECS metadata endpoint {base}: {m}"))
}

/// The base URL without a trailing '/', so `{base}/task` is well formed.
fn check_uri(uri: &str) -> anyhow::Result<&str> {
    let base = uri.trim_end_matches('/');
    let ok = Url::parse(base)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false);
    if !ok {
        bail!(
            "ECS metadata endpoint {}: not an http(s) URL",
            crate::names::quoted(uri)
        );
    }
    Ok(base)
}

/// The endpoint's requests of one discovery.
struct Endpoint {
    client: http::Client,
    /// The base URL: redirects are followed only within its origin.
    origin: Url,
    deadline: Instant,
    /// The overall timeout, for the message when it is over.
    timeout: Duration,
}

/// Why one attempt failed, and whether another may help.
enum Failure {
    Retry(String),
    Fatal(String),
}

impl Endpoint {
    /// GET `target` (named `url` in messages, as given) as a JSON object,
    /// retrying connect errors, timeouts and 5xx a bounded number of times,
    /// never past the deadline.
    async fn get_json(&self, url: &str, target: &Url) -> anyhow::Result<Map<String, Value>> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = self.deadline.saturating_duration_since(Instant::now());
            // One timer over all hops and the body read: a slow body is as
            // stuck as a slow header.
            let bounds = http::Bounds {
                max_body: MAX_BODY as u64,
                timeout: REQUEST_TIMEOUT.min(left),
                max_redirects: MAX_REDIRECTS,
            };
            let got = http::get(&self.client, target.clone(), &bounds, |next, _| {
                self.same_origin(next)
            })
            .await;
            let what = match got.result.map_err(failure) {
                Ok(bytes) => {
                    return parse_object(&bytes)
                        .map_err(|m| anyhow!("ECS metadata endpoint {url}: {m}"));
                }
                Err(Failure::Fatal(m)) => bail!("ECS metadata endpoint {url}: {m}"),
                Err(Failure::Retry(m)) => m,
            };
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "ECS metadata endpoint {url}: {what}, no answer within {}",
                    crate::units::format_duration(self.timeout)
                );
            }
            if attempt >= ATTEMPTS {
                bail!("ECS metadata endpoint {url}: {what} after {attempt} attempts");
            }
            tokio::time::sleep(backoff.min(left)).await;
            backoff *= 2;
        }
    }

    /// A redirect is followed only to the endpoint's own scheme, host and
    /// port.
    fn same_origin(&self, next: &Url) -> Result<(), String> {
        let origin = &self.origin;
        if next.scheme() != origin.scheme()
            || next.host() != origin.host()
            || next.port_or_known_default() != origin.port_or_known_default()
        {
            return Err(format!(
                "redirects are followed only within {}",
                origin.origin().ascii_serialization()
            ));
        }
        Ok(())
    }
}

/// What a failed GET means here: a 5xx, a timeout or a transport error may
/// pass; anything else will not.
fn failure(f: http::Failure) -> Failure {
    use http::Failure as F;
    match f {
        F::Status(s) if s.is_server_error() => Failure::Retry(format!("HTTP {}", s.as_u16())),
        // A redirect whose Location is no URL is an answer like any other 3xx.
        F::Status(s) | F::BadLocation(s) => Failure::Fatal(format!("HTTP {}", s.as_u16())),
        F::TooLarge => Failure::Fatal("answer larger than 1 MiB".into()),
        // Asking again gets the same redirect.
        F::Refused(why) => Failure::Fatal(why),
        F::TimedOut => Failure::Retry("timed out".into()),
        // The root cause is what helps; the URL is in the message already.
        F::Transport(t) if t.connect => Failure::Retry(format!("cannot connect ({})", t.root)),
        // Resets and truncated bodies: as transient as a refused connection.
        F::Transport(t) => Failure::Retry(format!("request failed ({})", t.root)),
    }
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err("not a JSON object".into()),
        Err(_) => Err("not valid JSON".into()),
    }
}

/// Fields from the container (`{uri}`) and task (`{uri}/task`) answers.
/// An empty task `Cluster` falls back to the label as a missing one does.
fn endpoint_info(
    container: &Map<String, Value>,
    task: &Map<String, Value>,
    need: Need,
    source: String,
) -> Result<EcsInfo, String> {
    let cluster = match cluster_field(task, "Cluster")? {
        Some(c) => c,
        None => match container.get("Labels") {
            Some(Value::Object(labels)) => cluster_field(labels, CLUSTER_LABEL)?,
            _ => None,
        }
        .ok_or_else(|| {
            let task_cluster = match str_field(task, "Cluster") {
                Ok(Some(_)) => "empty Cluster (task) and no",
                _ => "missing Cluster (task) and",
            };
            format!("{task_cluster} label {CLUSTER_LABEL} (container)")
        })?,
    };
    Ok(EcsInfo {
        cluster: Some(cluster),
        container_name: name_field(container, "Name", need)?,
        family: opt_str(task, "Family")?,
        service_name: opt_str(task, "ServiceName")?,
        source,
    })
}

// -------------------------------------------------------------- shared

/// A string field as given; absent or null is None, any other type an error.
fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

/// An optional string field; empty is the same as absent.
fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    Ok(str_field(obj, key)?
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// A string field ssmm cannot do without: absent and empty are errors.
fn required_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match str_field(obj, key)? {
        None => Err(format!("missing {key}")),
        Some("") => Err(format!("{key} is empty")),
        Some(s) => Ok(s),
    }
}

/// The container name under `key`: required when `need` says so.
fn name_field(obj: &Map<String, Value>, key: &str, need: Need) -> Result<Option<String>, String> {
    match str_field(obj, key)? {
        Some(s) if !s.is_empty() => Ok(Some(s.to_string())),
        _ if !need.container_name => Ok(None),
        None => Err(format!("missing {key} ({NAME_NEEDED})")),
        Some(_) => Err(format!("{key} is empty ({NAME_NEEDED})")),
    }
}

/// A cluster field as its short name; an ARN ending in '/' counts as missing.
fn cluster_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    Ok(opt_str(obj, key)?
        .map(|c| short_cluster_name(&c).to_string())
        .filter(|c| !c.is_empty()))
}

/// `now + timeout`, saturating: an absurd timeout must not panic.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Nothing needed beyond the cluster (an app was given).
    const ANY: Need = Need {
        container_name: false,
    };
    const NAME: Need = Need {
        container_name: true,
    };

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("test input must be an object"),
        }
    }

    #[test]
    fn short_cluster_name_takes_text_after_last_slash() {
        assert_eq!(
            short_cluster_name("arn:aws:ecs:us-east-1:123:cluster/prod"),
            "prod"
        );
        assert_eq!(short_cluster_name("prod"), "prod");
        assert_eq!(short_cluster_name(""), "");
        assert_eq!(short_cluster_name("a/b/c"), "c");
        assert_eq!(short_cluster_name("arn:x:cluster/"), "");
    }

    #[test]
    fn file_fields_are_extracted() {
        let m = obj(json!({
            "Cluster": "arn:aws:ecs:eu-west-1:1:cluster/prod",
            "ContainerName": "web",
            "TaskARN": "arn:aws:ecs:eu-west-1:1:task/prod/abc",
            "TaskDefinitionFamily": "web-fam",
            "MetadataFileStatus": "READY"
        }));
        let info = file_info(&m, ANY, "src".into()).unwrap();
        assert_eq!(
            info,
            EcsInfo {
                cluster: Some("prod".into()),
                container_name: Some("web".into()),
                family: Some("web-fam".into()),
                service_name: None,
                source: "src".into(),
            }
        );
    }

    #[test]
    fn file_without_cluster_or_with_wrong_types_is_an_error() {
        let e = file_info(&obj(json!({"ContainerName": "web"})), ANY, "s".into()).unwrap_err();
        assert_eq!(e, "missing Cluster");
        let e = file_info(&obj(json!({"Cluster": "arn:x:cluster/"})), ANY, "s".into()).unwrap_err();
        assert_eq!(e, "missing Cluster");
        let e = file_info(&obj(json!({"Cluster": 5})), ANY, "s".into()).unwrap_err();
        assert_eq!(e, "Cluster is not a string");
        let e = file_info(
            &obj(json!({"Cluster": "c", "ContainerName": ["x"]})),
            ANY,
            "s".into(),
        )
        .unwrap_err();
        assert_eq!(e, "ContainerName is not a string");
    }

    #[test]
    fn endpoint_fields_are_extracted() {
        let c = obj(json!({"Name": "web", "Labels": {CLUSTER_LABEL: "ignored"}}));
        let t = obj(json!({
            "Cluster": "arn:aws:ecs:us-east-1:123:cluster/prod",
            "Family": "fam", "Revision": "7", "ServiceName": "svc"
        }));
        let info = endpoint_info(&c, &t, ANY, "e".into()).unwrap();
        assert_eq!(info.cluster.as_deref(), Some("prod"));
        assert_eq!(info.container_name.as_deref(), Some("web"));
        assert_eq!(info.family.as_deref(), Some("fam"));
        assert_eq!(info.service_name.as_deref(), Some("svc"));
    }

    #[test]
    fn endpoint_cluster_falls_back_to_label_then_errors() {
        let c = obj(json!({"Name": "web", "Labels": {CLUSTER_LABEL: "arn:a:cluster/lab"}}));
        let t = obj(json!({"Family": "fam"}));
        let info = endpoint_info(&c, &t, ANY, "e".into()).unwrap();
        assert_eq!(info.cluster.as_deref(), Some("lab"));
        assert_eq!(info.service_name, None);

        let c = obj(json!({"Name": "web", "Labels": "not an object"}));
        let e = endpoint_info(&c, &t, ANY, "e".into()).unwrap_err();
        assert!(e.contains("missing Cluster"), "{e}");
        let e = endpoint_info(
            &obj(json!({})),
            &obj(json!({"Cluster": {}})),
            ANY,
            "e".into(),
        )
        .unwrap_err();
        assert_eq!(e, "Cluster is not a string");
    }

    #[test]
    fn missing_or_empty_container_name_is_an_error_only_when_needed() {
        // Regression: a READY file with a Cluster and no ContainerName (or an
        // endpoint answering "Name": "") made ssmm take the working
        // directory's name as the app, silently.
        for (m, want) in [
            (json!({"Cluster": "prod"}), "missing ContainerName"),
            (
                json!({"Cluster": "prod", "ContainerName": null}),
                "missing ContainerName",
            ),
            (
                json!({"Cluster": "prod", "ContainerName": ""}),
                "ContainerName is empty",
            ),
        ] {
            let m = obj(m);
            let e = file_info(&m, NAME, "s".into()).unwrap_err();
            assert_eq!(e, format!("{want} ({NAME_NEEDED})"));
            assert_eq!(file_info(&m, ANY, "s".into()).unwrap().container_name, None);
        }
        let m = obj(json!({"Cluster": "prod", "ContainerName": "web"}));
        let info = file_info(&m, NAME, "s".into()).unwrap();
        assert_eq!(info.container_name.as_deref(), Some("web"));
        let e = file_info(
            &obj(json!({"Cluster": "c", "ContainerName": 1})),
            NAME,
            "s".into(),
        )
        .unwrap_err();
        assert_eq!(e, "ContainerName is not a string");

        let t = obj(json!({"Cluster": "prod"}));
        for (c, want) in [
            (json!({}), "missing Name"),
            (json!({"Name": ""}), "Name is empty"),
        ] {
            let c = obj(c);
            let e = endpoint_info(&c, &t, NAME, "e".into()).unwrap_err();
            assert_eq!(e, format!("{want} ({NAME_NEEDED})"));
            let info = endpoint_info(&c, &t, ANY, "e".into()).unwrap();
            assert_eq!(info.container_name, None);
        }
    }

    #[test]
    fn empty_cluster_is_an_error() {
        let e = file_info(
            &obj(json!({"Cluster": "", "ContainerName": "web"})),
            ANY,
            "s".into(),
        )
        .unwrap_err();
        assert_eq!(e, "Cluster is empty");
        let c = obj(json!({"Name": "web"}));
        let e = endpoint_info(&c, &obj(json!({"Cluster": ""})), ANY, "e".into()).unwrap_err();
        assert_eq!(
            e,
            format!("empty Cluster (task) and no label {CLUSTER_LABEL} (container)")
        );
        // An empty task Cluster falls back to the label, as a missing one does.
        let c = obj(json!({"Name": "web", "Labels": {CLUSTER_LABEL: "lab"}}));
        let info = endpoint_info(&c, &obj(json!({"Cluster": ""})), ANY, "e".into()).unwrap();
        assert_eq!(info.cluster.as_deref(), Some("lab"));
    }

    #[test]
    fn parse_object_rejects_non_objects_and_bad_bytes() {
        assert!(parse_object(b"{\"a\":1}").is_ok());
        assert_eq!(parse_object(b"[1]").unwrap_err(), "not a JSON object");
        assert_eq!(parse_object(b"\xff\xfe{").unwrap_err(), "not valid JSON");
        assert_eq!(parse_object(b"").unwrap_err(), "not valid JSON");
    }

    #[test]
    fn uri_must_be_http_or_https() {
        assert_eq!(
            check_uri("http://169.254.170.2/v4/x/").unwrap(),
            "http://169.254.170.2/v4/x"
        );
        assert!(check_uri("https://h/v4").is_ok());
        for bad in [
            "ftp://h/x",
            "file:///etc/passwd",
            "169.254.170.2/v4",
            "",
            "http://",
        ] {
            let e = check_uri(bad).unwrap_err().to_string();
            assert!(e.contains("not an http(s) URL"), "{bad}: {e}");
        }
    }

    #[test]
    fn huge_timeouts_do_not_overflow() {
        assert!(deadline_after(Duration::MAX) > Instant::now());
    }
}
