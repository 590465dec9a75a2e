//! The calls admin commands make besides reading layers: metadata listings,
//! single reads, writes, tags and deletes.
//!
//! Write errors show the service's error code and a fixed explanation, never
//! the service's message: SSM's ValidationException repeats the value it
//! refused ("Value '...' at 'value' failed to satisfy constraint").

use std::collections::{HashMap, HashSet};

use anyhow::anyhow;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{
    ParameterStringFilter, ParameterTier, ParameterType, ResourceTypeForTagging, Tag,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::{BATCH, Param, Ssm, explain, read_error, to_param};
use crate::names::printable;
use crate::secret::Secret;

/// A parameter's metadata from DescribeParameters (no value).
#[derive(Debug, Clone)]
pub struct Meta {
    pub name: String,
    pub kind: ParameterType,
    pub tier: ParameterTier,
    pub version: i64,
    /// RFC 3339 in UTC to the second (`2026-11-26T01:43:39Z`): one width,
    /// so text order is time order.
    pub last_modified: Option<String>,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub data_type: Option<String>,
}

/// One PutParameter call.
#[derive(Clone)]
pub struct PutRequest<'a> {
    pub name: &'a str,
    pub value: &'a Secret,
    pub kind: ParameterType,
    pub tier: ParameterTier,
    pub key_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub data_type: Option<&'a str>,
    pub overwrite: bool,
    /// Sent with the call when creating; SSM refuses tags with Overwrite.
    pub tags: &'a [(String, String)],
}

/// Why a write failed, for callers that treat "already exists" apart. Each
/// variant displays the whole message: operation, parameter and reason.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The name, escaped (`names::printable`).
    #[error("PutParameter {0}: it already exists (pass --overwrite to replace it)")]
    AlreadyExists(String),
    /// SSM answered with a refusal: nothing was written.
    #[error("{0}")]
    Refused(String),
    /// No answer was understood (timeout, cut-off or unreadable answer,
    /// dropped connection): the write may or may not have happened.
    #[error("{0}")]
    Unknown(String),
}

/// An SDK error from a write, safe to print: the error code plus our own
/// explanation for the common ones; the service's message is dropped.
pub fn describe_write<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let SdkError::ServiceError(se) = err else {
        return explain(err);
    };
    let Some(code) = se.err().code() else {
        return format!("unexpected HTTP {} answer", se.raw().status().as_u16());
    };
    let why = match code {
        "ValidationException" => {
            "SSM refused the request (a value over the tier's size limit, or an invalid name, tier or KMS key)"
        }
        "ParameterLimitExceeded" => "the account's parameter limit is reached",
        "ParameterMaxVersionLimitExceeded" => {
            "the parameter has 100 versions; delete old ones or the parameter first"
        }
        "HierarchyLevelLimitExceededException" => "the name has more than 15 levels",
        "HierarchyTypeMismatchException" => "the parameter's type cannot be changed",
        "InvalidKeyId" => "the KMS key is not valid for this parameter",
        "TooManyUpdates" => "too many concurrent updates to this parameter",
        "ParameterNotFound" => "it does not exist",
        "InvalidResourceId" => "it does not exist",
        "TooManyTagsError" => "it would have more than 50 tags",
        "AccessDeniedException" => "access denied",
        "UnsupportedParameterType" => "SSM does not support this parameter type here",
        "IncompatiblePolicyException" | "InvalidPolicyTypeException" => {
            "the parameter's policies do not allow this"
        }
        _ => return code.to_string(),
    };
    format!("{code}: {why}")
}

fn tag_list(tags: &[(String, String)]) -> anyhow::Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|_| anyhow!("invalid tag {}", crate::names::quoted(k)))
        })
        .collect()
}

/// RFC 3339 in UTC to the second (`2026-11-26T01:43:39Z`).
fn utc_seconds(d: &aws_smithy_types::DateTime) -> Option<String> {
    aws_smithy_types::DateTime::from_secs(d.secs())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .ok()
}

/// One version from GetParameterHistory. Its value is not kept: the answer
/// carries one (encrypted for a SecureString), and it goes nowhere.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: i64,
    /// As [`Meta::last_modified`].
    pub last_modified: Option<String>,
    /// The identity that wrote it (an ARN on AWS; moto says `N/A`).
    pub user: Option<String>,
    pub kind: ParameterType,
    pub tier: Option<ParameterTier>,
    pub labels: Vec<String>,
    pub key_id: Option<String>,
}

