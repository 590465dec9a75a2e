//! The SSM client: SDK configuration (region, profile, endpoint, retry,
//! timeouts), a concurrency limit shared by every call, pagination, batches
//! of 10, and error messages that name the operation and path but never a
//! value. Values leave this module wrapped in `Secret`.

mod admin;
pub mod credentials;
mod errors;
mod pacing;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use aws_config::BehaviorVersion;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::Region;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::log;
use crate::secret::Secret;

pub use admin::{Meta, PutRequest, Version, WriteError, describe_write};
pub use errors::{explain, read_error};

/// How to reach SSM; see `ssm::connect`.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub read_concurrency: usize,
    pub write_concurrency: usize,
    pub max_attempts: u32,
    /// `None`: each purpose's default (standard for reads, adaptive for writes).
    pub retry_mode: Option<RetryMode>,
    /// One request attempt, connecting included.
    pub attempt_timeout: std::time::Duration,
    /// All of a command's fetching, retries included.
    pub total_timeout: std::time::Duration,
}

/// The SDK's retry modes (`--retry-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetryMode {
    Standard,
    Adaptive,
}

/// How a layer is read (`--fetch-strategy`): GetParametersByPath pages,
/// DescribeParameters names then GetParameters batches, or by-path first
/// and describe for the rest of a long layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FetchStrategy {
    #[default]
    ByPath,
    Describe,
    Auto,
}
pub use stats::Stats;

/// GetParametersByPath, GetParameters and DeleteParameters take at most 10.
pub const BATCH: usize = 10;

/// Base of a read's backoff after retryable errors other than throttling
/// (5xx, resets, timeouts): these are not about load, so retry quickly.
/// Throttling is not retried by the SDK for reads: [`pacing`] sends those
/// again.
const READ_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Cap of the SDK's backoff (writes' throttling, every call's other errors).
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long past `--total-timeout` a blocked runtime thread is waited for.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// Whether a client reads (fast retries, standard mode) or writes (adaptive
/// mode by default, docs/CONTRACT.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Read,
    Write,
}

/// One parameter as read from SSM.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: Secret,
    pub kind: ParameterType,
}

/// A shared SSM client with a concurrency limit and call statistics.
#[derive(Clone)]
pub struct Ssm {
    client: Client,
    limit: Arc<Semaphore>,
    pub stats: Arc<Stats>,
    /// Read clients: throttled calls are sent again at this pace.
    pacer: Option<Arc<pacing::Pacer>>,
}

