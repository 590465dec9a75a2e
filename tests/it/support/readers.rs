//! The real readers of what ssmm writes, shared by every area: python-dotenv
//! and npm dotenv (long-lived processes, one JSON line per file), the docker
//! CLI (`docker create --env-file` against a fake engine), and `sh`/`bash`
//! loading a file (`set -a; . FILE`, `eval`, `. FILE`) then printing
//! `env -0`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};

use serde_json::Value;

use super::moto::cache_dir;

/// The npm dotenv release the dotenv rules were measured on.
pub const NPM_DOTENV_VERSION: &str = "16.6.1";

/// What a missing reader means and how to get it.
pub fn setup_hint(what: &str) -> String {
    format!(
        "{what}\nThese tests need the real env file readers: run scripts/setup \
         (it puts python-dotenv 1.2.x in {cache}/moto-venv and npm dotenv@{NPM_DOTENV_VERSION} \
         in {cache}/node; the tests also install the latter on first use). They also need \
         node, npm, python3, sh, bash and the docker CLI (no daemon) on PATH.",
        cache = cache_dir().display()
    )
}

/// The reader scripts, beside this file.
pub fn readers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/readers")
}

/// The moto venv's python (it also holds python-dotenv and boto3).
pub fn venv_python() -> PathBuf {
    cache_dir().join("moto-venv/bin/python")
}

/// Runs `cmd` to its end; its stdout, or a panic with the setup hint.
pub fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{}", setup_hint(&format!("cannot run {what}: {e}"))));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n(if a reader is missing: run scripts/setup)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ------------------------------------------------------------ sh and bash

/// Every variable `shell` has after running `load` (with the file as `$1`)
/// in an environment holding only `PATH`, as `env -0` prints them. A shell
/// that fails (a value that ran as a command, a syntax error) or prints
/// invalid UTF-8 is an `Err` with what went wrong.
pub fn shell_env(shell: &str, load: &str, file: &Path) -> Result<BTreeMap<String, String>, String> {
    let out = Command::new(shell)
        .arg("-c")
        .arg(format!("{load}\nexec env -0"))
        .arg(shell)
        .arg(file)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("{}", setup_hint(&format!("cannot run {shell}: {e}"))));
    if !out.status.success() {
        return Err(format!(
            "{shell} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text =
        String::from_utf8(out.stdout).map_err(|_| format!("{shell} gave back invalid UTF-8"))?;
    Ok(env0(&text))
}

/// The `SSMM_T_` variables (the property and round-trip tests' own) of
/// [`shell_env`], sorted.
pub fn shell_exports(
    shell: &str,
    load: &str,
    file: &Path,
) -> Result<Vec<(String, String)>, String> {
    Ok(shell_env(shell, load, file)?
        .into_iter()
        .filter(|(k, _)| k.starts_with("SSMM_T_"))
        .collect())
}

/// What `sh` exports after `set -a; . FILE`, as a service's start script
/// would load an env file; panics when the shell fails.
pub fn sh_source(file: &Path) -> BTreeMap<String, String> {
    shell_env("sh", "set -a; . \"$1\"", file).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses `env -0` output.
pub fn env0(text: &str) -> BTreeMap<String, String> {
    text.split('\0')
        .filter(|e| !e.is_empty())
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ------------------------------------------- python-dotenv and npm dotenv

/// A reader process answering one JSON line per file path line.
struct LineReader {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    what: &'static str,
}

impl LineReader {
    /// Starts `cmd`; its first line is its library's version, as JSON.
    fn spawn(cmd: &mut Command, what: &'static str) -> (LineReader, String) {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}", setup_hint(&format!("cannot run {what}: {e}"))));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut reader = LineReader {
            _child: child,
            stdin,
            stdout,
            what,
        };
        let version = reader.line();
        let version = version.as_str().unwrap_or_default().to_owned();
        (reader, version)
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
        if n == 0 {
            panic!(
                "{}",
                setup_hint(&format!("{} exited (is its library installed?)", self.what))
            );
        }
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{} printed no JSON ({e}): {line:?}", self.what))
    }

    fn read(&mut self, file: &Path) -> Value {
        writeln!(self.stdin, "{}", file.display())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
        self.line()
    }
}

fn ask(reader: &Mutex<LineReader>, file: &Path) -> Value {
    reader
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .read(file)
}

/// `dotenv_values(file)` in python-dotenv 1.2.x (the moto venv).
pub fn python_dotenv(file: &Path) -> Value {
    static READER: OnceLock<Mutex<LineReader>> = OnceLock::new();
    let reader = READER.get_or_init(|| {
        let python = venv_python();
        if !python.exists() {
            panic!(
                "{}",
                setup_hint(&format!("{} does not exist", python.display()))
            );
        }
        let (reader, version) = LineReader::spawn(
            Command::new(&python)
                .arg(readers_dir().join("python_dotenv.py"))
                .env_clear()
                // A UTF-8 locale, as python-dotenv reads with the locale's
                // encoding, and no inherited variables for `${...}` to expand into.
                .env("PYTHONUTF8", "1")
                .env("PATH", std::env::var_os("PATH").unwrap_or_default()),
            "python-dotenv",
        );
        assert!(
            version.starts_with("1.2."),
            "{}",
            setup_hint(&format!(
                "the dotenv rules were measured on python-dotenv 1.2.x, found {version:?}"
            ))
        );
        Mutex::new(reader)
    });
    ask(reader, file)
}

/// The prefix holding `node_modules/dotenv` at the pinned version, installing
/// it on first use.
fn npm_dotenv_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = cache_dir().join("node");
        let manifest = prefix.join("node_modules/dotenv/package.json");
        let installed = std::fs::read(&manifest)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        if installed.as_deref() != Some(NPM_DOTENV_VERSION) {
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                    .arg(&prefix)
                    .arg(format!("dotenv@{NPM_DOTENV_VERSION}")),
                "npm install dotenv",
            );
        }
        prefix
    })
}

