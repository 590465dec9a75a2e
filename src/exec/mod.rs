//! Starting the wrapped command of `ssmm exec`: a PATH lookup like execvp's,
//! done by ssmm itself so that "not found" (127) and "not executable" (126)
//! are reported before anything starts, then either `execve` in place (the
//! default: CMD keeps ssmm's PID) or fork and supervise (`--init`, see
//! `supervise.rs`). Messages name the command or a variable, never a value.

mod env;
mod supervise;

pub use env::{Reference, child_env, references, select};

pub use supervise::{Supervision, Update, supervise, supervise_watching};

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::AccessFlags;

use crate::error::{Error, exit};

/// The search path when the child's environment has no `PATH`. glibc's
/// built-in default omits /usr/local/bin, where container images usually
/// put their programs.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Finds `program` like execvp: a name containing `/` is used as is,
/// otherwise each directory of `path` (the `PATH` the child will get;
/// [`DEFAULT_PATH`] when `None`) is tried in order, an empty entry meaning
/// the current directory. A candidate that exists but cannot be executed is
/// remembered and the search goes on, as execvp does; directories are
/// skipped. Not found: 127; found but not executable: 126.
pub fn resolve_program(program: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, Error> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        return Err(exec_error(exit::NOT_FOUND, &shown, "command not found"));
    }
    if program.as_bytes().contains(&b'/') {
        let candidate = PathBuf::from(program);
        return match check(&candidate) {
            Ok(()) => Ok(candidate),
            Err(Problem::Missing) => Err(exec_error(
                exit::NOT_FOUND,
                &shown,
                "command not found (no such file or directory)",
            )),
            Err(problem) => Err(problem.into_error(&shown)),
        };
    }
    let path = path.unwrap_or(DEFAULT_PATH.as_ref());
    let mut unusable = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(Problem::Missing | Problem::Directory) => {}
            Err(problem) => {
                unusable.get_or_insert(problem);
            }
        }
    }
    Err(match unusable {
        Some(problem) => problem.into_error(&shown),
        None => exec_error(exit::NOT_FOUND, &shown, "command not found"),
    })
}