/// Build the client. Credentials are resolved lazily by the SDK's default
/// chain on the first call (environment first, so nothing is probed when
/// they are given there); with `--profile`, that profile first and the
/// environment's keys only as its `credential_source`
/// ([`credentials::profile_first`]).
pub async fn connect(s: &AwsSettings, purpose: Purpose) -> Result<Ssm, Error> {
    let mode = s.retry_mode.unwrap_or(match purpose {
        Purpose::Read => RetryMode::Standard,
        Purpose::Write => RetryMode::Adaptive,
    });
    let retry = match mode {
        RetryMode::Standard => RetryConfig::standard(),
        RetryMode::Adaptive => RetryConfig::adaptive(),
    }
    .with_max_attempts(s.max_attempts)
    .with_max_backoff(MAX_BACKOFF);
    let retry = if purpose == Purpose::Read {
        // The retry spec carries the base for errors other than throttling,
        // which the SDK does not retry for reads (`NoThrottleRetries`).
        // `v2_0` is the SDK's current retry behaviour in every other respect.
        retry.with_retry_spec(
            aws_smithy_types::retry::RetrySpec::v2_0()
                .with_non_throttling_initial_backoff(READ_ERROR_BACKOFF),
        )
    } else {
        retry
    };
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(s.attempt_timeout))
        .operation_attempt_timeout(s.attempt_timeout)
        .build();

    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry.clone())
        .timeout_config(timeouts.clone());
    if let Some(region) = &s.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &s.profile {
        loader = loader.profile_name(profile);
    }
    credentials::remember(s.profile.as_deref());
    credentials::check_files().map_err(|e| Error::Runtime(anyhow::Error::new(e)))?;
    if let Some(url) = &s.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let started = Instant::now();
    let shared = loader.load().await;
    if shared.region().is_none_or(|r| r.as_ref().is_empty()) {
        return Err(Error::usage(
            "no AWS region configured: pass --region or set AWS_REGION",
        ));
    }
    log::debug!(
        "SDK configured in {} ms (region {}, retry {:?} x{})",
        started.elapsed().as_millis(),
        shared.region().map(|r| r.as_ref()).unwrap_or("?"),
        mode,
        s.max_attempts
    );
    let stats = Arc::new(Stats::default());
    let mut conf =
        aws_sdk_ssm::config::Builder::from(&shared).interceptor(stats::Counter(stats.clone()));
    if purpose == Purpose::Read {
        conf = conf.retry_classifier(pacing::NoThrottleRetries);
    }
    if let Some(profile) = &s.profile {
        conf = conf.credentials_provider(credentials::profile_first(
            profile, &shared, retry, timeouts,
        ));
    }
    let conf = conf.build();
    let limit = match purpose {
        Purpose::Read => s.read_concurrency,
        Purpose::Write => s.write_concurrency,
    };
    Ok(Ssm {
        client: Client::from_conf(conf),
        limit: Arc::new(Semaphore::new(limit.max(1))),
        stats,
        pacer: (purpose == Purpose::Read).then(Default::default),
    })
}

fn to_param(p: &aws_sdk_ssm::types::Parameter) -> Option<Param> {
    Some(Param {
        name: p.name()?.to_string(),
        value: Secret::new(p.value().unwrap_or_default()),
        kind: p.r#type().cloned().unwrap_or(ParameterType::String),
    })
}

impl Ssm {
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One call (`op`, on `what`), tracked as pending while it runs. On a
    /// read client a throttled call is sent again after the pacer's gap,
    /// for as long as it takes: `--total-timeout` (the enclosing
    /// [`within`]) ends it, and names it with how often it was throttled.
    /// `--max-attempts` bounds the SDK's retries of the other errors.
    async fn send<T, E, Fut>(
        &self,
        op: &str,
        what: impl std::fmt::Display,
        mut call: impl FnMut() -> Fut,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let pending = crate::pending::track(format!("{op} {what}"));
        let Some(pacer) = &self.pacer else {
            return call().await;
        };
        let mut throttles = 0u32;
        loop {
            let ticket = pacer.wait();
            if !ticket.wait.is_zero() {
                tokio::time::sleep(ticket.wait).await;
            }
            let result = call().await;
            match &result {
                Err(e) if errors::is_throttling(e) => {
                    throttles += 1;
                    pacer.throttled(ticket);
                    self.stats.resent(op);
                    let times = if throttles == 1 { "time" } else { "times" };
                    let how = format!("throttled {throttles} {times}, last: {}", explain(e));
                    log::trace!("{op} {what}: {how}");
                    pending.note(how);
                }
                // SSM answered (a service error is an answer too).
                Ok(_) | Err(SdkError::ServiceError(_)) => {
                    pacer.answered(ticket);
                    return result;
                }
                Err(_) => return result,
            }
        }
    }

    /// Every parameter under `path` (decrypted), read with `strategy`.
    pub async fn read_tree(
        &self,
        path: &str,
        recursive: bool,
        strategy: FetchStrategy,
    ) -> anyhow::Result<Vec<Param>> {
        match strategy {
            FetchStrategy::ByPath => self.get_by_path(path, recursive).await,
            FetchStrategy::Describe => self.get_described(path, recursive, Vec::new()).await,
            FetchStrategy::Auto => {
                // One page answers most layers; a longer one switches to the
                // parallel strategy for the rest.
                let (first, token) = self.by_path_page(path, recursive, None, 1).await?;
                match token {
                    None => Ok(first),
                    Some(_) => self.get_described(path, recursive, first).await,
                }
            }
        }
    }

