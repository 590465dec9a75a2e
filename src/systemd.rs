//! The systemd units of `ssmm systemd` and `ssmm onboard`
//! (docs/CONTRACT.md §3 "systemd units"): unit names by systemd's rules,
//! arguments quoted the way systemd reads a command line, and the text of
//! the drop-ins and of the oneshot unit. Pure: nothing here reads the
//! environment, talks to SSM or writes a file.
//!
//! How systemd reads a command line (`ExecStart=` and friends, systemd.service(5)
//! "Command lines"), and so how an argument that must arrive as it is gets
//! written ([`quote_arg`]):
//! - `%` starts a specifier (`%t`, `%n`): a literal one is `%%`;
//! - `$NAME` and `${NAME}` are replaced from the unit's environment when the
//!   command starts: a literal `$` is `$$`;
//! - words are split at spaces; double quotes keep one together, and inside
//!   them `\` escapes (`\"`, `\\`, C escapes such as `\n`);
//! - a lone `;` word separates two commands.
//!
//! Values never reach a unit: only variable names, paths, the prefix or
//! cluster, and app names.

use std::path::{Path, PathBuf};

use crate::names;

/// systemd's `UNIT_NAME_MAX` (256, with the NUL).
pub const UNIT_NAME_MAX: usize = 255;

/// The unit types systemd knows: a name ending `.<type>` names that type.
const UNIT_TYPES: [&str; 11] = [
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// Where a `--user` unit's runtime files go: `%t` is `$XDG_RUNTIME_DIR`.
const USER_RUNTIME: &str = "%t";
/// Where a system unit's env file goes: tmpfs.
const SYSTEM_RUNTIME: &str = "/run";
/// Where credentials mode keeps the encrypted files (systemd's own
/// credential store directory).
pub const CREDSTORE: &str = "/etc/credstore.encrypted";

/// How a service gets its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// `ExecStartPre=` runs `ssmm sync` into /run/ssmm/UNIT/env (tmpfs),
    /// read with `EnvironmentFile=`
    Sync,
    /// `ExecStart=` becomes `ssmm exec -- CMD` (--exec-cmd): no file
    Exec,
    /// A oneshot ssmm-UNIT.service writes systemd-creds encrypted files;
    /// `LoadCredentialEncrypted=` gives them to the service
    Credentials,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Exec => "exec",
            Mode::Credentials => "credentials",
        }
    }
}

/// A service unit's full name (`api.service`, `app@blue.service`), valid
/// by systemd's rules; see [`parse_unit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitName(String);

impl UnitName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without `.service`.
    pub fn stem(&self) -> &str {
        self.0.strip_suffix(".service").unwrap_or(&self.0)
    }

    /// The oneshot of credentials mode: `ssmm-<stem>.service`.
    pub fn helper(&self) -> String {
        format!("ssmm-{}", self.0)
    }

    /// The drop-in, relative to the unit directory.
    pub fn drop_in(&self) -> PathBuf {
        Path::new(&format!("{}.d", self.0)).join("ssmm.conf")
    }
}

impl std::fmt::Display for UnitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// systemd's unit name characters (`VALID_CHARS_WITH_AT`).
fn is_unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '\\' | '-' | '@')
}

/// A UNIT argument -> the service it names. systemd's rules: at most 255
/// characters of `A-Z a-z 0-9 : _ . \ - @`, a name before the suffix, and
/// an instance after an `@` (a bare template such as `foo@.service` is not
/// a unit that runs). A name without a unit type suffix gets `.service`
/// (as `systemctl` does); another type (`.socket`, `.timer`) is refused:
/// ssmm writes service drop-ins. Stricter than systemd in one way: a name
/// may not start with `.` (systemd would take `..` as `...service`).
pub fn parse_unit(raw: &str) -> Result<UnitName, String> {
    if raw.is_empty() {
        return Err("a unit name cannot be empty".into());
    }
    if let Some(c) = raw.chars().find(|c| !is_unit_char(*c)) {
        return Err(format!(
            "unit names use only A-Z a-z 0-9 and : _ . \\ - @ (not {})",
            names::quoted(&c.to_string())
        ));
    }
    if raw.starts_with('.') {
        return Err("a unit name cannot start with '.'".into());
    }
    if let Some(unit) = raw.strip_suffix(".d") {
        return Err(format!(
            "a drop-in directory's name: give the unit's ({unit})"
        ));
    }
    let name = match raw.rsplit_once('.') {
        Some((_, "service")) => raw.to_string(),
        Some((_, kind)) if UNIT_TYPES.contains(&kind) => {
            return Err(format!(
                "a .{kind} unit: ssmm writes drop-ins for services (NAME or NAME.service)"
            ));
        }
        _ => format!("{raw}.service"),
    };
    let stem = &name[..name.len() - ".service".len()];
    if stem.is_empty() {
        return Err("no name before .service".into());
    }
    if name.len() > UNIT_NAME_MAX {
        return Err(format!(
            "{} characters: systemd allows a unit name at most {UNIT_NAME_MAX}",
            name.len()
        ));
    }
    match stem.split_once('@') {
        Some(("", _)) => Err("a unit name cannot start with '@'".into()),
        Some((template, "")) => Err(format!(
            "{name} is a template, not a unit that runs: name an instance, such as {template}@NAME.service"
        )),
        _ => Ok(UnitName(name)),
    }
}

