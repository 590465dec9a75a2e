//! File parameters (docs/CONTRACT.md §2 "Files", §5): path rules and root confinement
//! on a real filesystem, `base64:` decoding, and `url:` downloads against
//! real servers — moto's S3 through boto3 pre-signed URLs, and a tiny local
//! HTTP server for the failure modes (status, slowness, redirects, caps).
//! Only loopback addresses are ever contacted.

use crate::support;
use crate::support::http::{Reply, Request, Server, closed_port};

use crate::support::block_on_fresh as run;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ssmm::files::{self, FileError, FileSpec, Limits, Prepared, check_rel};
use ssmm::secret::Secret;

/// Planted in contents and in URL query strings; must never reach a message.
const CANARY: &str = "CANARY-f1e5";

fn spec(rel: &str, value: &str) -> FileSpec {
    FileSpec {
        rel: rel.into(),
        param: format!("/team/app/files/{rel}"),
        value: Secret::new(value),
    }
}

fn limits() -> Limits {
    Limits {
        max_size: 1 << 20,
        timeout: Duration::from_secs(10),
    }
}

fn prepare(files: &[FileSpec], root: &Path, limits: &Limits) -> anyhow::Result<Vec<Prepared>> {
    run(files::prepare(files, &[], root, limits))
}

/// The error's full message, checked to be free of canaries.
fn err_text(e: &anyhow::Error) -> String {
    let text = format!("{e:#} {e:?}");
    assert!(!text.contains(CANARY), "a value leaked into: {text}");
    text
}

