//! One moto SSM emulator per test process, plus synchronous seeding helpers
//! built on the real aws-sdk-ssm client.
//!
//! Tests share the server and stay apart through `unique_prefix()`
//! namespaces, never through resets: a reset would wipe the parameters of
//! tests running in parallel.

use std::fs;
use std::future::Future;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::{BehaviorVersion, Builder, Credentials, Region};
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};

use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};

use super::mix64;

/// The moto release the harness is written against (see the README's notes on moto for
/// how it differs from AWS).
pub const MOTO_VERSION: &str = "5.2.5";

/// How many PutParameter calls `put_many` keeps in flight: moto serves each
/// connection on its own thread, and more than this gains nothing on 2 cores.
const PUT_CONCURRENCY: usize = 8;

const SERVER_SCRIPT: &str = include_str!("moto_server.py");

/// A running moto server. Obtain it with [`moto()`].
pub struct Moto {
    endpoint: String,
    client: Client,
    stderr: Arc<Mutex<Vec<u8>>>,
    // Held and never written: statics are not dropped, so this pipe closes
    // only when the test process exits, and the server exits on that EOF.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// The moto server of this test process, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// The harness's own runtime, so seeding helpers work from plain `#[test]`
/// functions. Multi-threaded so that `put_many`'s tasks run in parallel.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("harness-sdk")
            .enable_all()
            .build()
            .expect("build the harness tokio runtime")
    })
}

/// Runs a future to completion on the harness runtime. Call it from plain
/// (synchronous) test code, not from inside another tokio runtime.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}

/// Runs a future on a fresh single-threaded runtime, dropped afterwards with
/// every task the future spawned (for calling ssmm's own async functions
/// from plain `#[test]`s).
pub fn block_on_fresh<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a test runtime")
        .block_on(fut)
}

/// An SSM client for `endpoint` with the harness's fixed identity (static
/// credentials `testing`/`testing`, us-east-1) and nothing read from the
/// environment or profile files. `customize` can change retries, timeouts,
/// and so on, e.g. `|b| b.retry_config(RetryConfig::disabled())`.
pub fn sdk_client(endpoint: &str, customize: impl FnOnce(Builder) -> Builder) -> Client {
    let builder = Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "ssmm-test-harness",
        ))
        .endpoint_url(endpoint);
    Client::from_conf(customize(builder).build())
}

/// A fresh parameter namespace: `/t` followed by 16 hex digits, distinct
/// across tests, threads and test processes sharing a server.
pub fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let pid = u64::from(std::process::id());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let h = mix64(mix64(nanos ^ pid.rotate_left(40)) ^ n);
    format!("/t{h:016x}")
}