/// Characters a `--ssmm-path` may hold: none that systemd would read
/// specially in a command's first word.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-' | '+' | '@' | ':' | ',' | '=')
}

/// `--ssmm-path`: the ssmm a unit runs. Absolute (systemd needs it, and a
/// relative path would depend on the directory the command was run in),
/// and of plain characters only, so it is written as is.
pub fn parse_ssmm_path(raw: &str) -> Result<PathBuf, String> {
    if !raw.starts_with('/') {
        return Err("must be an absolute path (systemd runs it from no directory of yours)".into());
    }
    if raw.ends_with(" (deleted)") {
        return Err("the binary was replaced or deleted since it started; give --ssmm-path".into());
    }
    if raw.ends_with('/') {
        return Err("names a directory: give the ssmm binary's path".into());
    }
    if let Some(c) = raw.chars().find(|c| !is_path_char(*c)) {
        return Err(format!(
            "use a path of A-Z a-z 0-9 and / _ . - + @ : , = only (not {})",
            names::quoted(&c.to_string())
        ));
    }
    Ok(PathBuf::from(raw))
}

/// `--exec-cmd`: the service's command line, one string written as it is
/// after `ssmm exec --`, in systemd's syntax (see the module docs). Refused:
/// an empty one, control characters (a newline would end the directive),
/// unbalanced quotes, a trailing backslash, a lone `;` (a second command),
/// and a `%` that starts no specifier (systemd would drop the whole line).
pub fn parse_exec_cmd(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("the command is empty".into());
    }
    if raw.chars().any(char::is_control) {
        return Err(
            "the command holds a control character (a newline, a tab...): write it on one line, with spaces"
                .into(),
        );
    }
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(n) if n == '%' || n.is_ascii_alphabetic() => {}
                _ => {
                    return Err(
                        "a % that starts no specifier: write %% for a literal % (systemd reads %t, %n... as specifiers)"
                            .into(),
                    );
                }
            }
        }
    }
    let words = split_words(raw)?;
    if words.iter().any(|w| w.raw == ";") {
        return Err(
            "a lone ; would start a second command: write \\; for a literal semicolon".into(),
        );
    }
    Ok(raw.to_string())
}

/// What an accepted `--exec-cmd` does that may surprise: each `$NAME` that
/// systemd replaces before ssmm runs. One message per name, in order.
pub fn exec_cmd_notes(cmd: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let bytes = cmd.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        let rest = &cmd[i + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            notes.push(format!(
                "--exec-cmd: systemd replaces ${name} from the unit's own environment when the service starts, before ssmm runs: SSM parameters are not seen there. Write $$ for a literal $; to pass a parameter as an argument, run the command through /bin/sh -c '... \"$${name}\"'"
            ));
        }
        i += 1;
    }
    notes
}

/// One word of a command line as systemd splits it.
#[derive(Debug, PartialEq, Eq)]
struct Word {
    /// As written (quotes and escapes included).
    raw: String,
}

/// Split a command line at unquoted spaces, as systemd's
/// `extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)` does, to find
/// what it would refuse: an unbalanced quote, a trailing backslash.
fn split_words(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut raw = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if c == ' ' && quote.is_none() {
                break;
            }
            chars.next();
            raw.push(c);
            match (c, quote) {
                ('\\', _) => match chars.next() {
                    Some(n) => raw.push(n),
                    None => return Err("the command ends with a backslash".into()),
                },
                ('"' | '\'', None) => quote = Some(c),
                (q, Some(open)) if q == open => quote = None,
                _ => {}
            }
        }
        if quote.is_some() {
            return Err("the command has an unbalanced quote".into());
        }
        words.push(Word { raw });
    }
}