fn prepare_err(files: &[FileSpec], root: &Path, limits: &Limits) -> String {
    match prepare(files, root, limits) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => err_text(&e),
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every entry under `dir`, recursively, as sorted relative paths.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

// ---------------------------------------------------------------- paths

#[test]
fn path_rule_accepts_plain_relative_paths() {
    for good in [
        "a",
        "a/b/c.pem",
        ".hidden",
        "certs/..pem",
        "a b/c",
        "x-y_z.1",
    ] {
        assert_eq!(check_rel(good), Ok(()), "{good}");
    }
}

#[test]
fn path_rule_refuses_every_escape_shape() {
    for bad in [
        "",
        "/etc/passwd",
        "a//b",
        "a/",
        ".",
        "./a",
        "a/./b",
        "..",
        "../a",
        "a/../../b",
        "a/..",
        "a\0b",
        "a\tb",
        "a\rb",
        "a\x1bb",
    ] {
        assert!(check_rel(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn bad_paths_fail_prepare_naming_the_parameter_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    for bad in ["/abs", "a//b", "../up", "a/./b", "a/", "nul\0x"] {
        let s = spec(bad, CANARY);
        let msg = prepare_err(&[spec("ok", "fine"), s], root.path(), &limits());
        let named = ssmm::names::printable("/team/app/files/");
        assert!(msg.contains(&named), "{bad:?}: {msg}");
        assert!(msg.contains("refused"), "{bad:?}: {msg}");
    }
    assert!(tree(root.path()).is_empty());
}

#[test]
fn a_file_and_its_own_parent_directory_conflict() {
    let root = tempfile::tempdir().unwrap();
    let msg = prepare_err(&[spec("a", "1"), spec("a/b", "2")], root.path(), &limits());
    assert!(msg.contains("/team/app/files/a"), "{msg}");
}

// ---------------------------------------------------------------- contents

#[test]
fn plain_and_base64_contents_are_written_0600_in_0700_dirs_and_then_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let der: Vec<u8> = (0..=255u8).collect();
    let padded = base64_std(&der);
    let unpadded = padded.trim_end_matches('=').to_owned();
    assert_ne!(padded, unpadded, "the fixture must have padding to drop");
    // PEM-like wrapping at 64 columns, CRLF and a trailing newline.
    let wrapped: String = padded
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let files = [
        spec("app.conf", "plain = \"text\"\nline2\n"),
        spec("keys/der/padded.der", &format!("base64:{padded}")),
        spec("keys/der/unpadded.der", &format!("base64:{unpadded}")),
        spec("keys/wrapped.der", &format!("base64:{wrapped}")),
        spec("empty", "base64:"),
    ];
    let prepared = prepare(&files, root.path(), &limits()).unwrap();
    assert!(tree(root.path()).is_empty(), "prepare must not write");
    assert_eq!(prepared[0].content(), b"plain = \"text\"\nline2\n");
    assert_eq!(prepared[1].path, root.path().join("keys/der/padded.der"));

    assert_eq!(
        files::write_all(&prepared, root.path())
            .map(|(w, u)| (w.len(), u))
            .unwrap(),
        (5, 0)
    );
    let r = root.path();
    assert_eq!(
        fs::read(r.join("app.conf")).unwrap(),
        b"plain = \"text\"\nline2\n"
    );
    for rel in [
        "keys/der/padded.der",
        "keys/der/unpadded.der",
        "keys/wrapped.der",
    ] {
        assert_eq!(fs::read(r.join(rel)).unwrap(), der, "{rel}");
        assert_eq!(mode(&r.join(rel)), 0o600, "{rel}");
    }
    assert_eq!(fs::read(r.join("empty")).unwrap(), b"");
    assert_eq!(mode(&r.join("app.conf")), 0o600);
    assert_eq!(mode(&r.join("keys")), 0o700);
    assert_eq!(mode(&r.join("keys/der")), 0o700);
    // No temporary files left behind.
    assert_eq!(
        tree(r),
        [
            "app.conf",
            "empty",
            "keys",
            "keys/der",
            "keys/der/padded.der",
            "keys/der/unpadded.der",
            "keys/wrapped.der"
        ]
    );

    let again = prepare(&files, r, &limits()).unwrap();
    assert_eq!(
        files::write_all(&again, r)
            .map(|(w, u)| (w.len(), u))
            .unwrap(),
        (0, 5)
    );
}

#[test]
fn a_missing_root_is_created_by_write_all_not_by_prepare() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("new/root");
    let prepared = prepare(&[spec("d/f", "x")], &root, &limits()).unwrap();
    assert!(!root.exists());
    assert_eq!(
        files::write_all(&prepared, &root)
            .map(|(w, u)| (w.len(), u))
            .unwrap(),
        (1, 0)
    );
    assert_eq!(fs::read(root.join("d/f")).unwrap(), b"x");
    assert_eq!(mode(&root.join("d")), 0o700);
}

#[test]
fn invalid_base64_is_an_error_naming_the_parameter_without_the_value() {
    let root = tempfile::tempdir().unwrap();
    for bad in [
        format!("base64:{CANARY}!!"),
        "base64:abcde".to_owned(),
        "base64:ab=c".to_owned(),
    ] {
        let msg = prepare_err(&[spec("k.der", &bad)], root.path(), &limits());
        assert!(msg.contains("/team/app/files/k.der"), "{msg}");
        assert!(msg.contains("base64"), "{msg}");
    }
    assert!(tree(root.path()).is_empty());
}

#[test]
fn debug_output_of_specs_and_prepared_files_hides_contents() {
    let root = tempfile::tempdir().unwrap();
    let files = [spec("c", CANARY)];
    let prepared = prepare(&files, root.path(), &limits()).unwrap();
    let shown = format!("{files:?} {prepared:?}");
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(shown.contains("/team/app/files/c"), "{shown}");
}

// ---------------------------------------------------------------- symlinks

#[test]
fn a_symlinked_directory_inside_the_root_is_followed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir(r.join("real")).unwrap();
    symlink(r.join("real"), r.join("link")).unwrap();
    // A relative link that stays inside is fine too.
    symlink("real", r.join("rel-link")).unwrap();
    let files = [spec("link/a", "1"), spec("rel-link/sub/b", "2")];
    let prepared = prepare(&files, r, &limits()).unwrap();
    assert_eq!(
        files::write_all(&prepared, r)
            .map(|(w, u)| (w.len(), u))
            .unwrap(),
        (2, 0)
    );
    assert_eq!(fs::read(r.join("real/a")).unwrap(), b"1");
    assert_eq!(fs::read(r.join("real/sub/b")).unwrap(), b"2");
    assert!(fs::symlink_metadata(r.join("link")).unwrap().is_symlink());
}

#[test]
fn a_symlinked_directory_leading_outside_is_refused_and_nothing_is_written_there() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let r = root.path();
    symlink(outside.path(), r.join("out")).unwrap();
    fs::create_dir(r.join("d")).unwrap();
    symlink("../../", r.join("d/up")).unwrap();
    for rel in ["out/f", "out/new/dir/f", "d/up/f"] {
        let msg = prepare_err(&[spec(rel, CANARY)], r, &limits());
        assert!(msg.contains(&format!("/team/app/files/{rel}")), "{msg}");
        assert!(msg.contains("outside the root"), "{msg}");
    }
    assert!(tree(outside.path()).is_empty());
}

