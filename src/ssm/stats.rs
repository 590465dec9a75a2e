//! Counts SSM calls and attempts per operation through an SDK interceptor,
//! for `-v` summaries and the benchmarks' call accounting.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ssm::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_ssm::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpStats {
    /// Calls, each counted once however often it was sent.
    pub calls: u64,
    pub attempts: u64,
    /// Attempts answered with an HTTP error status (throttling, 5xx).
    pub failed_attempts: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    ops: Mutex<BTreeMap<String, OpStats>>,
}

impl Stats {
    fn bump(&self, cfg: &ConfigBag, f: impl FnOnce(&mut OpStats)) {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        if let Ok(mut ops) = self.ops.lock() {
            f(ops.entry(op).or_default());
        }
    }

    /// A throttled read that is sent again: one call, more attempts.
    pub fn resent(&self, op: &str) {
        if let Ok(mut ops) = self.ops.lock() {
            let s = ops.entry(op.to_string()).or_default();
            s.calls = s.calls.saturating_sub(1);
        }
    }

    /// Starts counting again from nothing (each `--watch` check counts its
    /// own calls).
    pub fn reset(&self) {
        if let Ok(mut ops) = self.ops.lock() {
            ops.clear();
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, OpStats> {
        self.ops.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// `GetParametersByPath=3 (4 attempts), GetParameters=1`
    pub fn summary(&self) -> String {
        let ops = self.snapshot();
        if ops.is_empty() {
            return "no API calls".to_string();
        }
        ops.iter()
            .map(|(op, s)| {
                if s.attempts > s.calls {
                    format!("{op}={} ({} attempts)", s.calls, s.attempts)
                } else {
                    format!("{op}={}", s.calls)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug)]
pub struct Counter(pub Arc<Stats>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "ssmm-call-counter"
    }

    // Operation metadata is in the config bag from the attempt phase on, so
    // calls are counted when they finish rather than when they start.
    fn read_after_execution(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.bump(cfg, |s| s.calls += 1);
        Ok(())
    }

    // After the credentials were had: a request got signed with them.
    fn read_after_signing(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        super::credentials::note_signed();
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.bump(cfg, |s| s.attempts += 1);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let failed = ctx
            .response()
            .map(|r| r.status().as_u16() >= 400)
            .unwrap_or(true);
        if failed {
            self.0.bump(cfg, |s| s.failed_attempts += 1);
        }
        Ok(())
    }
}