    /// Every parameter under `path` (decrypted), following NextToken until it
    /// is absent: a page may be empty and still carry a token.
    pub async fn get_by_path(&self, path: &str, recursive: bool) -> anyhow::Result<Vec<Param>> {
        let mut params = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            pages += 1;
            let (got, next) = self.by_path_page(path, recursive, token, pages).await?;
            params.extend(got);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        log::debug!(
            "GetParametersByPath {path}: {} parameters in {pages} pages",
            params.len()
        );
        Ok(params)
    }

    /// One GetParametersByPath page and the token of the next, if any.
    async fn by_path_page(
        &self,
        path: &str,
        recursive: bool,
        token: Option<String>,
        page: usize,
    ) -> anyhow::Result<(Vec<Param>, Option<String>)> {
        let _permit = self.limit.acquire().await?;
        let started = Instant::now();
        let out = self
            .send("GetParametersByPath", path, || {
                self.client
                    .get_parameters_by_path()
                    .path(path)
                    .recursive(recursive)
                    .with_decryption(true)
                    .max_results(BATCH as i32)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|e| read_error(format_args!("GetParametersByPath {path}"), &e))?;
        let got: Vec<Param> = out.parameters().iter().filter_map(to_param).collect();
        log::trace!(
            "GetParametersByPath {path} page {page}: {} parameters in {} ms",
            got.len(),
            started.elapsed().as_millis()
        );
        let next = out.next_token.filter(|t| !t.is_empty());
        Ok((got, next))
    }

    /// The `describe` strategy: DescribeParameters pages list the names under
    /// `path` (50 a page on AWS), and each page's names are fetched at once
    /// with GetParameters batches of 10 running while the next page is
    /// listed. Names already in `have` are not fetched again.
    async fn get_described(
        &self,
        path: &str,
        recursive: bool,
        have: Vec<Param>,
    ) -> anyhow::Result<Vec<Param>> {
        let filters = path_filters(path, recursive, &[])?;
        let known: std::collections::HashSet<String> =
            have.iter().map(|p| p.name.clone()).collect();
        let mut batches = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let (metas, next) = self.describe_page(path, filters.clone(), token).await?;
            pages += 1;
            let fresh: Vec<String> = metas
                .into_iter()
                .map(|m| m.name)
                .filter(|n| !known.contains(n))
                .collect();
            for chunk in fresh.chunks(BATCH) {
                let ssm = self.clone();
                let chunk = chunk.to_vec();
                batches.push(tokio::spawn(async move {
                    let got = ssm.get_batch(&chunk).await?;
                    anyhow::Ok(got)
                }));
            }
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let mut params = have;
        for batch in batches {
            let got = batch.await.context("a GetParameters task failed")??;
            // `None`: deleted since it was listed; it is simply not there.
            params.extend(got.into_iter().flatten());
        }
        log::debug!(
            "DescribeParameters {path}: {} parameters in {pages} pages",
            params.len()
        );
        Ok(params)
    }

    /// Names of the parameters matching `filters` (DescribeParameters, paged).
    pub async fn describe_names(
        &self,
        what: &str,
        filters: Vec<ParameterStringFilter>,
    ) -> anyhow::Result<Vec<String>> {
        let metas = self.describe_meta(what, filters).await?;
        Ok(metas.into_iter().map(|m| m.name).collect())
    }

    /// GetParameters for `names` in batches of 10, run concurrently (bounded
    /// by the client's limit). Returns one slot per requested name, in order:
    /// `None` where SSM listed the name in InvalidParameters.
    ///
    /// Answers are matched to requests by name, and a batch whose answer
    /// names do not match (SSM answers `/aws/reference/secretsmanager/x`
    /// with `x`) falls back to matching by position.
    pub async fn get_many(&self, names: &[String]) -> anyhow::Result<Vec<Option<Param>>> {
        let batches = batches(names);
        let requests = batches.iter().map(|batch| async move {
            let batch: Vec<String> = batch.iter().map(|&i| names[i].clone()).collect();
            self.get_batch(&batch).await
        });
        let results = futures_util::future::try_join_all(requests).await?;
        let mut slots: Vec<Option<Param>> = names.iter().map(|_| None).collect();
        for (batch, result) in batches.iter().zip(results) {
            for (&i, param) in batch.iter().zip(result) {
                slots[i] = param;
            }
        }
        Ok(slots)
    }

    async fn get_batch(&self, batch: &[String]) -> anyhow::Result<Vec<Option<Param>>> {
        let _permit = self.limit.acquire().await?;
        let out = self
            .send("GetParameters", &batch[0], || {
                self.client
                    .get_parameters()
                    .set_names(Some(batch.to_vec()))
                    .with_decryption(true)
                    .send()
            })
            .await
            .map_err(|e| {
                read_error(
                    format_args!(
                        "GetParameters {} (and {} more)",
                        crate::names::printable(&batch[0]),
                        batch.len() - 1
                    ),
                    &e,
                )
            })?;
        let invalid = out.invalid_parameters();
        let mut answered: Vec<Param> = out.parameters().iter().filter_map(to_param).collect();
        let mut slots: Vec<Option<Param>> = Vec::with_capacity(batch.len());
        let mut unmatched = Vec::new();
        for (i, name) in batch.iter().enumerate() {
            if invalid.iter().any(|n| n == name) {
                slots.push(None);
            } else if let Some(pos) = answered.iter().position(|p| p.name == unselected(name)) {
                slots.push(Some(answered.swap_remove(pos)));
            } else {
                slots.push(None);
                unmatched.push(i);
            }
        }
        if unmatched.len() != answered.len() {
            return Err(anyhow!(
                "GetParameters {}: the answer does not match the request ({} unmatched names, {} unmatched parameters)",
                crate::names::printable(&batch[0]),
                unmatched.len(),
                answered.len()
            ));
        }
        // The remaining answers correspond to the remaining requests; SSM
        // keeps request order for them.
        for (slot, mut param) in unmatched.into_iter().zip(answered) {
            param.name = batch[slot].clone();
            slots[slot] = Some(param);
        }
        Ok(slots)
    }
}

/// `names` in GetParameters batches (indexes into `names`): at most
/// [`BATCH`] each, in order, and no two in one batch for the same parameter
/// (a name and its `:version` or `:label` forms): SSM answers with the
/// plain name, so within a batch each answer then has one request.
fn batches(names: &[String]) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let base = unselected(name);
        let free = batches
            .iter_mut()
            .find(|b| b.len() < BATCH && !b.iter().any(|&j| unselected(&names[j]) == base));
        match free {
            Some(batch) => batch.push(i),
            None => batches.push(vec![i]),
        }
    }
    batches
}

