//! The aarch64 release binary, run for real under `qemu-aarch64-static`
//! (user-mode emulation, started directly: no binfmt registration) against
//! the same moto server: it is static and says the crate's version, `sync`
//! writes every format byte for byte as the native build does, `exec`
//! resolves an `ssm:` reference, `--init` is PID 1 of a PID namespace that
//! forwards signals and passes exit codes on, and `url:` files download.
//!
//! The binary comes from `SSMM_ARM64_BIN` (scripts/test sets it after
//! `scripts/release`). Without it these tests fail, unless
//! `SSMM_ALLOW_NO_ARM64=1` says that not testing it is expected. qemu-user
//! does not follow `execve` without binfmt, so the commands ssmm starts
//! (`sh`, `env`) run natively: what is emulated is ssmm itself.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::init::{children_of, pid_ns, sh, wait_for_file, wait_for_line};
use crate::support::http::{Reply, Server};
use crate::support::readers::{env0, sh_source};
use crate::support::{Run, Ssmm, Test};

/// The emulator, from Debian's `qemu-user-static`.
const QEMU: &str = "qemu-aarch64-static";

/// The aarch64 binary, or `None` when `SSMM_ALLOW_NO_ARM64=1` accepts its
/// absence; anything else without it is a failure.
fn arm64_bin() -> Option<PathBuf> {
    match std::env::var_os("SSMM_ARM64_BIN").filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "SSMM_ARM64_BIN={} is not a file", p.display());
            Some(p)
        }
        None if std::env::var_os("SSMM_ALLOW_NO_ARM64").is_some_and(|v| v == "1") => {
            eprintln!("SSMM_ARM64_BIN unset and SSMM_ALLOW_NO_ARM64=1: aarch64 test not run");
            None
        }
        None => panic!(
            "SSMM_ARM64_BIN is not set: run scripts/test (it runs scripts/release, which \
             builds target/aarch64-unknown-linux-musl/release/ssmm), or set \
             SSMM_ARM64_BIN=$(cat target/static-bin-path-aarch64-unknown-linux-musl); \
             SSMM_ALLOW_NO_ARM64=1 acknowledges not testing it"
        ),
    }
}

/// The emulator's path; missing is a failure with the fix.
fn qemu() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(QEMU))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{QEMU} not found: install Debian's qemu-user-static (scripts/setup)")
        })
}

/// `t.ssmm(args)` run by the aarch64 binary under qemu.
fn on_arm64<I, S>(t: &Test, bin: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    t.ssmm(args).launched_by(qemu(), bin)
}

// ---- the binary itself -------------------------------------------------------

/// From the ELF header and program headers: (e_machine, has PT_INTERP). A
/// static-pie binary has a PT_DYNAMIC segment (for its own relocations) but
/// no interpreter and nothing to load.
fn elf_facts(bytes: &[u8]) -> (u16, bool) {
    assert!(
        bytes.len() > 64 && &bytes[..4] == b"\x7fELF",
        "not an ELF file"
    );
    assert_eq!(bytes[4], 2, "not a 64-bit ELF");
    assert_eq!(bytes[5], 1, "not little-endian");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(32) as usize, u16_at(54) as usize, u16_at(56));
    const PT_INTERP: u32 = 3;
    let interp = (0..phnum as usize).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP);
    (u16_at(18), interp)
}