/// `dotenv.parse(fs.readFileSync(file))` in npm dotenv at the pinned version.
pub fn npm_dotenv(file: &Path) -> Value {
    static READER: OnceLock<Mutex<LineReader>> = OnceLock::new();
    let reader = READER.get_or_init(|| {
        let (reader, version) = LineReader::spawn(
            Command::new("node")
                .arg(readers_dir().join("npm_dotenv.js"))
                .arg(npm_dotenv_prefix()),
            "node (npm dotenv)",
        );
        assert_eq!(version, NPM_DOTENV_VERSION);
        Mutex::new(reader)
    });
    ask(reader, file)
}

// ------------------------------------------------------------- docker CLI

/// Reads each file with `docker create --env-file` (readers/docker_env.py);
/// each result is the Env list docker sent, or the CLI's error.
pub fn docker_cli(files: &[PathBuf]) -> Vec<Result<Vec<String>, String>> {
    let stdout = run(
        Command::new("python3")
            .arg(readers_dir().join("docker_env.py"))
            .args(files),
        "the docker CLI (docker_env.py)",
    );
    let doc: Value = serde_json::from_slice(&stdout).expect("docker_env.py prints JSON");
    let version = doc["version"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("Docker version"),
        "{}",
        setup_hint(&format!("no docker CLI on PATH ({version:?})"))
    );
    let results = doc["files"].as_array().expect("files");
    assert_eq!(
        results.len(),
        files.len(),
        "docker read {} files",
        results.len()
    );
    results
        .iter()
        .map(|r| match r["env"].as_array() {
            Some(env) => Ok(env
                .iter()
                .map(|e| e.as_str().expect("env entries are strings").to_owned())
                .collect()),
            None => Err(r["error"].as_str().unwrap_or_default().to_owned()),
        })
        .collect()
}

// ------------------------------------------------------- expected values

/// Pairs as the JSON object a dotenv reader gives back.
pub fn as_map(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Pairs as the `NAME=value` list docker sends.
pub fn env_list(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect()
}