/// The parameter a GetParameters name asks for, without its `:version` or
/// `:label` (an ARN is left whole).
fn unselected(name: &str) -> &str {
    if name.starts_with("arn:") {
        return name;
    }
    name.rsplit_once(':').map_or(name, |(base, _)| base)
}

/// DescribeParameters filters for the parameters below `path` (recursively,
/// or its direct children) whose tags match every `K=V` of `tags`.
pub fn path_filters(
    path: &str,
    recursive: bool,
    tags: &[(String, String)],
) -> anyhow::Result<Vec<ParameterStringFilter>> {
    let mut filters = vec![
        ParameterStringFilter::builder()
            .key("Path")
            .option(if recursive { "Recursive" } else { "OneLevel" })
            .values(path)
            .build()
            .context("building the Path filter")?,
    ];
    for (k, v) in tags {
        filters.push(
            ParameterStringFilter::builder()
                .key(format!("tag:{k}"))
                .values(v)
                .build()
                .context("building a tag filter")?,
        );
    }
    Ok(filters)
}

/// `block_on` with an overall limit (`--total-timeout`): past it, whatever
/// is in flight is dropped and the command fails.
pub fn block_on_within<T, F>(limit: Duration, fut: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = T>,
{
    let _watchdog = watchdog(limit, true);
    block_on(within(limit, fut))?
}

/// Ends the process (`fatal`) or warns, a little after `limit`, unless
/// dropped before. The timer of [`within`] needs the runtime's one thread;
/// a read the SDK makes synchronously on it (its profile, token and SSO
/// cache files: a FIFO with no writer blocks forever) stops that timer
/// too. A watch is never ended this way: its check only warns, and the
/// command it supervises keeps running.
pub fn watchdog(limit: Duration, fatal: bool) -> Watchdog {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            watch.recv_timeout(limit + WATCHDOG_GRACE)
        {
            let shown = crate::units::format_duration(limit);
            let e = Error::Runtime(match credentials::timed_out(&shown) {
                Some(none) => anyhow::Error::new(none),
                None => anyhow::Error::new(crate::error::Outage(format!(
                    "gave up after {shown} (--total-timeout): ssmm was blocked reading a file"
                ))),
            });
            if fatal {
                log::error_line(&e.render());
                std::process::exit(e.exit_code());
            }
            log::warning!(
                "a check is stuck: {}; no further check will run",
                e.message()
            );
        }
    });
    Watchdog(done)
}