#[test]
fn the_aarch64_binary_is_static_and_says_the_crate_version() {
    let Some(bin) = arm64_bin() else { return };
    let (machine, interp) = elf_facts(&fs::read(&bin).unwrap());
    const EM_AARCH64: u16 = 183;
    assert_eq!(
        machine,
        EM_AARCH64,
        "{} is not an aarch64 binary",
        bin.display()
    );
    assert!(
        !interp,
        "{} has a program interpreter: not static",
        bin.display()
    );
    let out = Ssmm::with_program(qemu()).arg(&bin).arg("--version").run();
    out.success();
    assert_eq!(
        out.stdout.trim(),
        format!("ssmm {}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
}

// ---- sync: every format ------------------------------------------------------

/// Values that exercise each encoder's escaping while every format can
/// still hold them (docker's has no newline and no wrapping quotes).
fn seeded() -> Test {
    Test::new()
        .param("shared/region-name", "eu-west-1 (shared)")
        .param("api/db-pass", "p@ss \"w0rd\" `x` $HOME\\ #1")
        .param("api/greeting", "grüße, 'world'")
        .plain("api/port", "8080")
}

const FORMATS: [&str; 5] = ["systemd", "shell", "docker", "dotenv", "json"];

#[test]
fn sync_writes_every_format_exactly_as_the_native_build_does() {
    let Some(bin) = arm64_bin() else { return };
    let t = seeded();
    for format in FORMATS {
        let args = |out: &str| {
            ["sync", "--app", "api", "--format", format, "--out", out].map(String::from)
        };
        let native = format!("native.{format}");
        let arm = format!("arm64.{format}");
        t.ssmm(args(&native)).success().go();
        on_arm64(&t, &bin, args(&arm)).success().go();
        assert_eq!(
            t.read(&arm),
            t.read(&native),
            "--format {format}: the aarch64 binary wrote something else"
        );
    }
    // And what they wrote is right, not merely the same: sh reads it back.
    let vars = sh_source(&t.path("arm64.systemd"));
    assert_eq!(vars["DB_PASS"], "p@ss \"w0rd\" `x` $HOME\\ #1");
    assert_eq!(vars["GREETING"], "grüße, 'world'");
    assert_eq!(vars["REGION_NAME"], "eu-west-1 (shared)");
    assert_eq!(vars["PORT"], "8080");
}

#[test]
fn sync_writes_credentials_directories_plain_and_encrypted() {
    let Some(bin) = arm64_bin() else { return };
    let t = seeded();
    on_arm64(
        &t,
        &bin,
        [
            "sync",
            "--app",
            "api",
            "--format",
            "credentials",
            "--out",
            "creds",
        ],
    )
    .success()
    .go();
    assert_eq!(t.read("creds/PORT"), "8080");
    assert_eq!(t.read("creds/DB_PASS"), "p@ss \"w0rd\" `x` $HOME\\ #1");
    // systemd-creds is a child: it runs natively, fed by the emulated ssmm.
    on_arm64(
        &t,
        &bin,
        ["sync", "--app", "api", "--format", "credentials-encrypted"],
    )
    .args(["--out", "enc", "--creds-key", "host"])
    .success()
    .go();
    let out = std::process::Command::new("systemd-creds")
        .args(["decrypt", "--name=GREETING"])
        .arg(t.path("enc/GREETING"))
        .arg("-")
        .output()
        .expect("systemd-creds (scripts/setup installs the systemd package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "grüße, 'world'");
}

// ---- exec ------------------------------------------------------------------------

#[test]
fn exec_resolves_an_ssm_reference_and_passes_the_exit_code() {
    let Some(bin) = arm64_bin() else { return };
    let t = seeded().param("elsewhere/token", "tok-from-a-reference");
    let out = on_arm64(&t, &bin, ["exec", "--app", "api", "--", "sh", "-c"])
        .arg("env -0; exit 7")
        .env("TOKEN", format!("ssm:{}", t.name("elsewhere/token")))
        .reveals_all()
        .code(7)
        .go();
    let env = env0(&out.stdout);
    assert_eq!(env["TOKEN"], "tok-from-a-reference");
    assert_eq!(env["DB_PASS"], "p@ss \"w0rd\" `x` $HOME\\ #1");
    assert_eq!(env["PORT"], "8080");
}

// ---- --init as PID 1 -------------------------------------------------------------

/// `unshare --pid --fork --mount-proc qemu-aarch64-static BIN ARGS` with
/// signal dispositions reset first, as `init::in_pid_namespace` does.
fn arm64_in_pid_namespace(t: &Test, bin: &Path, args: &[String]) -> Ssmm {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (unshare --pid): run it as root, e.g. in the CI container"
    );
    Ssmm::with_program("/usr/bin/env")
        .endpoint(&t.endpoint())
        .args(["--default-signal", "/usr/bin/unshare"])
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(qemu())
        .arg(bin)
        .args(["--prefix", t.prefix()])
        .args(args)
}

/// The namespace's PID 1, as seen from here: the emulator running ssmm,
/// the one child of `unshare`, in a PID namespace of its own.
#[track_caller]
fn namespace_init(unshare: u32, bin: &Path) -> u32 {
    let kids = children_of(unshare);
    assert_eq!(kids.len(), 1, "unshare {unshare} has children {kids:?}");
    let init = kids[0];
    let cmdline = fs::read(format!("/proc/{init}/cmdline")).unwrap_or_default();
    let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    assert!(
        argv.len() > 1 && argv[1] == bin.as_os_str().as_encoded_bytes(),
        "unshare's child is not {QEMU} running {}: {:?}",
        bin.display(),
        String::from_utf8_lossy(&cmdline)
    );
    assert_ne!(pid_ns(init), pid_ns(unshare), "not in a new PID namespace");
    init
}

#[test]
fn init_as_pid_1_forwards_signals_and_passes_the_exit_code() {
    let Some(bin) = arm64_bin() else { return };
    let t = seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = r#"d="$1"
for s in TERM HUP USR1; do trap "echo $s >> '$d/got'" $s; done
echo "$PPID" > "$d/ppid"
echo "$PORT" > "$d/port"
echo ready > "$d/ready"
while [ ! -e "$d/done" ]; do sleep 0.05; done
exit 42"#;
    let mut args: Vec<String> = ["exec", "--init", "--app", "api", "--"]
        .map(String::from)
        .to_vec();
    args.extend(sh(script, d));
    let mut running = arm64_in_pid_namespace(&t, &bin, &args).spawn();
    wait_for_file(&d.join("ready"), &mut running);
    assert_eq!(
        fs::read_to_string(d.join("ppid")).unwrap().trim(),
        "1",
        "ssmm is not PID 1"
    );
    assert_eq!(fs::read_to_string(d.join("port")).unwrap().trim(), "8080");
    let init = namespace_init(running.pid(), &bin);
    for (sig, name) in [
        (Signal::SIGTERM, "TERM"),
        (Signal::SIGHUP, "HUP"),
        (Signal::SIGUSR1, "USR1"),
    ] {
        kill(Pid::from_raw(init as i32), sig).unwrap();
        wait_for_line(&d.join("got"), name, &mut running);
    }
    fs::write(d.join("done"), "").unwrap();
    let out = running.wait();
    out.code(42);
    assert_eq!(
        fs::read_to_string(d.join("got")).unwrap(),
        "TERM\nHUP\nUSR1\n"
    );
}

#[test]
fn init_as_pid_1_reports_a_child_killed_by_a_forwarded_sigterm_as_143() {
    let Some(bin) = arm64_bin() else { return };
    let t = seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = r#"echo ready > "$1/ready"; while :; do sleep 0.05; done"#;
    let mut args: Vec<String> = ["exec", "--init", "--app", "api", "--"]
        .map(String::from)
        .to_vec();
    args.extend(sh(script, d));
    let mut running = arm64_in_pid_namespace(&t, &bin, &args).spawn();
    wait_for_file(&d.join("ready"), &mut running);
    let init = namespace_init(running.pid(), &bin);
    kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
    running.wait().code(143);
}

// ---- files -----------------------------------------------------------------------

#[test]
fn url_files_download_and_verify_their_sha256() {
    let Some(bin) = arm64_bin() else { return };
    let body = "listen 8080;\nserver_name api;\n";
    let server = Server::routes(&[("/conf/nginx.conf?sig=abc", Reply::new(200, body))]);
    // sha256 of `body`, computed here by the test's own (native) code.
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(body.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let url = server.url("/conf/nginx.conf?sig=abc");
    let t = seeded()
        .param(
            "api/files/etc/nginx.conf",
            &format!("url:{url}#sha256={digest}"),
        )
        .param("api/files/etc/plain.txt", "inline");
    on_arm64(
        &t,
        &bin,
        ["sync", "--app", "api", "--root", "root", "--out", "app.env"],
    )
    .file("root/etc/nginx.conf", body)
    .file("root/etc/plain.txt", "inline")
    .success()
    .go();
    assert_eq!(server.hits("/conf/nginx.conf?sig=abc"), 1);
}