impl Moto {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` or a `FaultProxy`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// A clone of the harness's SSM client (cheap; shares connections).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// What the server has printed on stderr so far (its last 64 KiB).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Creates or overwrites a `String` parameter.
    pub fn put(&self, name: &str, value: &str) {
        self.put_typed(name, value, ParameterType::String);
    }

    /// Creates or overwrites a `SecureString` parameter.
    pub fn put_secure(&self, name: &str, value: &str) {
        self.put_typed(name, value, ParameterType::SecureString);
    }

    /// Creates or overwrites a parameter of the given type.
    pub fn put_typed(&self, name: &str, value: &str, ty: ParameterType) {
        let call = self
            .client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ty)
            .overwrite(true)
            .send();
        if let Err(e) = block_on(call) {
            panic!("moto: PutParameter {name}: {}", DisplayErrorContext(&e));
        }
    }

    /// Creates or overwrites `PREFIX/rel` with `value` for each `(rel, value)`
    /// in order, all of type `ty`.
    pub fn seed(&self, prefix: &str, ty: ParameterType, items: &[(&str, &str)]) {
        for (rel, value) in items {
            self.put_typed(&format!("{prefix}/{rel}"), value, ty.clone());
        }
    }

    /// Creates or overwrites many `SecureString` parameters, several calls in
    /// flight at once (1,000 take a few seconds).
    pub fn put_many(&self, items: &[(String, String)]) {
        let items = Arc::new(items.to_vec());
        let next = Arc::new(AtomicUsize::new(0));
        block_on(async {
            let mut workers: tokio::task::JoinSet<Result<(), String>> = tokio::task::JoinSet::new();
            for _ in 0..PUT_CONCURRENCY.min(items.len()) {
                let (client, items, next) = (self.client.clone(), items.clone(), next.clone());
                workers.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((name, value)) = items.get(i) else {
                            return Ok(());
                        };
                        client
                            .put_parameter()
                            .name(name)
                            .value(value)
                            .r#type(ParameterType::SecureString)
                            .overwrite(true)
                            .send()
                            .await
                            .map_err(|e| {
                                format!("moto: PutParameter {name}: {}", DisplayErrorContext(&e))
                            })?;
                    }
                });
            }
            while let Some(joined) = workers.join_next().await {
                if let Err(msg) = joined.expect("put_many worker panicked") {
                    panic!("{msg}");
                }
            }
        });
    }

    /// Adds (or replaces) tags on a parameter.
    pub fn add_tags(&self, name: &str, tags: &[(&str, &str)]) {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag"))
            .collect();
        let call = self
            .client
            .add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .set_tags(Some(tags))
            .send();
        if let Err(e) = block_on(call) {
            panic!(
                "moto: AddTagsToResource {name}: {}",
                DisplayErrorContext(&e)
            );
        }
    }

    /// The parameter's value (decrypted), or `None` if it does not exist.
    pub fn get(&self, name: &str) -> Option<String> {
        let call = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send();
        value_of(name, block_on(call))
    }

    /// Writes a new version of `name` (creating it if need be) with this
    /// type, tier and, for a SecureString, KMS key; returns its number.
    pub fn put_version(
        &self,
        name: &str,
        value: &str,
        ty: ParameterType,
        tier: aws_sdk_ssm::types::ParameterTier,
        key_id: Option<&str>,
    ) -> i64 {
        let call = self
            .client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ty)
            .tier(tier)
            .set_key_id(key_id.map(str::to_owned))
            .overwrite(true)
            .send();
        match block_on(call) {
            Ok(out) => out.version(),
            Err(e) => panic!("moto: PutParameter {name}: {}", DisplayErrorContext(&e)),
        }
    }

    /// Attaches `labels` to version `version` of `name`.
    pub fn label(&self, name: &str, version: i64, labels: &[&str]) {
        let call = self
            .client
            .label_parameter_version()
            .name(name)
            .parameter_version(version)
            .set_labels(Some(labels.iter().map(|l| l.to_string()).collect()))
            .send();
        if let Err(e) = block_on(call) {
            panic!(
                "moto: LabelParameterVersion {name}: {}",
                DisplayErrorContext(&e)
            );
        }
    }

    /// Every version of `name` (GetParameterHistory, decrypted, all pages),
    /// oldest first; empty if it does not exist.
    pub fn history(&self, name: &str) -> Vec<aws_sdk_ssm::types::ParameterHistory> {
        block_on(async {
            let mut all = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let call = self
                    .client
                    .get_parameter_history()
                    .name(name)
                    .with_decryption(true)
                    .set_next_token(token)
                    .send()
                    .await;
                let out = match call {
                    Ok(out) => out,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_parameter_not_found()) =>
                    {
                        return Vec::new();
                    }
                    Err(e) => panic!(
                        "moto: GetParameterHistory {name}: {}",
                        DisplayErrorContext(&e)
                    ),
                };
                all.extend(out.parameters().iter().cloned());
                match out.next_token().filter(|t| !t.is_empty()) {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
            all.sort_by_key(|v| v.version());
            all
        })
    }

    /// [`Moto::get`] in another account's backend: moto keeps one per
    /// account, and serves the one its `x-moto-account-id` header names (it
    /// otherwise picks the account from the signing key: the role's account
    /// for keys that an AssumeRole handed out, 123456789012 for any other).
    pub fn get_in(&self, account: &str, name: &str) -> Option<String> {
        let account = account.to_owned();
        let call = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .customize()
            .mutate_request(move |req| {
                req.headers_mut()
                    .insert("x-moto-account-id", account.clone());
            })
            .send();
        value_of(name, block_on(call))
    }

    /// Deletes a parameter; a missing one is not an error.
    pub fn delete(&self, name: &str) {
        match block_on(self.client.delete_parameter().name(name).send()) {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) => {}
            Err(e) => panic!("moto: DeleteParameter {name}: {}", DisplayErrorContext(&e)),
        }
    }

    /// The parameter's type and tier as SSM reports them (`("SecureString",
    /// "Standard")`), or `None` if it does not exist.
    pub fn kind(&self, name: &str) -> Option<(String, String)> {
        let call = self.client.get_parameter().name(name).send();
        let out = match block_on(call) {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                return None;
            }
            Err(e) => panic!("moto: GetParameter {name}: {}", DisplayErrorContext(&e)),
        };
        let ty = out.parameter()?.r#type()?.as_str().to_owned();
        let tier = self
            .described(name)
            .and_then(|p| p.tier().map(|t| t.as_str().to_owned()))
            .unwrap_or_else(|| "Standard".to_owned());
        Some((ty, tier))
    }