#[test]
fn write_all_rechecks_confinement_right_before_writing() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let r = root.path();
    let prepared = prepare(&[spec("sub/deeper/f", CANARY)], r, &limits()).unwrap();
    // The tree changes between prepare and write_all.
    symlink(outside.path(), r.join("sub")).unwrap();
    let msg = err_text(&files::write_all(&prepared, r).unwrap_err());
    assert!(msg.contains("/team/app/files/sub/deeper/f"), "{msg}");
    assert!(msg.contains("outside the root"), "{msg}");
    assert!(
        tree(outside.path()).is_empty(),
        "{:?}",
        tree(outside.path())
    );
}

#[test]
fn a_final_symlink_to_outside_is_refused_and_its_target_untouched() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, b"keep").unwrap();
    symlink(&target, root.path().join("f")).unwrap();
    let msg = prepare_err(&[spec("f", CANARY)], root.path(), &limits());
    assert!(msg.contains("/team/app/files/f"), "{msg}");
    assert!(msg.contains("outside the root"), "{msg}");
    assert_eq!(fs::read(&target).unwrap(), b"keep");
    assert!(
        fs::symlink_metadata(root.path().join("f"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn a_final_symlink_inside_the_root_is_replaced_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::write(r.join("other"), b"keep").unwrap();
    symlink("other", r.join("f")).unwrap();
    let prepared = prepare(&[spec("f", "new")], r, &limits()).unwrap();
    assert_eq!(
        files::write_all(&prepared, r)
            .map(|(w, u)| (w.len(), u))
            .unwrap(),
        (1, 0)
    );
    assert!(fs::symlink_metadata(r.join("f")).unwrap().is_file());
    assert_eq!(fs::read(r.join("f")).unwrap(), b"new");
    assert_eq!(fs::read(r.join("other")).unwrap(), b"keep");
}

#[test]
fn dangling_links_files_in_the_way_and_directories_at_the_target_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    symlink("/nonexistent-ssmm-target", r.join("dangling")).unwrap();
    fs::write(r.join("plainfile"), b"x").unwrap();
    fs::create_dir(r.join("adir")).unwrap();
    for (rel, why) in [
        ("dangling", "cannot be resolved"),
        ("dangling/f", "cannot be resolved"),
        ("plainfile/f", "not a directory"),
        ("adir", "is a directory"),
    ] {
        let msg = prepare_err(&[spec(rel, "v")], r, &limits());
        assert!(msg.contains(&format!("/team/app/files/{rel}")), "{msg}");
        assert!(msg.contains(why), "{rel}: {msg}");
    }
}

// ---------------------------------------------------------------- downloads: moto S3

/// Puts `content` into a fresh moto S3 bucket and returns a boto3
/// pre-signed GET URL for it (http://127.0.0.1:PORT/..., loopback).
fn presigned(content: &[u8]) -> String {
    const SCRIPT: &str = r#"
import sys, boto3
from botocore.config import Config
endpoint, bucket, path = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=bucket)
with open(path, "rb") as f:
    s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=f.read())
print(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/obj.bin"}, ExpiresIn=600))
"#;
    let endpoint = support::moto().endpoint();
    let bucket = format!("files{}", &support::unique_prefix()[2..]);
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), content).unwrap();
    let python = support::moto::cache_dir().join("moto-venv/bin/python");
    let out = Command::new(python)
        .args(["-c", SCRIPT, &endpoint, &bucket])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    url
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn s3_presigned_download_is_exact_and_verified() {
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let url = presigned(&content);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let files = [
        spec("plain.bin", &format!("url:{url}")),
        spec(
            "hashed/obj.bin",
            &format!("url:{url}#sha256={}", sha256_hex(&content)),
        ),
        spec(
            "upper.bin",
            &format!(
                "url: {url}#sha256={}\n",
                sha256_hex(&content).to_uppercase()
            ),
        ),
    ];
    let prepared = prepare(&files, r, &limits()).unwrap();
    assert!(tree(r).is_empty(), "prepare must not write");
    assert_eq!(
        files::write_all(&prepared, r)
            .map(|(w, u)| (w.len(), u))
            .unwrap(),
        (3, 0)
    );
    for rel in ["plain.bin", "hashed/obj.bin", "upper.bin"] {
        assert_eq!(fs::read(r.join(rel)).unwrap(), content, "{rel}");
        assert_eq!(mode(&r.join(rel)), 0o600);
    }
}

