//! Turning SDK errors into one-line messages that are safe to print: the
//! service's error code and message for service errors (for reads these echo
//! names, never values), the transport cause for connection failures, and
//! only the HTTP status for responses that could not be parsed (their bodies
//! may hold values).

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
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
        SdkError::ResponseError(re) => format!(
            "could not read the answer (HTTP {})",
            re.raw().status().as_u16()
        ),
        SdkError::ConstructionFailure(_) => "could not build the request".to_string(),
        _ => "unknown SDK error".to_string(),
    }
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