    /// What DescribeParameters reports for exactly `name`, if anything.
    pub fn described(&self, name: &str) -> Option<aws_sdk_ssm::types::ParameterMetadata> {
        let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(name)
            .build()
            .expect("filter");
        let call = self
            .client
            .describe_parameters()
            .parameter_filters(filter)
            .send();
        let out = block_on(call).unwrap_or_else(|e| {
            panic!(
                "moto: DescribeParameters {name}: {}",
                DisplayErrorContext(&e)
            )
        });
        out.parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .cloned()
    }

    /// The parameter's tags, sorted by key.
    pub fn tags(&self, name: &str) -> Vec<(String, String)> {
        let call = self
            .client
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send();
        let out = block_on(call).unwrap_or_else(|e| {
            panic!(
                "moto: ListTagsForResource {name}: {}",
                DisplayErrorContext(&e)
            )
        });
        let mut tags: Vec<_> = out
            .tag_list()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        tags.sort();
        tags
    }

    /// Every parameter under `path` (recursively) with its decrypted value,
    /// sorted by name.
    pub fn params_under(&self, path: &str) -> Vec<(String, String)> {
        block_on(async {
            let mut found = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .get_parameters_by_path()
                    .path(path)
                    .recursive(true)
                    .with_decryption(true)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "moto: GetParametersByPath {path}: {}",
                            DisplayErrorContext(&e)
                        )
                    });
                for p in out.parameters() {
                    let name = p.name().unwrap_or_default().to_owned();
                    found.push((name, p.value().unwrap_or_default().to_owned()));
                }
                // moto answers a full last page with a token and then an
                // empty page, so only a missing token ends the loop.
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
            found.sort();
            found
        })
    }

    /// The names of every parameter under `path` (recursively), sorted.
    pub fn names_under(&self, path: &str) -> Vec<String> {
        self.params_under(path)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    fn start() -> Moto {
        let python = ensure_venv();
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(SERVER_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("moto: cannot run {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("moto stdin");
        let stderr = drain_tail(child.stderr.take().expect("moto stderr"));

        // The port arrives on the first stdout line; keep draining after it
        // so a chatty server can never block on a full pipe.
        let stdout = child.stdout.take().expect("moto stdout");
        let (port_tx, port_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = port_tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let fail = |child: &mut Child, why: String| -> ! {
            let _ = child.kill();
            let _ = child.wait();
            // Give the drain thread a moment to collect the last words.
            thread::sleep(Duration::from_millis(100));
            let err = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
            panic!("moto: {why}\n--- moto stderr ---\n{err}");
        };
        let line = match port_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => fail(&mut child, "no port printed within 60 s".into()),
        };
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => fail(&mut child, format!("expected a port, got {line:?}")),
        };
        let endpoint = format!("http://127.0.0.1:{port}");

        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = ([127, 0, 0, 1], port).into();
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if Instant::now() > deadline {
                fail(
                    &mut child,
                    format!("{endpoint} did not accept connections in 30 s"),
                );
            }
            thread::sleep(Duration::from_millis(50));
        }

        // moto loads the SSM backend on the first call (~0.7 s); pay that
        // here rather than inside whichever test happens to come first.
        let client = sdk_client(&endpoint, |b| b);
        let warm = client.describe_parameters().max_results(1).send();
        if let Err(e) = block_on(async {
            tokio::time::timeout(Duration::from_secs(60), warm)
                .await
                .map_err(|_| "timed out after 60 s".to_owned())?
                .map_err(|e| DisplayErrorContext(&e).to_string())
        }) {
            fail(
                &mut child,
                format!("warm-up DescribeParameters failed: {e}"),
            );
        }

        Moto {
            endpoint,
            client,
            stderr,
            _stdin: Mutex::new(stdin),
            _child: Mutex::new(child),
        }
    }
}