/// Everything about starting `argv` with `env` that can be known before
/// anything is written: the command is found in the `PATH` of `env` and
/// executable (127/126), and the arguments and environment fit execve.
pub fn check_runnable(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<(), Error> {
    find_program(argv, env)?;
    check_size(argv, env)
}

/// `argv[0]` looked up in the `PATH` of `env`.
fn find_program(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<PathBuf, Error> {
    let Some(first) = argv.first() else {
        return Err(Error::usage("exec: no command given"));
    };
    let path = env
        .iter()
        .find(|(k, _)| k.as_bytes() == b"PATH")
        .map(|(_, v)| v.as_os_str());
    resolve_program(first, path)
}

/// The longest one argument or `NAME=value` string may be, its NUL
/// included (Linux's MAX_ARG_STRLEN: 32 pages of 4 KiB).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// How much room execve has for the arguments and the environment: a
/// quarter of the stack limit, at most three quarters of 8 MiB, at least
/// 128 KiB (Linux's rule in `bprm_stack_limits`).
fn exec_room() -> usize {
    const FLOOR: usize = 128 * 1024;
    const CEILING: usize = 6 * 1024 * 1024;
    let stack = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
        .map(|(soft, _)| soft)
        .unwrap_or(nix::sys::resource::RLIM_INFINITY);
    let quarter = usize::try_from(stack / 4).unwrap_or(usize::MAX);
    quarter.clamp(FLOOR, CEILING)
}

/// Refuses, before anything is written, a command line and environment
/// too large for execve (E2BIG): one string over 128 KiB (naming the
/// variable, never its value), or all of them over the room execve has.
/// Exit 126, as execve's own E2BIG would give, but with nothing written.
pub fn check_size(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<(), Error> {
    let shown = argv
        .first()
        .map(|a| a.to_string_lossy())
        .unwrap_or_default();
    let too_long = |what: String, len: usize| {
        exec_error(
            exit::NOT_EXECUTABLE,
            &shown,
            &format!(
                "cannot execute: {what} is {len} bytes, over the {MAX_ARG_STRLEN} bytes Linux allows one argument or variable (E2BIG); nothing was written or started"
            ),
        )
    };
    let ptr = std::mem::size_of::<*const libc::c_char>();
    let mut total = 0usize;
    for (i, a) in argv.iter().enumerate() {
        let len = a.len() + 1;
        if len > MAX_ARG_STRLEN {
            return Err(too_long(format!("argument {i}"), len));
        }
        total += len + ptr;
    }
    for (k, v) in env {
        let len = k.len() + 1 + v.len() + 1;
        if len > MAX_ARG_STRLEN {
            return Err(too_long(
                format!(
                    "the variable {}",
                    crate::names::printable(&k.to_string_lossy())
                ),
                len,
            ));
        }
        total += len + ptr;
    }
    let room = exec_room();
    if total > room {
        return Err(exec_error(
            exit::NOT_EXECUTABLE,
            &shown,
            &format!(
                "cannot execute: the arguments and environment take {total} bytes, over the {room} bytes execve allows here (E2BIG); nothing was written or started"
            ),
        ));
    }
    Ok(())
}

/// Replaces this process with `argv[0]` (resolved with the `PATH` of `env`)
/// and exactly `env` as its environment. Returns only on failure: 126/127
/// as [`resolve_program`] says, or a runtime error.
pub fn exec_replace(argv: &[OsString], env: &[(OsString, OsString)]) -> Error {
    let prepared = match ExecImage::new(argv, env) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Anything still buffered would be lost with this process image.
    let _ = std::io::stdout().flush();
    // Rust ignores SIGPIPE before main, and an ignored signal stays ignored
    // across execve; CMD must start with the default, as
    // std::process::Command arranges for its children.
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installs SIG_DFL, no handler code involved.
    let old = unsafe { sigaction(Signal::SIGPIPE, &default) };
    let errno = prepared.execve();
    if let Ok(old) = old {
        // SAFETY: puts back the disposition read above.
        let _ = unsafe { sigaction(Signal::SIGPIPE, &old) };
    }
    let (code, reason) = prepared.failure(errno);
    exec_error(code, &prepared.shown, reason)
}

/// Everything execve needs, built before any fork so that the child only
/// makes async-signal-safe calls (no allocation) between fork and exec.
pub(crate) struct ExecImage {
    /// `argv[0]` as given, for messages.
    shown: String,
    program: CString,
    // The pointer arrays point into these CStrings' heap buffers, which stay
    // put when the vectors move; kept alive here for that reason.
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the pointer arrays point only into the CStrings this struct owns
// and moves with it; nothing else refers to them, so the whole image may be
// built on one thread and used on another.
unsafe impl Send for ExecImage {}

impl ExecImage {
    pub(crate) fn new(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<ExecImage, Error> {
        let resolved = find_program(argv, env)?;
        let program = CString::new(resolved.into_os_string().into_vec())
            .map_err(|_| Error::runtime("argument 0 of the command contains a NUL byte"))?;
        let argv = argv
            .iter()
            .enumerate()
            .map(|(i, a)| {
                CString::new(a.as_bytes()).map_err(|_| {
                    Error::runtime(format!("argument {i} of the command contains a NUL byte"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envp = env
            .iter()
            .map(|(k, v)| env_entry(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        Ok(ExecImage {
            shown: argv[0].to_string_lossy().into_owned(),
            program,
            _argv: argv,
            _envp: envp,
            argv_ptrs,
            envp_ptrs,
        })
    }

    /// Calls execve; returns its errno if it returns at all.
    /// Async-signal-safe, so usable between fork and exec.
    fn execve(&self) -> Errno {
        // SAFETY: every pointer is a NUL-terminated string owned by `self`,
        // and both arrays end with a null pointer.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.envp_ptrs.as_ptr(),
            )
        };
        Errno::last()
    }

    /// Exit code and reason for an execve failure. Async-signal-safe (static
    /// strings and one `access` call), so usable in a forked child.
    fn failure(&self, errno: Errno) -> (i32, &'static str) {
        match errno {
            Errno::ENOENT => {
                // SAFETY: `program` is a valid C string.
                let exists = unsafe { libc::access(self.program.as_ptr(), libc::F_OK) } == 0;
                if exists {
                    // The file is there: its #! interpreter or its ELF
                    // loader is not (a dynamic binary in a scratch image).
                    (
                        exit::NOT_EXECUTABLE,
                        "cannot execute: its interpreter or dynamic loader was not found",
                    )
                } else {
                    (exit::NOT_FOUND, "command not found")
                }
            }
            Errno::EACCES | Errno::EPERM => (exit::NOT_EXECUTABLE, "permission denied"),
            Errno::EISDIR => (exit::NOT_EXECUTABLE, "is a directory"),
            Errno::ENOEXEC => (
                exit::NOT_EXECUTABLE,
                "cannot execute: exec format error (a script needs a #! line)",
            ),
            Errno::E2BIG => (
                exit::NOT_EXECUTABLE,
                "cannot execute: argument list and environment too long",
            ),
            other => (exit::NOT_EXECUTABLE, other.desc()),
        }
    }
}

/// `KEY=VALUE` for envp; errors name the variable, never the value.
fn env_entry(key: &OsStr, value: &OsStr) -> Result<CString, Error> {
    let k = key.as_bytes();
    if k.is_empty() || k.contains(&b'=') || k.contains(&0) {
        return Err(Error::runtime(format!(
            "environment variable name {} is not valid",
            crate::names::quoted(&key.to_string_lossy())
        )));
    }
    let mut entry = Vec::with_capacity(k.len() + 1 + value.len());
    entry.extend_from_slice(k);
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    CString::new(entry).map_err(|_| {
        Error::runtime(format!(
            "environment variable {}: the value contains a NUL byte",
            crate::names::printable(&key.to_string_lossy())
        ))
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn exec_error(code: i32, shown: &str, reason: &str) -> Error {
    Error::Exec {
        code,
        msg: format!("{shown}: {reason}"),
    }
}

/// Why a candidate cannot be executed.
enum Problem {
    Missing,
    Directory,
    Denied,
    /// Not a regular file (a fifo, a device...): execve says EACCES.
    NotAFile,
    Other(Errno),
}

impl Problem {
    fn into_error(self, shown: &str) -> Error {
        match self {
            Problem::Missing => exec_error(exit::NOT_FOUND, shown, "command not found"),
            Problem::Directory => exec_error(exit::NOT_EXECUTABLE, shown, "is a directory"),
            Problem::Denied => exec_error(exit::NOT_EXECUTABLE, shown, "permission denied"),
            Problem::NotAFile => exec_error(
                exit::NOT_EXECUTABLE,
                shown,
                "permission denied (not a regular file)",
            ),
            Problem::Other(e) => exec_error(
                exit::NOT_EXECUTABLE,
                shown,
                &format!("cannot execute: {}", e.desc()),
            ),
        }
    }
}

/// What execve would say about `path`, as far as stat and access can tell.
fn check(path: &Path) -> Result<(), Problem> {
    let meta = std::fs::metadata(path).map_err(|e| {
        match Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)) {
            Errno::ENOENT | Errno::ENOTDIR => Problem::Missing,
            Errno::EACCES => Problem::Denied,
            other => Problem::Other(other),
        }
    })?;
    if meta.is_dir() {
        return Err(Problem::Directory);
    }
    if !meta.is_file() {
        return Err(Problem::NotAFile);
    }
    // access(X_OK) also fails on a noexec mount and, for root, when no
    // execute bit is set: the same answers execve would give.
    nix::unistd::access(path, AccessFlags::X_OK).map_err(|e| match e {
        Errno::EACCES | Errno::EPERM => Problem::Denied,
        other => Problem::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn code_and_msg(e: Error) -> (i32, String) {
        match e {
            Error::Exec { code, msg } => (code, msg),
            other => panic!("expected an exec error, got {other:?}"),
        }
    }

    #[test]
    fn finds_the_first_executable_in_path_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        script(a.path(), "tool", 0o644); // not executable: skipped
        let good = script(b.path(), "tool", 0o755);
        let path = format!("{}:{}", a.path().display(), b.path().display());
        let found = resolve_program("tool".as_ref(), Some(path.as_ref())).unwrap();
        assert_eq!(found, good);
    }

    #[test]
    fn default_path_is_used_without_path() {
        let found = resolve_program("sh".as_ref(), None).unwrap();
        assert!(found.ends_with("sh") && found.is_absolute(), "{found:?}");
    }

    #[test]
    fn missing_command_is_127_and_named() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().as_os_str();
        let (code, msg) =
            code_and_msg(resolve_program("no-such-tool".as_ref(), Some(path)).unwrap_err());
        assert_eq!(code, 127);
        assert_eq!(msg, "no-such-tool: command not found");
        let (code, msg) = code_and_msg(resolve_program("".as_ref(), Some(path)).unwrap_err());
        assert_eq!((code, msg.as_str()), (127, ": command not found"));
    }

    #[test]
    fn a_path_with_a_slash_is_not_searched() {
        let d = tempfile::tempdir().unwrap();
        let exe = script(d.path(), "tool", 0o755);
        // Found by its path even though PATH does not list the directory.
        assert_eq!(
            resolve_program(exe.as_os_str(), Some("/nonexistent".as_ref())).unwrap(),
            exe
        );
        let missing = d.path().join("absent");
        let (code, msg) = code_and_msg(resolve_program(missing.as_os_str(), None).unwrap_err());
        assert_eq!(code, 127);
        assert!(msg.contains("command not found"), "{msg}");
        // A name with a slash but no leading one is relative to the cwd.
        let (code, _) =
            code_and_msg(resolve_program("./surely-absent".as_ref(), None).unwrap_err());
        assert_eq!(code, 127);
    }

    #[test]
    fn not_executable_and_directories_are_126() {
        let d = tempfile::tempdir().unwrap();
        let plain = script(d.path(), "plain", 0o644);
        let (code, msg) = code_and_msg(resolve_program(plain.as_os_str(), None).unwrap_err());
        assert_eq!(code, 126);
        assert!(msg.ends_with("plain: permission denied"), "{msg}");

        let (code, msg) = code_and_msg(resolve_program(d.path().as_os_str(), None).unwrap_err());
        assert_eq!(code, 126);
        assert!(msg.ends_with(": is a directory"), "{msg}");

        // Found only as a non-executable file during the search: 126.
        let (code, msg) = code_and_msg(
            resolve_program("plain".as_ref(), Some(d.path().as_os_str())).unwrap_err(),
        );
        assert_eq!((code, msg.as_str()), (126, "plain: permission denied"));

        // A directory of that name in PATH is skipped, as execvp does.
        fs::create_dir(d.path().join("sub")).unwrap();
        let (code, _) =
            code_and_msg(resolve_program("sub".as_ref(), Some(d.path().as_os_str())).unwrap_err());
        assert_eq!(code, 127);

        let (code, msg) = code_and_msg(resolve_program("/dev/null".as_ref(), None).unwrap_err());
        assert_eq!(code, 126);
        assert!(msg.contains("not a regular file"), "{msg}");
    }

    #[test]
    fn empty_path_entries_mean_the_current_directory() {
        // chdir would disturb the other tests: do it in a forked copy.
        let d = tempfile::tempdir().unwrap();
        script(d.path(), "here-tool", 0o755);
        let code = supervise::tests::in_fork(|| {
            std::env::set_current_dir(d.path()).unwrap();
            match resolve_program("here-tool".as_ref(), Some("/nonexistent::".as_ref())) {
                Ok(p) if p == Path::new("./here-tool") => 0,
                _ => 1,
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn nul_bytes_are_reported_by_index_or_name_without_the_value() {
        let argv = vec![OsString::from("sh"), OsString::from("a\0secret")];
        let Err(e) = ExecImage::new(&argv, &[]) else {
            panic!("accepted a NUL in an argument")
        };
        let shown = e.to_string();
        assert!(shown.contains("argument 1"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");

        let env = vec![(OsString::from("TOKEN"), OsString::from("hunter2\0x"))];
        let Err(e) = ExecImage::new(&["sh".into()], &env) else {
            panic!("accepted a NUL in a value")
        };
        let shown = e.to_string();
        assert!(shown.contains("TOKEN"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");

        let env = vec![(OsString::from("A=B"), OsString::from("v"))];
        assert!(ExecImage::new(&["sh".into()], &env).is_err());
    }

    #[test]
    fn the_childs_path_is_used_for_the_lookup() {
        let d = tempfile::tempdir().unwrap();
        let exe = script(d.path(), "only-here", 0o755);
        let env = vec![(OsString::from("PATH"), d.path().as_os_str().to_owned())];
        let p = ExecImage::new(&["only-here".into()], &env).unwrap();
        assert_eq!(p.program.as_bytes(), exe.as_os_str().as_bytes());
        assert!(ExecImage::new(&["only-here".into()], &[]).is_err());
    }

    #[test]
    fn exec_failure_reasons() {
        let p = ExecImage::new(&["sh".into()], &[]).unwrap();
        assert_eq!(p.failure(Errno::EACCES).0, 126);
        assert_eq!(p.failure(Errno::ENOEXEC).0, 126);
        // sh exists, so ENOENT means a missing interpreter or loader.
        assert_eq!(p.failure(Errno::ENOENT).0, 126);
    }
}