#[test]
fn s3_download_with_a_wrong_sha256_writes_nothing() {
    let content = format!("{CANARY} certificate body").into_bytes();
    let url = presigned(&content);
    let root = tempfile::tempdir().unwrap();
    let wrong = sha256_hex(b"something else");
    let files = [
        spec("good.txt", "fine"),
        spec("sub/cert.pem", &format!("url:{url}#sha256={wrong}")),
    ];
    let msg = prepare_err(&files, root.path(), &limits());
    assert!(msg.contains("/team/app/files/sub/cert.pem"), "{msg}");
    assert!(msg.contains("sha256"), "{msg}");
    assert!(!msg.contains("X-Amz"), "query string leaked: {msg}");
    assert!(msg.contains("/dir/obj.bin"), "{msg}");
    // No file, no directory, no temporary file.
    assert!(tree(root.path()).is_empty(), "{:?}", tree(root.path()));
}

#[test]
fn s3_download_over_the_size_cap_is_refused() {
    let url = presigned(&vec![b'x'; 300_000]);
    let root = tempfile::tempdir().unwrap();
    let small = Limits {
        max_size: 100_000,
        ..limits()
    };
    let msg = prepare_err(&[spec("big", &format!("url:{url}"))], root.path(), &small);
    assert!(msg.contains("/team/app/files/big"), "{msg}");
    assert!(msg.contains("100000 bytes"), "{msg}");
    assert!(!msg.contains("X-Amz"), "{msg}");
    // Exactly at the cap is fine.
    let exact = Limits {
        max_size: 300_000,
        ..limits()
    };
    let ok = prepare(&[spec("big", &format!("url:{url}"))], root.path(), &exact).unwrap();
    assert_eq!(ok[0].content().len(), 300_000);
}

#[test]
fn s3_missing_object_reports_the_status_without_the_query() {
    let url = presigned(b"x").replace("/dir/obj.bin", "/dir/missing.bin");
    let url = format!("{url}&x-canary={CANARY}");
    let root = tempfile::tempdir().unwrap();
    let msg = prepare_err(&[spec("m", &format!("url:{url}"))], root.path(), &limits());
    assert!(msg.contains("/team/app/files/m"), "{msg}");
    assert!(msg.contains("HTTP 404"), "{msg}");
    assert!(!msg.contains("X-Amz"), "{msg}");
}

// ---------------------------------------------------------------- downloads: local server

/// A loopback HTTP server for failure modes S3 does not show, one per test
/// process. Returns its base URL.
fn server() -> &'static str {
    static BASE: OnceLock<(Server, String)> = OnceLock::new();
    &BASE
        .get_or_init(|| {
            let srv = Server::start(route);
            let base = srv.base();
            (srv, base)
        })
        .1
}

