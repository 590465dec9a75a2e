//! What a file parameter's value means: the bytes themselves, `base64:`
//! and its decoding, or `url:` and the rules a URL must pass before any
//! network access (the scheme rule, also applied to every redirect hop, and
//! the `#sha256=` fragment).

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use url::Url;

use super::{FileError, FileSpec};
use crate::http::shown;
use crate::names::printable;

pub(super) enum Source {
    Inline(Vec<u8>),
    Remote(Remote),
}

/// A checked `url:` target.
pub(super) struct Remote {
    /// Without the `#sha256=` fragment; the query is kept (it is the
    /// pre-signed credential) and never shown.
    pub(super) url: Url,
    /// scheme://host[:port]/path, the only form that reaches a message.
    pub(super) shown: String,
    pub(super) sha256: Option<[u8; 32]>,
}

pub(super) fn source_of(spec: &FileSpec) -> Result<Source, FileError> {
    let value = spec.value.expose();
    if let Some(encoded) = value.strip_prefix("base64:") {
        decode_base64(encoded)
            .map(Source::Inline)
            .map_err(|why| FileError::Base64 {
                param: printable(&spec.param),
                why,
            })
    } else if let Some(url) = value.strip_prefix("url:") {
        parse_remote(url)
            .map(Source::Remote)
            .map_err(|why| FileError::Url {
                param: printable(&spec.param),
                why,
            })
    } else {
        Ok(Source::Inline(value.as_bytes().to_vec()))
    }
}

/// Standard alphabet, padding optional, ASCII whitespace ignored (values
/// are often wrapped like PEM). The error never quotes the input.
fn decode_base64(encoded: &str) -> Result<Vec<u8>, String> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    ENGINE.decode(&compact).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _)
        | base64::DecodeError::InvalidLastSymbol { offset: at, .. } => {
            format!("invalid character at offset {at}, whitespace ignored")
        }
        base64::DecodeError::InvalidLength(_) => "truncated input".into(),
        base64::DecodeError::InvalidPadding => "invalid padding".into(),
    })
}

/// Parse and vet a `url:` value without any network access.
fn parse_remote(raw: &str) -> Result<Remote, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
    let sha256 = match url.fragment() {
        None => None,
        Some(frag) => {
            let hex = frag
                .strip_prefix("sha256=")
                .ok_or("the only fragment understood is #sha256=<64 hex digits>".to_owned())?;
            Some(parse_sha256(hex).ok_or("#sha256= needs exactly 64 hex digits".to_owned())?)
        }
    };
    url.set_fragment(None);
    allowed(&url, None)?;
    Ok(Remote {
        shown: shown(&url),
        url,
        sha256,
    })
}

/// The scheme rule, for the first URL and every redirect hop: `https`, or
/// `http` to a loopback host; and never from https down to http.
pub(super) fn allowed(url: &Url, previous: Option<&Url>) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if previous.is_some_and(|p| p.scheme() == "https") => {
            Err("a redirect from https:// to http:// is refused".into())
        }
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(
            "plain http:// is allowed only to loopback addresses (127.0.0.0/8, ::1, localhost); use https://"
                .into(),
        ),
        other => Err(format!(
            "scheme \"{}\" is not allowed; use https://",
            printable(other)
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Exactly 64 ASCII hex digits, either case. Checked digit by digit first:
/// `u8::from_str_radix` alone would take a leading `+` (`"+0"` is 0).
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_padding_optional_and_whitespace_ignored() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64(" aG\n k=\r\n").unwrap(), b"hi");
        assert_eq!(decode_base64("").unwrap(), b"");
        let err = decode_base64("aG-k").unwrap_err();
        assert!(!err.contains('-'), "{err}");
        assert!(decode_base64("a").is_err());
    }

    #[test]
    fn loopback_rule() {
        for ok in [
            "https://example.com/x",
            "http://127.0.0.1:9/x",
            "http://127.1.2.3/x",
            "http://[::1]:8/x",
            "http://localhost/x",
            "http://LOCALHOST/x",
        ] {
            assert!(parse_remote(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/x",
            "http://example.com/x",
            "http://localhost.example.com/x",
            "http://[::ffff:127.0.0.1]/x",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(parse_remote(bad).is_err(), "{bad}");
        }
        let https = Url::parse("https://a.example/").unwrap();
        let local = Url::parse("http://127.0.0.1/").unwrap();
        assert!(allowed(&local, Some(&https)).is_err(), "downgrade");
        assert!(allowed(&local, Some(&local)).is_ok());
    }

    #[test]
    fn sha256_fragment_is_stripped_and_checked() {
        let hex = "AB".repeat(32);
        let r = parse_remote(&format!("https://h.example/p?q=1#sha256={hex}")).unwrap();
        assert_eq!(r.sha256, Some([0xab; 32]));
        assert_eq!(r.url.as_str(), "https://h.example/p?q=1");
        assert_eq!(r.shown, "https://h.example/p");
        assert!(parse_remote("https://h.example/p#sha256=abc").is_err());
        assert!(parse_remote(&format!("https://h/p#sha256={}", "g".repeat(64))).is_err());
        assert!(parse_remote("https://h.example/p#md5=00").is_err());
    }

    #[test]
    fn sha256_with_a_plus_sign_is_not_hex() {
        // `u8::from_str_radix("+0", 16)` is Ok(0): every pair must be checked
        // as two hex digits, or `+0+0...` would pass for a digest of zeros.
        assert_eq!(parse_sha256(&"+0".repeat(32)), None);
        let mut digest = "0f".repeat(32);
        digest.replace_range(0..2, "+f");
        assert_eq!(parse_sha256(&digest), None);
        for bad in ["-0", " 0", "0 ", "0x", "g0"] {
            let hex = format!("{bad}{}", "00".repeat(31));
            assert_eq!(parse_sha256(&hex), None, "{hex:?}");
        }
        assert_eq!(parse_sha256(&"0f".repeat(32)), Some([0x0f; 32]));
        assert_eq!(parse_sha256(&"aB".repeat(32)), Some([0xab; 32]));
        let e = parse_remote(&format!("https://h.example/p#sha256={}", "+0".repeat(32)))
            .err()
            .unwrap();
        assert_eq!(e, "#sha256= needs exactly 64 hex digits");
    }

    #[test]
    fn shown_url_has_no_query_or_user_info() {
        let r = parse_remote("https://user:pw@h.example:8443/a/b?X-Amz-Signature=s3cr3t").unwrap();
        assert_eq!(r.shown, "https://h.example:8443/a/b");
    }
}
