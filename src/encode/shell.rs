//! The `shell` format: `export KEY="value"` lines, for `eval "$(cat FILE)"` or `. FILE`.
//!
//! The quoting is the `systemd` format's (see `systemd.rs`): inside double
//! quotes only `\`, `"`, `` ` `` and `$` are escaped, which is exactly the set a
//! POSIX shell treats specially there, so sh, dash and bash read every value
//! back byte for byte. `export` makes the variables reach child processes
//! without `set -a`.
//!
//! Only NUL is refused: unlike systemd, shells take Unicode noncharacters.
//! (`$(cat FILE)` strips trailing newlines of the whole file, which end after
//! the closing quote, never inside a value.)

use super::{EncodeError, Format, check_common, systemd};

pub(super) fn encode(vars: &[(&str, &str)]) -> Result<String, EncodeError> {
    let mut out = String::new();
    for &(key, value) in vars {
        check_common(Format::Shell, key, value)?;
        out.push_str("export ");
        systemd::push_assignment(&mut out, key, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_the_systemd_lines_with_export() {
        let out = encode(&[("A", "x\ny"), ("B", r#"$HOME "q" `id` \"#)]).unwrap();
        assert_eq!(
            out,
            "export A=\"x\ny\"\nexport B=\"\\$HOME \\\"q\\\" \\`id\\` \\\\\"\n"
        );
    }

    #[test]
    fn accepts_noncharacters_that_only_systemd_rejects() {
        assert_eq!(
            encode(&[("A", "\u{FFFF}")]).unwrap(),
            "export A=\"\u{FFFF}\"\n"
        );
    }
}