fn to_version(p: &aws_sdk_ssm::types::ParameterHistory) -> Version {
    Version {
        version: p.version(),
        last_modified: p.last_modified_date().and_then(utc_seconds),
        user: p.last_modified_user().map(str::to_string),
        kind: p.r#type().cloned().unwrap_or(ParameterType::String),
        tier: p.tier().cloned(),
        labels: p.labels().to_vec(),
        key_id: p.key_id().map(str::to_string),
    }
}

fn to_meta(p: &aws_sdk_ssm::types::ParameterMetadata) -> Option<Meta> {
    Some(Meta {
        name: p.name()?.to_string(),
        kind: p.r#type().cloned().unwrap_or(ParameterType::String),
        tier: p.tier().cloned().unwrap_or(ParameterTier::Standard),
        version: p.version(),
        last_modified: p.last_modified_date().and_then(utc_seconds),
        key_id: p.key_id().map(str::to_string),
        description: p.description().map(str::to_string),
        data_type: p.data_type().map(str::to_string),
    })
}

impl Ssm {
    /// Metadata of the parameters matching `filters` (DescribeParameters,
    /// paged until the token is absent).
    pub async fn describe_meta(
        &self,
        what: &str,
        filters: Vec<ParameterStringFilter>,
    ) -> anyhow::Result<Vec<Meta>> {
        let mut metas = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = self.describe_page(what, filters.clone(), token).await?;
            metas.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        crate::log::debug!("DescribeParameters {what}: {} parameters", metas.len());
        Ok(metas)
    }