fn route(req: &Request) -> Reply {
    let stall = Duration::from_secs(60);
    let to = |location: &str| Reply::redirect(302, location);
    if let Some(port) = req.path().strip_prefix("/redirect-to-port/") {
        // User info and query both carry the canary: neither may be shown.
        return to(&format!(
            "http://u:{CANARY}@127.0.0.1:{port}/gone?sig={CANARY}"
        ));
    }
    match req.path() {
        // A redirect, then a hop that fails in each way a download can.
        "/redirect-to-404" => to(&format!("/404?sig={CANARY}")),
        "/redirect-to-500" => to(&format!("/second-hop?sig={CANARY}")),
        "/redirect-to-big" => to(&format!("/chunked-big?sig={CANARY}")),
        "/redirect-to-slow" => to(&format!("/slow-head?sig={CANARY}")),
        "/redirect-twice" => to(&format!("/redirect-to-404?sig={CANARY}")),
        "/redirect-to-referer" => to("/referer"),
        // The request's Referer header as the body, or "none".
        "/referer" => Reply::new(200, req.header("referer").unwrap_or("none")),
        // The request's Authorization and User-Agent headers as the body.
        "/headers" => Reply::new(
            200,
            format!(
                "authorization={} user-agent={}",
                req.header("authorization").unwrap_or("none"),
                req.header("user-agent").unwrap_or("none")
            ),
        ),
        "/ok" => Reply::new(200, "hello"),
        "/404" => Reply::new(404, CANARY),
        "/redirect-ok" => to("/ok"),
        "/redirect-out" => to(&format!("http://10.0.0.1/x?sig={CANARY}")),
        "/redirect-ftp" => Reply::redirect(301, "ftp://127.0.0.1/x"),
        "/redirect-loop" => Reply::redirect(307, &req.target),
        "/slow-head" => Reply::stall(stall),
        "/slow-body" => Reply::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes.")
            .stall_after(stall),
        // Claims a gigabyte, sends a little, then stalls: the cap must act
        // on the header, not wait for the body.
        "/huge-length" => Reply::raw("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nxxxx")
            .stall_after(stall),
        // 8 KiB in chunks, then stalls without the final chunk: the cap
        // must act as soon as it is crossed.
        "/chunked-big" => {
            let mut raw = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for _ in 0..8 {
                raw.push_str(&format!("400\r\n{}\r\n", "y".repeat(1024)));
            }
            Reply::raw(raw).stall_after(stall)
        }
        // No length at all: the body ends when the connection closes.
        "/close-big" => {
            let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            raw.extend_from_slice(&[b'z'; 8192]);
            Reply::raw(raw)
        }
        "/close-small" => Reply::raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsmall body"),
        _ => Reply::new(500, ""),
    }
}

fn fetch_one(url: &str, limits: &Limits) -> anyhow::Result<Vec<u8>> {
    let root = tempfile::tempdir().unwrap();
    let prepared = prepare(&[spec("f", &format!("url:{url}"))], root.path(), limits)?;
    assert!(tree(root.path()).is_empty());
    Ok(prepared[0].content().to_vec())
}

fn fetch_err(url: &str, limits: &Limits) -> (String, FileError) {
    let e = fetch_one(url, limits).expect_err("the download should fail");
    let text = err_text(&e);
    assert!(text.contains("/team/app/files/f"), "{text}");
    assert!(!text.contains("sig="), "{text}");
    let kind = e
        .downcast::<FileError>()
        .unwrap_or_else(|e| panic!("not a FileError: {e:#}"));
    (text, kind)
}

#[test]
fn local_download_and_a_loopback_redirect_succeed() {
    let base = server();
    assert_eq!(
        fetch_one(&format!("{base}/ok"), &limits()).unwrap(),
        b"hello"
    );
    assert_eq!(
        fetch_one(&format!("{base}/redirect-ok?sig=x"), &limits()).unwrap(),
        b"hello"
    );
    let localhost = base.replace("127.0.0.1", "localhost");
    assert_eq!(
        fetch_one(&format!("{localhost}/close-small"), &limits()).unwrap(),
        b"small body"
    );
}

#[test]
fn http_errors_report_the_status_but_not_the_body_or_query() {
    let (text, kind) = fetch_err(&format!("{}/404?sig={CANARY}", server()), &limits());
    assert!(matches!(kind, FileError::Status { .. }), "{kind:?}");
    assert!(text.contains("HTTP 404"), "{text}");
    assert!(text.contains("/404"), "{text}");
}

#[test]
fn a_connection_refused_does_not_show_the_query() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (text, kind) = fetch_err(
        &format!("http://127.0.0.1:{port}/x?sig={CANARY}"),
        &limits(),
    );
    assert!(matches!(kind, FileError::Download { .. }), "{kind:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}/x")), "{text}");
}