/// Reads a pipe to its end on a thread, keeping the last 64 KiB.
fn drain_tail(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    const KEEP: usize = 64 * 1024;
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            let mut b = sink.lock().unwrap();
            b.extend_from_slice(&chunk[..n]);
            if b.len() > KEEP {
                let cut = b.len() - KEEP;
                b.drain(..cut);
            }
        }
    });
    buf
}

/// `$SSMM_CACHE_DIR`, else `$HOME/.cache/ssmm`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SSMM_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .expect("moto: neither SSMM_CACHE_DIR nor HOME is set; cannot place the moto venv");
    Path::new(&home).join(".cache").join("ssmm")
}

/// The venv's python, after installing moto into it if needed. Parallel test
/// binaries serialise the install on a lock directory.
fn ensure_venv() -> PathBuf {
    let cache = cache_dir();
    let venv = cache.join("moto-venv");
    let python = venv.join("bin").join("python");
    if venv_ready(&python) {
        return python;
    }
    fs::create_dir_all(&cache)
        .unwrap_or_else(|e| panic!("moto: cannot create {}: {e}", cache.display()));
    let _lock = DirLock::acquire(cache.join("moto-venv.lock"));
    if venv_ready(&python) {
        return python; // another test binary installed it while we waited
    }
    eprintln!(
        "harness: installing moto {MOTO_VERSION} into {} (once per machine)",
        venv.display()
    );
    if !python.exists() {
        let base = std::env::var_os("SSMM_PYTHON").unwrap_or_else(|| "python3".into());
        let mut venv_cmd = Command::new(&base);
        venv_cmd.arg("-m").arg("venv").arg(&venv);
        run_install_step(venv_cmd);
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .arg(format!("moto[server]=={MOTO_VERSION}"));
    run_install_step(pip);
    assert!(
        venv_ready(&python),
        "moto: installed moto[server]=={MOTO_VERSION} into {} but it still does not import",
        venv.display()
    );
    python
}

fn run_install_step(mut cmd: Command) {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("moto: cannot run {shown}: {e}"));
    if !out.status.success() {
        panic!(
            "moto: {shown} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Whether the venv has the pinned moto and the server extra's packages.
/// Reads package metadata rather than importing moto (which takes ~1 s).
fn venv_ready(python: &Path) -> bool {
    const CHECK: &str = "import importlib.metadata as m, importlib.util as u, sys\n\
        ok = m.version('moto') == sys.argv[1] and all(u.find_spec(p) for p in ('flask', 'flask_cors', 'werkzeug'))\n\
        sys.exit(0 if ok else 1)";
    python.exists()
        && Command::new(python)
            .args(["-c", CHECK, MOTO_VERSION])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A lock held by creating a directory (atomic on every filesystem), with
/// the holder's pid inside so a lock left by a killed process is reclaimed.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: PathBuf) -> DirLock {
        let deadline = Instant::now() + Duration::from_secs(15 * 60);
        loop {
            match fs::create_dir(&path) {
                Ok(()) => {
                    let _ = fs::write(path.join("pid"), std::process::id().to_string());
                    return DirLock(path);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if Self::is_stale(&path) {
                        let _ = fs::remove_dir_all(&path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        panic!(
                            "moto: waited 15 min for the install lock {}; remove it if no install is running",
                            path.display()
                        );
                    }
                    thread::sleep(Duration::from_millis(250));
                }
                Err(e) => panic!("moto: cannot create lock {}: {e}", path.display()),
            }
        }
    }

    /// Stale when its holder is gone, or when it has no pid after a grace
    /// period (the holder died between mkdir and writing the pid).
    fn is_stale(path: &Path) -> bool {
        match fs::read_to_string(path.join("pid")) {
            Ok(pid) => !Path::new("/proc").join(pid.trim()).exists(),
            Err(_) => fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(30)),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A GetParameter answer's value; `None` when the parameter does not exist.
fn value_of<R>(
    name: &str,
    got: Result<GetParameterOutput, SdkError<GetParameterError, R>>,
) -> Option<String>
where
    R: std::fmt::Debug,
{
    match got {
        Ok(out) => out.parameter().and_then(|p| p.value()).map(str::to_owned),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            None
        }
        Err(e) => panic!("moto: GetParameter {name}: {}", DisplayErrorContext(&e)),
    }
}