/// Whether `c` is written as is in an unquoted argument.
fn is_plain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '=' | '@' | '+' | ',' | '-')
}

/// One argument that must reach the command exactly as it is, as a word of
/// a systemd command line: plain ones as they are, anything else in double
/// quotes with `\` and `"` escaped, `%` doubled (specifiers), `$` doubled
/// (environment variables) and control characters as C escapes.
pub fn quote_arg(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(is_plain_char) {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path written into a unit setting that expands specifiers but does
/// not unescape (`EnvironmentFile=`, the path of `LoadCredentialEncrypted=`):
/// `%` doubled. Unit names hold no `%`; this keeps it so whatever comes.
fn setting_path(path: &str) -> String {
    path.replace('%', "%%")
}

/// A unit name in a command line argument, where `\` is an escape: the
/// runtime path of a user unit is written with its `%t` specifier, so it
/// cannot go through [`quote_arg`] as a whole.
fn command_path(path: &str) -> String {
    path.replace('\\', "\\\\").replace('%', "%%")
}

/// One file `ssmm systemd` writes, relative to the unit directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    pub rel: PathBuf,
    pub content: String,
}

/// Everything a unit needs, resolved: the command's options, the names in
/// effect and (credentials mode) the variables.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub unit: &'a UnitName,
    pub mode: Mode,
    pub user: bool,
    /// The ssmm binary the units run (absolute, plain: see
    /// [`parse_ssmm_path`]).
    pub ssmm: &'a Path,
    /// ssmm's options before the subcommand, each a literal argument:
    /// layout, prefix or cluster, apps, and what else shapes resolution.
    pub global: Vec<String>,
    /// The selection options after the subcommand, literal.
    pub select: Vec<String>,
    /// Exec mode: the service's command line, verbatim.
    pub exec_cmd: Option<&'a str>,
    /// Credentials mode: the variables to load, in order.
    pub vars: &'a [String],
    /// What the header says is in effect ("layout team, prefix /acme, app
    /// api"); names only.
    pub summary: String,
}