#[test]
fn slow_servers_time_out() {
    let short = Limits {
        timeout: Duration::from_millis(300),
        ..limits()
    };
    for path in ["/slow-head", "/slow-body"] {
        let started = Instant::now();
        let (text, _) = fetch_err(&format!("{}{path}?sig={CANARY}", server()), &short);
        assert!(text.contains("timed out"), "{path}: {text}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
}

#[test]
fn bodies_over_the_cap_fail_as_soon_as_the_cap_is_crossed() {
    let cap = Limits {
        max_size: 4096,
        timeout: Duration::from_secs(20),
    };
    for path in ["/huge-length", "/chunked-big", "/close-big"] {
        let started = Instant::now();
        let (text, kind) = fetch_err(&format!("{}{path}", server()), &cap);
        assert!(
            matches!(kind, FileError::TooLarge { .. }),
            "{path}: {kind:?}"
        );
        assert!(text.contains("4096 bytes"), "{path}: {text}");
        // Well before the timeout: the stalling servers never finish.
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
    // The same bodies pass under a cap large enough.
    let roomy = Limits {
        max_size: 8192,
        ..cap
    };
    assert_eq!(
        fetch_one(&format!("{}/close-big", server()), &roomy)
            .unwrap()
            .len(),
        8192
    );
}

#[test]
fn redirects_are_checked_hop_by_hop() {
    let base = server();
    let (text, _) = fetch_err(&format!("{base}/redirect-out"), &limits());
    assert!(text.contains("http://10.0.0.1/x"), "{text}");
    assert!(text.contains("loopback"), "{text}");
    let (text, _) = fetch_err(&format!("{base}/redirect-ftp"), &limits());
    assert!(text.contains("ftp"), "{text}");
    let (text, _) = fetch_err(&format!("{base}/redirect-loop?sig={CANARY}"), &limits());
    assert!(text.contains("more than 3 redirects"), "{text}");
}

#[test]
fn refused_urls_fail_before_any_network_access() {
    // A 1 ms timeout: an actual connection attempt would report a timeout
    // or a connect error instead of the scheme rule.
    let instant = Limits {
        timeout: Duration::from_millis(1),
        ..limits()
    };
    for (url, why) in [
        ("http://10.0.0.1/x", "only to loopback"),
        ("http://example.com/x", "only to loopback"),
        ("ftp://127.0.0.1/x", "\"ftp\" is not allowed"),
        ("file:///etc/passwd", "\"file\" is not allowed"),
        ("https://h.example/x#sha256=00", "64 hex digits"),
        ("not a url", "not a valid URL"),
    ] {
        let (text, kind) = fetch_err(&format!("{url}?sig={CANARY}"), &instant);
        assert!(matches!(kind, FileError::Url { .. }), "{url}: {kind:?}");
        assert!(text.contains(why), "{url}: {text}");
    }
}

/// Regression: when a download redirected and a later hop failed, the
/// message named only the first URL. It now names both, the hop that failed
/// as scheme://host[:port]/path (no query, no user info).
#[test]
fn a_failure_after_a_redirect_names_the_hop_that_failed() {
    let base = server();
    let closed = closed_port();
    let short = Limits {
        max_size: 4096,
        timeout: Duration::from_millis(500),
    };
    let cases = [
        (
            "/redirect-to-404".to_owned(),
            format!("{base}/404"),
            "HTTP 404",
        ),
        (
            "/redirect-to-500".into(),
            format!("{base}/second-hop"),
            "HTTP 500",
        ),
        (
            format!("/redirect-to-port/{closed}"),
            format!("http://127.0.0.1:{closed}/gone"),
            "failed: error sending request",
        ),
        (
            "/redirect-to-big".into(),
            format!("{base}/chunked-big"),
            "larger than the limit of 4096 bytes",
        ),
        (
            "/redirect-to-slow".into(),
            format!("{base}/slow-head"),
            "failed: timed out",
        ),
        // Two hops: the first URL and the last.
        ("/redirect-twice".into(), format!("{base}/404"), "HTTP 404"),
    ];
    for (first, hop, why) in cases {
        let started = Instant::now();
        let (text, _) = fetch_err(&format!("{base}{first}?sig={CANARY}"), &short);
        let named = format!("download from {base}{first} (redirected to {hop})");
        assert!(text.contains(&named), "{first}: {text}");
        assert!(text.contains(why), "{first}: {text}");
        assert!(!text.contains("u:"), "{first}: user info shown: {text}");
        assert!(started.elapsed() < Duration::from_secs(5), "{first}");
    }
    // No redirect: the message is as it was, one URL.
    let (text, _) = fetch_err(&format!("{base}/404?sig={CANARY}"), &limits());
    assert!(
        text.contains(&format!("download from {base}/404: HTTP 404")),
        "{text}"
    );
}

/// A redirect target is not told where the redirect came from: a `Referer`
/// would carry the pre-signed query of the first URL to the next host.
#[test]
fn a_redirect_sends_no_referer_to_the_next_hop() {
    let url = format!("{}/redirect-to-referer?sig={CANARY}", server());
    assert_eq!(fetch_one(&url, &limits()).unwrap(), b"none");
}

/// A URL's user info is sent as Basic `Authorization` (percent-decoded), not
/// on the request line; the user agent names ssmm and its version.
#[test]
fn user_info_is_sent_as_basic_authorization() {
    let base = server();
    let with_user = base.replace("http://", "http://us%20er:p%40ss@");
    let body = fetch_one(&format!("{with_user}/headers?sig=x"), &limits()).unwrap();
    let ua = concat!("ssmm/", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            "authorization=Basic {} user-agent={ua}",
            base64_std(b"us er:p@ss")
        )
    );
    let body = fetch_one(&format!("{base}/headers"), &limits()).unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!("authorization=none user-agent={ua}")
    );
}

/// A proxy that records each request (method, target, `Proxy-Authorization`,
/// `User-Agent`), answers plain requests 200 `via the proxy` and refuses
/// every `CONNECT` with 403.
fn recording_proxy() -> (Server, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let proxy = Server::start(move |req| {
        log.lock().unwrap().push(format!(
            "{} {} auth={} ua={}",
            req.method,
            req.target,
            req.header("proxy-authorization").unwrap_or("none"),
            req.header("user-agent").unwrap_or("none")
        ));
        if req.method == "CONNECT" {
            Reply::new(403, "")
        } else {
            Reply::new(200, "via the proxy")
        }
    });
    (proxy, seen)
}

/// Downloads honour the environment's proxies: plain http goes to
/// `HTTP_PROXY` (or `ALL_PROXY`) in absolute form with the proxy URL's
/// credentials as `Proxy-Authorization`, and a host in `NO_PROXY` is asked
/// directly. moto (127.0.0.1) is in `NO_PROXY` throughout, so only the
/// download can meet the proxy; the origin is 127.0.0.2.
#[test]
fn downloads_use_the_environment_proxy_unless_no_proxy_lists_the_host() {
    let (proxy, seen) = recording_proxy();
    let proxy_url = format!("http://user:{CANARY}@{}", proxy.addr());
    let auth = format!("Basic {}", base64_std(format!("user:{CANARY}").as_bytes()));
    let ua = concat!("ssmm/", env!("CARGO_PKG_VERSION"));
    // Nothing listens at the origin: only the proxy can answer.
    let origin = format!("http://127.0.0.2:{}", closed_port());
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        let t = support::Test::new().param("api/files/f.txt", &format!("url:{origin}/x?sig=s"));
        t.ssmm(["sync", "--app", "api", "--root", "root"])
            .env(var, &proxy_url)
            .env("NO_PROXY", "127.0.0.1")
            .success()
            .stderr_lacks(CANARY)
            .go();
        assert_eq!(t.read("root/f.txt"), "via the proxy", "{var}");
        assert_eq!(
            seen.lock().unwrap().drain(..).collect::<Vec<_>>(),
            [format!("GET {origin}/x?sig=s auth={auth} ua={ua}")],
            "{var}"
        );
    }
    // Listed in NO_PROXY (with another name and spaces): asked directly.
    let direct = Server::routes_on([127, 0, 0, 2].into(), &[("/x", Reply::new(200, "direct"))]);
    let t = support::Test::new().param("api/files/f.txt", &format!("url:{}", direct.url("/x")));
    t.ssmm(["sync", "--app", "api", "--root", "root"])
        .env("HTTP_PROXY", &proxy_url)
        .env("NO_PROXY", "example.com, 127.0.0.1, 127.0.0.2")
        .success()
        .go();
    assert_eq!(t.read("root/f.txt"), "direct");
    assert_eq!(direct.hits("/x"), 1);
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

/// An https download through an http proxy asks for a `CONNECT` tunnel to
/// the host's port 443, with the proxy's credentials and ssmm's user agent;
/// a refused tunnel fails the download, naming the URL without its query and
/// showing neither the proxy's password nor the query.
#[test]
fn https_downloads_go_through_a_connect_tunnel() {
    let (proxy, seen) = recording_proxy();
    let proxy_url = format!("http://user:{CANARY}@{}", proxy.addr());
    let auth = format!("Basic {}", base64_std(format!("user:{CANARY}").as_bytes()));
    let ua = concat!("ssmm/", env!("CARGO_PKG_VERSION"));
    let host = "ssmm-proxy-test.invalid";
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        refused_file_with(
            &format!("url:https://{host}/x?sig={CANARY}"),
            &format!("download from https://{host}/x failed: {TUNNEL_REFUSED}"),
            &[(var, proxy_url.as_str()), ("NO_PROXY", "127.0.0.1")],
        );
        assert_eq!(
            seen.lock().unwrap().drain(..).collect::<Vec<_>>(),
            [format!("CONNECT {host}:443 auth={auth} ua={ua}")],
            "{var}"
        );
    }
}