/// See [`watchdog`]; dropping it calls the watchdog off.
pub struct Watchdog(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

/// `fut`, or an error naming what was still pending when `limit` passed
/// (a credential source that never answered: exit 2; else an outage).
pub async fn within<T, F>(limit: Duration, fut: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = T>,
{
    // Pinned here, so that what is still in flight is still tracked when
    // the limit passes and can be named.
    let mut fut = std::pin::pin!(fut);
    tokio::time::timeout(limit, fut.as_mut()).await.map_err(|_| {
        let shown = crate::units::format_duration(limit);
        if let Some(none) = credentials::timed_out(&shown) {
            return anyhow::Error::new(none);
        }
        let text = match crate::pending::summary() {
            Some(what) => format!(
                "gave up after {shown} (--total-timeout): SSM or a download did not finish in time; still pending: {what}"
            ),
            None => format!(
                "gave up after {shown} (--total-timeout): SSM or a download did not finish in time"
            ),
        };
        anyhow::Error::new(crate::error::Outage(text))
    })
}

/// Run `fut` on a current-thread runtime that is dropped before returning,
/// so nothing async outlives fetching (STYLE: async is an implementation
/// detail).
pub fn block_on<F: std::future::Future>(fut: F) -> anyhow::Result<F::Output> {
    Ok(runtime()?.block_on(fut))
}

/// A current-thread runtime with timers and I/O.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_never_asks_for_one_parameter_twice() {
        let names: Vec<String> = ["/a", "/a:3", "/b", "/a:live", "/c:2"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..12).map(|i| format!("/n{i}")))
            .collect();
        let batches = batches(&names);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..names.len()).collect::<Vec<_>>());
        for batch in &batches {
            assert!(batch.len() <= BATCH);
            let mut bases: Vec<&str> = batch.iter().map(|&i| unselected(&names[i])).collect();
            bases.sort();
            let n = bases.len();
            bases.dedup();
            assert_eq!(bases.len(), n, "{batch:?}");
        }
        assert_eq!(batches.len(), 3);
        assert_eq!(unselected("/a/b:3"), "/a/b");
        assert_eq!(unselected("/a/b"), "/a/b");
        assert_eq!(
            unselected("arn:aws:ssm:r:1:parameter/a"),
            "arn:aws:ssm:r:1:parameter/a"
        );
    }
}