impl Spec<'_> {
    /// `ssmm GLOBAL SUBCOMMAND SELECT` plus `tail` (words already written
    /// in systemd syntax).
    fn command(&self, subcommand: &str, tail: &[String]) -> String {
        let mut words = vec![self.ssmm.to_string_lossy().into_owned()];
        words.extend(self.global.iter().map(|a| quote_arg(a)));
        words.push(subcommand.to_string());
        words.extend(self.select.iter().map(|a| quote_arg(a)));
        words.extend(tail.iter().cloned());
        words.join(" ")
    }

    fn header(&self, rel: &Path, about: &[&str]) -> String {
        let mut text = format!(
            "# {}: written by `ssmm systemd --mode {}` for {}.\n# {}. Generate it again rather than editing it.\n",
            rel.display(),
            self.mode.name(),
            self.unit,
            self.summary
        );
        for line in about {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// The env file of sync mode: `/run/ssmm/UNIT/env`, or `%t/ssmm/UNIT/env`
/// for a user unit (systemd's runtime directory specifier).
pub fn env_file(unit: &UnitName, user: bool) -> String {
    let base = if user { USER_RUNTIME } else { SYSTEM_RUNTIME };
    format!("{base}/ssmm/{unit}/env")
}

/// The directory of credentials mode's encrypted files.
pub fn credstore(unit: &UnitName) -> String {
    format!("{CREDSTORE}/{unit}")
}

/// The files for `spec`, in the order they are printed and written: the
/// oneshot (credentials mode) first, then the drop-in.
pub fn generate(spec: &Spec) -> Vec<UnitFile> {
    let unit = spec.unit;
    let rel = unit.drop_in();
    match spec.mode {
        Mode::Sync => {
            let env = env_file(unit, spec.user);
            // The user unit's path keeps its specifier: written by hand.
            let (prefix, out, setting, place, root) = if spec.user {
                let out = format!("{USER_RUNTIME}/ssmm/{}/env", command_path(unit.as_str()));
                (
                    "",
                    out,
                    env.clone(),
                    "(%t: the user's runtime directory, a tmpfs), never to a persistent disk",
                    "or a backup.",
                )
            } else {
                (
                    "+",
                    quote_arg(&env),
                    setting_path(&env),
                    "(a tmpfs), never to a persistent disk or a backup; '+' runs it as root",
                    "even with User=.",
                )
            };
            let mut text = spec.header(
                &rel,
                &[
                    &format!("Before every start, ssmm writes the environment to {env}"),
                    place,
                    &format!("{root} systemd reads EnvironmentFile= for ExecStartPre= too,"),
                    "before a first start has written it: '-' lets that pass.",
                ],
            );
            text.push_str("[Service]\n");
            text.push_str(&format!(
                "ExecStartPre={prefix}{}\n",
                spec.command("sync", &["--out".into(), out])
            ));
            text.push_str(&format!("EnvironmentFile=-{setting}\n"));
            vec![UnitFile { rel, content: text }]
        }
        Mode::Exec => {
            let cmd = spec.exec_cmd.unwrap_or_default();
            let mut text = spec.header(
                &rel,
                &[
                    "ssmm fetches the parameters as the service's user, then execve()s the",
                    "command with them (same PID, signals straight to it): no file is",
                    "written. The empty ExecStart= clears the unit's own command first.",
                ],
            );
            text.push_str("[Service]\nExecStart=\n");
            text.push_str(&format!(
                "ExecStart={}\n",
                spec.command("exec", &["--".into(), cmd.to_string()])
            ));
            vec![UnitFile { rel, content: text }]
        }
        Mode::Credentials => {
            let helper = unit.helper();
            let store = credstore(unit);
            let helper_rel = PathBuf::from(&helper);
            let mut oneshot = spec.header(
                &helper_rel,
                &[
                    &format!(
                        "Before every start of {unit}, writes one systemd-creds encrypted file"
                    ),
                    &format!("per variable to {store}/ (unchanged ones are kept)."),
                ],
            );
            oneshot.push_str(&format!(
                "[Unit]\nDescription=SSM parameters of {unit} as encrypted credentials (ssmm)\n\
                 Wants=network-online.target\nAfter=network-online.target\nBefore={unit}\n\n\
                 [Service]\nType=oneshot\nExecStart={}\n",
                spec.command(
                    "sync",
                    &[
                        "--format".into(),
                        "credentials-encrypted".into(),
                        "--out".into(),
                        quote_arg(&store),
                    ]
                )
            ));
            let mut drop_in = spec.header(
                &rel,
                &[
                    &format!("{helper} writes the credentials before every start; systemd"),
                    "decrypts them into $CREDENTIALS_DIRECTORY (not the environment).",
                    "The list below is the variables the layers held when this was",
                    "generated: one added since is not loaded, and one removed makes the",
                    "start fail, until the command is run again.",
                ],
            );
            drop_in.push_str(&format!(
                "[Unit]\nRequires={helper}\nAfter={helper}\n\n[Service]\n"
            ));
            for var in spec.vars {
                drop_in.push_str(&format!(
                    "LoadCredentialEncrypted={var}:{}/{var}\n",
                    setting_path(&store)
                ));
            }
            vec![
                UnitFile {
                    rel: helper_rel,
                    content: oneshot,
                },
                UnitFile {
                    rel,
                    content: drop_in,
                },
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's reading of one command line word, as far as [`quote_arg`]
    /// uses it: specifiers (`%%` only), then quotes and C escapes. `$$` is
    /// left for the exec-time substitution, as in systemd.
    fn systemd_word(word: &str) -> String {
        let word = word.replace("%%", "%");
        let mut out = String::new();
        let mut chars = word.chars();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' => match chars.next().unwrap() {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).collect();
                        out.push(u8::from_str_radix(&hex, 16).unwrap() as char);
                    }
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    other => out.push(other),
                },
                ' ' if !quoted => panic!("unquoted space in {word:?}"),
                c => out.push(c),
            }
        }
        out.replace("$$", "$")
    }

    #[test]
    fn unit_names_follow_systemd_rules() {
        for (raw, name) in [
            ("api", "api.service"),
            ("api.service", "api.service"),
            ("my.app", "my.app.service"),
            ("app@blue", "app@blue.service"),
            ("app@blue.service", "app@blue.service"),
            ("a:b_c-d\\x2de", "a:b_c-d\\x2de.service"),
            ("app@a@b.service", "app@a@b.service"),
        ] {
            assert_eq!(parse_unit(raw).unwrap().as_str(), name, "{raw}");
        }
        let long = "a".repeat(247);
        assert_eq!(parse_unit(&long).unwrap().as_str().len(), 255);
        for (raw, why) in [
            ("", "cannot be empty"),
            ("../../etc/passwd", "not \"/\""),
            ("foo bar", "not \" \""),
            ("a/b", "not \"/\""),
            ("a\nb", "not \"\\n\""),
            ("wéb", "not \"\\u{e9}\""),
            ("a.socket", "a .socket unit"),
            ("a.timer", "a .timer unit"),
            ("foo@.service", "foo@.service is a template"),
            ("foo@", "is a template"),
            ("@foo", "cannot start with '@'"),
            (".service", "cannot start with '.'"),
            ("..", "cannot start with '.'"),
            (
                "api.service.d",
                "a drop-in directory's name: give the unit's (api.service)",
            ),
            (&"a".repeat(248), "256 characters"),
        ] {
            let err = parse_unit(raw).unwrap_err();
            assert!(err.contains(why), "{raw:?}: {err}");
        }
    }

    #[test]
    fn names_derived_from_a_unit() {
        let u = parse_unit("app@blue").unwrap();
        assert_eq!(u.stem(), "app@blue");
        assert_eq!(u.helper(), "ssmm-app@blue.service");
        assert_eq!(u.drop_in(), Path::new("app@blue.service.d/ssmm.conf"));
        assert_eq!(env_file(&u, false), "/run/ssmm/app@blue.service/env");
        assert_eq!(env_file(&u, true), "%t/ssmm/app@blue.service/env");
    }

    #[test]
    fn ssmm_paths_must_be_absolute_and_plain() {
        assert_eq!(
            parse_ssmm_path("/usr/local/bin/ssmm").unwrap(),
            Path::new("/usr/local/bin/ssmm")
        );
        for (raw, why) in [
            ("ssmm", "absolute"),
            ("./ssmm", "absolute"),
            ("", "absolute"),
            ("/opt/my tools/ssmm", "not \" \""),
            ("/opt/100%/ssmm", "not \"%\""),
            ("/opt/$x/ssmm", "not \"$\""),
            ("/usr/bin/", "directory"),
            ("/tmp/ssmm (deleted)", "replaced or deleted"),
        ] {
            let err = parse_ssmm_path(raw).unwrap_err();
            assert!(err.contains(why), "{raw:?}: {err}");
        }
    }

    #[test]
    fn exec_commands_are_checked_not_changed() {
        for ok in [
            "/opt/api/bin/api --port 8080",
            "api",
            "/bin/sh -c 'exec api --db \"$$DB_URL\"'",
            "echo 100%% %n \\; done",
            "printf \"a b\" 'c d'",
            "  spaced  out  ",
        ] {
            assert_eq!(parse_exec_cmd(ok).unwrap(), ok);
        }
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("a\nb", "control character"),
            ("a\tb", "control character"),
            ("echo 100%", "a % that starts no specifier"),
            ("echo 100% done", "a % that starts no specifier"),
            ("echo \"open", "unbalanced quote"),
            ("echo 'open", "unbalanced quote"),
            ("echo end\\", "ends with a backslash"),
            ("a ; b", "a lone ;"),
        ] {
            let err = parse_exec_cmd(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        // Quoted or escaped, a semicolon is an argument.
        assert!(parse_exec_cmd("echo \";\" a;b").is_ok());
    }

    #[test]
    fn dollar_names_in_exec_commands_are_pointed_out() {
        assert!(exec_cmd_notes("/bin/api --x $$HOME 100$$").is_empty());
        let notes = exec_cmd_notes("/bin/api --db $DB_URL ${TOKEN}x $");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("$DB_URL"), "{}", notes[0]);
        assert!(notes[1].contains("$TOKEN"), "{}", notes[1]);
    }

    #[test]
    fn quoted_arguments_read_back_as_they_were() {
        for arg in [
            "/acme",
            "api",
            "env=prod",
            "",
            "a b",
            "100%",
            "%t",
            "$HOME",
            "${X}",
            "$$",
            "q\"uote",
            "back\\slash",
            "it's",
            ";",
            "nl\nx",
            "tab\tx",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}",
            "é 日本",
        ] {
            let q = quote_arg(arg);
            assert_eq!(systemd_word(&q), arg, "{arg:?} -> {q}");
            assert!(!q.chars().any(char::is_control), "{q:?}");
        }
        assert_eq!(quote_arg("/acme"), "/acme");
        assert_eq!(quote_arg("a b"), "\"a b\"");
        assert_eq!(quote_arg("100%"), "\"100%%\"");
        assert_eq!(quote_arg("$X"), "\"$$X\"");
    }

    fn spec<'a>(unit: &'a UnitName, mode: Mode, vars: &'a [String]) -> Spec<'a> {
        Spec {
            unit,
            mode,
            user: false,
            ssmm: Path::new("/usr/local/bin/ssmm"),
            global: [
                "--layout",
                "team",
                "--prefix",
                "/acme",
                "--app",
                "api",
                "--no-files",
            ]
            .map(String::from)
            .to_vec(),
            select: vec![],
            exec_cmd: Some("/opt/api/bin/api --port 8080"),
            vars,
            summary: "Layout team, prefix /acme, app api".into(),
        }
    }

    fn directives(files: &[UnitFile]) -> Vec<String> {
        files
            .iter()
            .flat_map(|f| f.content.lines())
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn each_mode_writes_its_directives() {
        let unit = parse_unit("api").unwrap();
        let vars = ["DB_PASSWORD".to_string(), "TOKEN".to_string()];
        let base = "/usr/local/bin/ssmm --layout team --prefix /acme --app api --no-files";
        let sync = generate(&spec(&unit, Mode::Sync, &[]));
        assert_eq!(sync.len(), 1);
        assert_eq!(sync[0].rel, Path::new("api.service.d/ssmm.conf"));
        assert_eq!(
            directives(&sync),
            [
                "[Service]".to_string(),
                format!("ExecStartPre=+{base} sync --out /run/ssmm/api.service/env"),
                "EnvironmentFile=-/run/ssmm/api.service/env".to_string(),
            ]
        );
        let mut user = spec(&unit, Mode::Sync, &[]);
        user.user = true;
        assert_eq!(
            directives(&generate(&user))[1..],
            [
                format!("ExecStartPre={base} sync --out %t/ssmm/api.service/env"),
                "EnvironmentFile=-%t/ssmm/api.service/env".to_string(),
            ]
        );
        assert_eq!(
            directives(&generate(&spec(&unit, Mode::Exec, &[]))),
            [
                "[Service]".to_string(),
                "ExecStart=".to_string(),
                format!("ExecStart={base} exec -- /opt/api/bin/api --port 8080"),
            ]
        );
        let creds = generate(&spec(&unit, Mode::Credentials, &vars));
        assert_eq!(creds[0].rel, Path::new("ssmm-api.service"));
        assert_eq!(
            directives(&creds),
            [
                "[Unit]".to_string(),
                "Description=SSM parameters of api.service as encrypted credentials (ssmm)".into(),
                "Wants=network-online.target".into(),
                "After=network-online.target".into(),
                "Before=api.service".into(),
                "[Service]".into(),
                "Type=oneshot".into(),
                format!(
                    "ExecStart={base} sync --format credentials-encrypted --out /etc/credstore.encrypted/api.service"
                ),
                "[Unit]".into(),
                "Requires=ssmm-api.service".into(),
                "After=ssmm-api.service".into(),
                "[Service]".into(),
                "LoadCredentialEncrypted=DB_PASSWORD:/etc/credstore.encrypted/api.service/DB_PASSWORD"
                    .into(),
                "LoadCredentialEncrypted=TOKEN:/etc/credstore.encrypted/api.service/TOKEN".into(),
            ]
        );
    }

    #[test]
    fn a_backslash_in_a_unit_name_is_escaped_in_command_lines_only() {
        let unit = parse_unit("a\\x2db").unwrap();
        let mut s = spec(&unit, Mode::Sync, &[]);
        let d = directives(&generate(&s));
        assert!(
            d[1].ends_with("--out \"/run/ssmm/a\\\\x2db.service/env\""),
            "{}",
            d[1]
        );
        assert_eq!(d[2], "EnvironmentFile=-/run/ssmm/a\\x2db.service/env");
        s.user = true;
        let d = directives(&generate(&s));
        assert!(
            d[1].ends_with("--out %t/ssmm/a\\\\x2db.service/env"),
            "{}",
            d[1]
        );
    }
}