/// What a download says when the proxy refuses the tunnel.
const TUNNEL_REFUSED: &str =
    "error sending request: client error (Connect): tunnel error: unsuccessful";

/// The same through the binary: exit 1, the hop named, no query, nothing
/// written.
#[test]
fn sync_names_the_redirect_hop_that_failed() {
    let base = server();
    refused_file(
        &format!("url:{base}/redirect-to-500?sig={CANARY}"),
        &format!(
            "download from {base}/redirect-to-500 (redirected to {base}/second-hop): HTTP 500 Internal Server Error"
        ),
    );
}

/// `sync` of one file parameter holding `value` fails: its first stderr
/// line names the parameter and says `why`, no canary is printed, nothing
/// is written.
#[track_caller]
fn refused_file(value: &str, why: &str) {
    refused_file_with(value, why, &[]);
}

/// [`refused_file`] with these environment variables set.
#[track_caller]
fn refused_file_with(value: &str, why: &str, env: &[(&str, &str)]) {
    let t = support::Test::new().param("api/files/f.bin", value);
    let mut run = t.ssmm(["sync", "--app", "api", "--root", "root"]);
    for (k, v) in env {
        run = run.env(k, v);
    }
    let out = run
        .code(1)
        .stdout_lacks(CANARY)
        .stderr_lacks(CANARY)
        .writes_nothing()
        .go();
    let msg = format!(
        "ssmm: error: file parameter {}: {why}",
        t.name("api/files/f.bin")
    );
    assert_eq!(out.stderr.lines().next(), Some(msg.as_str()), "{out}");
    assert!(tree(t.dir()).is_empty(), "{:?}", tree(t.dir()));
}