    /// One DescribeParameters page (up to 50) and the next token, if any.
    pub(super) async fn describe_page(
        &self,
        what: &str,
        filters: Vec<ParameterStringFilter>,
        token: Option<String>,
    ) -> anyhow::Result<(Vec<Meta>, Option<String>)> {
        let _permit = self.limit.acquire().await?;
        let out = self
            .send("DescribeParameters", what, || {
                self.client
                    .describe_parameters()
                    .set_parameter_filters(Some(filters.clone()))
                    .max_results(50)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|e| read_error(format_args!("DescribeParameters {what}"), &e))?;
        let metas = out.parameters().iter().filter_map(to_meta).collect();
        Ok((metas, out.next_token.filter(|t| !t.is_empty())))
    }

    /// One parameter, decrypted; `None` when it does not exist.
    pub async fn get_one(&self, name: &str) -> anyhow::Result<Option<Param>> {
        let _permit = self.limit.acquire().await?;
        match self
            .send("GetParameter", name, || {
                self.client
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
            })
            .await
        {
            Ok(out) => Ok(out.parameter().and_then(to_param)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(read_error(
                format_args!("GetParameter {}", printable(name)),
                &e,
            )),
        }
    }

    /// Every version of `name`, oldest first (GetParameterHistory without
    /// decryption, paged until the token is absent); `None` when it does
    /// not exist.
    pub async fn history(&self, name: &str) -> anyhow::Result<Option<Vec<Version>>> {
        let mut versions = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let _permit = self.limit.acquire().await?;
            pages += 1;
            let out = match self
                .send("GetParameterHistory", name, || {
                    self.client
                        .get_parameter_history()
                        .name(name)
                        .with_decryption(false)
                        .max_results(50)
                        .set_next_token(token.clone())
                        .send()
                })
                .await
            {
                Ok(out) => out,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_parameter_not_found()) =>
                {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(read_error(
                        format_args!("GetParameterHistory {}", printable(name)),
                        &e,
                    ));
                }
            };
            versions.extend(out.parameters().iter().map(to_version));
            crate::log::trace!(
                "GetParameterHistory {} page {pages}: {} versions",
                printable(name),
                out.parameters().len()
            );
            match out.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        versions.sort_by_key(|v| v.version);
        crate::log::debug!(
            "GetParameterHistory {}: {} versions in {pages} pages",
            printable(name),
            versions.len()
        );
        Ok(Some(versions))
    }

    /// Version `version` of `name`, decrypted (GetParameter `name:N`);
    /// `None` when the parameter or that version does not exist.
    pub async fn get_version(&self, name: &str, version: i64) -> anyhow::Result<Option<Param>> {
        let _permit = self.limit.acquire().await?;
        let selector = format!("{name}:{version}");
        match self
            .send("GetParameter", &selector, || {
                self.client
                    .get_parameter()
                    .name(&selector)
                    .with_decryption(true)
                    .send()
            })
            .await
        {
            Ok(out) => Ok(out.parameter().and_then(to_param).map(|mut p| {
                p.name = name.to_string();
                p
            })),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_parameter_not_found() || s.is_parameter_version_not_found()
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(read_error(
                format_args!("GetParameter {}", printable(&selector)),
                &e,
            )),
        }
    }

    /// Which of `names` exist, with their types (GetParameters without
    /// decryption, batches of 10 in parallel: no kms:Decrypt needed, values
    /// are not used). `put --overwrite` keeps the type of what it replaces,
    /// so it needs the types before its first write.
    pub async fn existing(
        &self,
        names: &[String],
    ) -> anyhow::Result<HashMap<String, ParameterType>> {
        let batches = names.chunks(BATCH).map(|batch| async move {
            let _permit = self.limit.acquire().await?;
            let out = self
                .send("GetParameters", &batch[0], || {
                    self.client
                        .get_parameters()
                        .set_names(Some(batch.to_vec()))
                        .with_decryption(false)
                        .send()
                })
                .await
                .map_err(|e| {
                    read_error(format_args!("GetParameters {}", printable(&batch[0])), &e)
                })?;
            let invalid: HashSet<&String> = out.invalid_parameters().iter().collect();
            let types: HashMap<&str, &ParameterType> = out
                .parameters()
                .iter()
                .filter_map(|p| Some((p.name()?, p.r#type()?)))
                .collect();
            // A name neither refused nor answered with its type: the type to
            // keep is unknown, so nothing is written.
            batch
                .iter()
                .filter(|n| !invalid.contains(n))
                .map(|n| match types.get(n.as_str()) {
                    Some(kind) => Ok((n.clone(), (*kind).clone())),
                    None => Err(anyhow!(
                        "GetParameters {}: the answer does not give the type of {}",
                        printable(&batch[0]),
                        printable(n)
                    )),
                })
                .collect::<anyhow::Result<Vec<_>>>()
        });
        let found = futures_util::future::try_join_all(batches).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// PutParameter; the version it wrote. Tags go with the call when
    /// creating; with `overwrite` they must be added separately (SSM refuses
    /// both together).
    pub async fn put(&self, req: &PutRequest<'_>) -> Result<i64, WriteError> {
        let tags = if req.overwrite || req.tags.is_empty() {
            None
        } else {
            Some(tag_list(req.tags).map_err(|e| WriteError::Refused(e.to_string()))?)
        };
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|e| WriteError::Refused(e.to_string()))?;
        let result = self
            .send("PutParameter", req.name, || {
                self.client
                    .put_parameter()
                    .name(req.name)
                    .value(req.value.expose())
                    .r#type(req.kind.clone())
                    .tier(req.tier.clone())
                    .set_key_id(
                        (req.kind == ParameterType::SecureString)
                            .then(|| req.key_id.map(str::to_string))
                            .flatten(),
                    )
                    .set_description(req.description.map(str::to_string))
                    .set_data_type(req.data_type.map(str::to_string))
                    .overwrite(req.overwrite)
                    .set_tags(tags.clone())
                    .send()
            })
            .await;
        match result {
            Ok(out) => Ok(out.version()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_already_exists()) =>
            {
                Err(WriteError::AlreadyExists(printable(req.name)))
            }
            Err(e) => {
                let msg = format!(
                    "PutParameter {}: {}",
                    printable(req.name),
                    describe_write(&e)
                );
                Err(match e {
                    SdkError::ServiceError(_) => WriteError::Refused(msg),
                    _ => WriteError::Unknown(msg),
                })
            }
        }
    }

    /// `put`'s write, sure of its outcome. Creates the parameter (its tags
    /// sent with the call) or, when `req.overwrite` says it existed,
    /// replaces it and then tags it (SSM refuses tags with Overwrite).
    /// Returns whether an existing parameter was replaced.
    ///
    /// A write whose answer was lost is read back: one that landed is a
    /// success, one that did not is reported as of unknown outcome, never
    /// as "not written". A parameter created since the caller's existence
    /// check (by someone else, or by this very call when an attempt whose
    /// answer was lost was retried) counts as created when it holds our
    /// value, is replaced with `may_replace`, and refused otherwise.
    pub async fn put_confirmed(
        &self,
        req: PutRequest<'_>,
        may_replace: bool,
    ) -> Result<bool, String> {
        let existed = req.overwrite;
        let replaced = match self.put(&req).await {
            Ok(_) => existed,
            Err(e @ WriteError::AlreadyExists(_)) if !existed => {
                if self.holds(&req).await {
                    false
                } else if may_replace {
                    let again = PutRequest {
                        overwrite: true,
                        ..req.clone()
                    };
                    let r = self.put(&again).await;
                    self.settle(&again, r, true).await?
                } else {
                    return Err(e.to_string());
                }
            }
            r => self.settle(&req, r, existed).await?,
        };
        if replaced && !req.tags.is_empty() {
            self.add_tags(req.name, req.tags)
                .await
                .map_err(|e| format!("written, but tagging failed: {e:#}"))?;
        }
        Ok(replaced)
    }

    /// Whether SSM now holds exactly `req`'s value and type.
    async fn holds(&self, req: &PutRequest<'_>) -> bool {
        matches!(
            self.get_one(req.name).await,
            Ok(Some(p)) if p.value == *req.value && p.kind == req.kind
        )
    }

    /// The result of a write whose answer may have been lost.
    async fn settle(
        &self,
        req: &PutRequest<'_>,
        result: Result<i64, WriteError>,
        replaced: bool,
    ) -> Result<bool, String> {
        match result {
            Ok(_) => Ok(replaced),
            Err(WriteError::Unknown(msg)) => {
                if self.holds(req).await {
                    Ok(replaced)
                } else {
                    Err(format!(
                        "{msg}; whether it was written is unknown (check with `ssmm show` or `ssmm list`)"
                    ))
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn add_tags(&self, name: &str, tags: &[(String, String)]) -> anyhow::Result<()> {
        let _permit = self.limit.acquire().await?;
        let list = tag_list(tags)?;
        self.send("AddTagsToResource", name, || {
            self.client
                .add_tags_to_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .set_tags(Some(list.clone()))
                .send()
        })
        .await
        .map_err(|e| {
            anyhow!(
                "AddTagsToResource {}: {}",
                printable(name),
                describe_write(&e)
            )
        })?;
        Ok(())
    }

    pub async fn remove_tags(&self, name: &str, keys: &[String]) -> anyhow::Result<()> {
        let _permit = self.limit.acquire().await?;
        self.send("RemoveTagsFromResource", name, || {
            self.client
                .remove_tags_from_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .set_tag_keys(Some(keys.to_vec()))
                .send()
        })
        .await
        .map_err(|e| {
            anyhow!(
                "RemoveTagsFromResource {}: {}",
                printable(name),
                describe_write(&e)
            )
        })?;
        Ok(())
    }

    /// The parameter's tags, sorted by key.
    pub async fn list_tags(&self, name: &str) -> anyhow::Result<Vec<(String, String)>> {
        let _permit = self.limit.acquire().await?;
        let out = self
            .send("ListTagsForResource", name, || {
                self.client
                    .list_tags_for_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(name)
                    .send()
            })
            .await
            .map_err(|e| {
                anyhow!(
                    "ListTagsForResource {}: {}",
                    printable(name),
                    describe_write(&e)
                )
            })?;
        let mut tags: Vec<(String, String)> = out
            .tag_list()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// DeleteParameters for up to 10 names: (deleted, not found).
    pub async fn delete_batch(
        &self,
        names: &[String],
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let _permit = self.limit.acquire().await?;
        let out = self
            .send(
                "DeleteParameters",
                names.first().map_or("-", String::as_str),
                || {
                    self.client
                        .delete_parameters()
                        .set_names(Some(names.to_vec()))
                        .send()
                },
            )
            .await
            .map_err(|e| {
                anyhow!(
                    "DeleteParameters {} (and {} more): {}",
                    names.first().map_or("-".to_string(), |n| printable(n)),
                    names.len().saturating_sub(1),
                    describe_write(&e)
                )
            })?;
        Ok((
            out.deleted_parameters().to_vec(),
            out.invalid_parameters().to_vec(),
        ))
    }
}
