//! Turning SDK errors into one-line messages that are safe to print: the
//! service's error code and message for service errors (for reads these echo
//! names, never values), the transport cause for connection failures, and
//! only the HTTP status for responses that could not be parsed (their bodies
//! may hold values), with whether the answer was cut off or was not SSM's JSON
//! at all.

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::Outage;

/// A read call's failure as an error: `what: <explain>`, marked as an
/// [`Outage`] when it is one (see [`is_outage`]).
pub fn read_error<E>(what: impl std::fmt::Display, err: &SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(none) = super::credentials::failure(err) {
        return anyhow::Error::new(none);
    }
    let text = format!("{what}: {}", explain(err));
    if is_outage(err) {
        anyhow::Error::new(Outage(text))
    } else {
        anyhow::Error::msg(text)
    }
}

/// Error codes SSM uses for "slow down".
const THROTTLING: [&str; 4] = [
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// SSM asked to slow down: a throttling code, or HTTP 429.
pub fn is_throttling<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 429 || throttling_code(se.err())
        }
        _ => false,
    }
}

/// The error's code is one of [`THROTTLING`].
fn throttling_code(e: &impl ProvideErrorMetadata) -> bool {
    e.code().is_some_and(|c| THROTTLING.contains(&c))
}

/// SSM unreachable, timing out, throttled, failing with 5xx, or an answer
/// cut off in transit. Not an outage: credentials that cannot be had,
/// AccessDenied and
/// every other 4xx, an answer that is not SSM's JSON (a wrong endpoint).
pub fn is_outage<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            se.raw().status().is_server_error() || throttling_code(se.err())
        }
        SdkError::TimeoutError(_) => true,
        // Connecting or talking failed (io) or took too long. Credentials
        // that cannot be had come as "other" dispatch failures: not ours
        // to ride out.
        SdkError::DispatchFailure(df) => df.is_io() || df.is_timeout(),
        SdkError::ResponseError(_) => {
            let mut cur = std::error::Error::source(err);
            while let Some(e) = cur {
                if e.downcast_ref::<std::io::Error>().is_some() {
                    return true;
                }
                cur = e.source();
            }
            false
        }
        _ => false,
    }
}

pub fn explain<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // Never the SDK's text for these: it can hold a process's output.
    if let Some(none) = super::credentials::failure(err) {
        return none.0;
    }
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let status = se.raw().status().as_u16();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) if !msg.is_empty() => {
                    format!("{code}: {}", crate::names::printable(msg))
                }
                (Some(code), _) => code.to_string(),
                (None, _) => format!("unexpected HTTP {status} answer"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(df) => {
            if df.is_timeout() {
                "timed out connecting".to_string()
            } else {
                match df.as_connector_error() {
                    Some(ce) => format!("request failed: {}", chain(ce)),
                    None => "request failed".to_string(),
                }
            }
        }
        SdkError::ResponseError(re) => unreadable(re.raw(), std::error::Error::source(err)),
        SdkError::ConstructionFailure(_) => "could not build the request".to_string(),
        _ => "unknown SDK error".to_string(),
    }
}

/// Why an answer could not be read, from what is safe to show: the status,
/// the kind of failure and the Content-Type, never the body nor the parser's
/// message (either may quote the body, and a read's body holds values).
///
/// The SDK retries a body that broke off mid-way (an I/O error while reading
/// it), but not a complete answer it could not parse, so the second is what a
/// captive portal or a wrong endpoint gives.
fn unreadable(raw: &HttpResponse, source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let status = raw.status().as_u16();
    let mut cur = source;
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>().is_some() {
            return format!(
                "the answer was cut off (HTTP {status}): the connection ended before all of it arrived"
            );
        }
        cur = e.source();
    }
    let kind = match raw.headers().get("content-type") {
        Some(ct) => {
            let mime = ct.split(';').next().unwrap_or_default().trim();
            let mime: String = mime.chars().take(60).collect();
            format!("Content-Type {}", crate::names::printable(&mime))
        }
        None => "no Content-Type".to_string(),
    };
    format!(
        "the answer was not SSM's JSON (HTTP {status}, {kind}): is the endpoint really SSM, or is a proxy or captive portal answering?"
    )
}

/// `a: b: c` from an error and its sources, skipping repeats (transport
/// errors often restate their cause).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    crate::names::printable(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    const SECRET: &str = "s3cret-value-in-the-body";

    fn response(content_type: Option<&str>) -> HttpResponse {
        let body = format!("{{\"Parameters\":[{{\"Value\":\"{SECRET}\"");
        let mut raw = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
        if let Some(ct) = content_type {
            raw.headers_mut().insert("content-type", ct.to_string());
        }
        raw
    }

    fn response_error(
        source: impl std::error::Error + Send + Sync + 'static,
        raw: HttpResponse,
    ) -> SdkError<GetParametersByPathError, HttpResponse> {
        SdkError::response_error(source, raw)
    }

    /// Stands in for the hyper error that wraps the I/O error of a body that
    /// ended early.
    #[derive(Debug)]
    struct BodyError(std::io::Error);

    impl std::fmt::Display for BodyError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error reading a body from connection")
        }
    }

    impl std::error::Error for BodyError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct ParseError;

    impl std::fmt::Display for ParseError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "unexpected token near {SECRET}")
        }
    }

    impl std::error::Error for ParseError {}

    #[test]
    fn a_body_that_ended_early_is_called_cut_off() {
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "IncompleteBody");
        let err = response_error(BodyError(eof), response(Some("application/x-amz-json-1.1")));
        let msg = explain(&err);
        assert_eq!(
            msg,
            "the answer was cut off (HTTP 200): the connection ended before all of it arrived"
        );
    }

    #[test]
    fn an_answer_that_is_not_json_says_so_with_its_content_type_but_not_its_body() {
        let err = response_error(ParseError, response(Some("text/html; charset=utf-8")));
        let msg = explain(&err);
        assert_eq!(
            msg,
            "the answer was not SSM's JSON (HTTP 200, Content-Type text/html): is the endpoint really SSM, or is a proxy or captive portal answering?"
        );
        let err = response_error(ParseError, response(None));
        let msg = explain(&err);
        assert!(msg.contains("(HTTP 200, no Content-Type)"), "{msg}");
        assert!(!msg.contains(SECRET), "{msg}");
    }

    #[test]
    fn a_long_content_type_is_shortened_and_escaped() {
        let long = format!("text/\"{}", "x".repeat(100));
        let err = response_error(ParseError, response(Some(&long)));
        let msg = explain(&err);
        assert!(msg.contains("Content-Type text/\\\""), "{msg}");
        assert!(!msg.contains(&"x".repeat(60)), "{msg}");
    }
}