/// Regression: `#sha256=` took `+` as a hex digit (`u8::from_str_radix`
/// accepts `"+e"`), so a digest with a `0e` pair written `+e` verified.
/// Exactly 64 hex digits are required, before any download.
#[test]
fn sha256_with_a_plus_sign_is_refused_before_any_download() {
    // sha256("hello"), the body of /ok; its 8th pair is "0e".
    let good = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_eq!(good, sha256_hex(b"hello"));
    let plus = good.replacen("0e", "+e", 1);
    assert_eq!(plus.len(), 64);
    let base = server();
    assert_eq!(
        fetch_one(&format!("{base}/ok#sha256={good}"), &limits()).unwrap(),
        b"hello"
    );
    for digest in [plus.clone(), "+0".repeat(32)] {
        let (text, kind) = fetch_err(
            &format!("{base}/ok?sig={CANARY}#sha256={digest}"),
            &limits(),
        );
        assert!(matches!(kind, FileError::Url { .. }), "{kind:?}");
        assert!(
            text.contains("#sha256= needs exactly 64 hex digits"),
            "{text}"
        );
    }

    // Through the binary, to a port nothing listens on: a download attempt
    // would fail with a connection error, not with the digest rule.
    let url = format!(
        "url:http://127.0.0.1:{}/f.bin?sig={CANARY}#sha256={plus}",
        closed_port()
    );
    refused_file(&url, "url: #sha256= needs exactly 64 hex digits");
}

#[test]
fn one_bad_download_fails_the_whole_batch() {
    let root = tempfile::tempdir().unwrap();
    let base = server();
    let files = [
        spec("a", &format!("url:{base}/ok")),
        spec("b", &format!("url:{base}/404")),
        spec("c", "plain"),
    ];
    let msg = prepare_err(&files, root.path(), &limits());
    assert!(msg.contains("/team/app/files/b"), "{msg}");
    assert!(tree(root.path()).is_empty());
}

/// Standard base64 with padding, written out here so the test does not
/// share the decoder's crate.
fn base64_std(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
