//! `ssmm rollback KEY --to-version N`: version N's value (read decrypted,
//! never printed), type, tier and KMS key written again as a new version
//! with PutParameter Overwrite. The versions before stay as they were,
//! labels included.

use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use super::admin;
use super::history::not_found;
use crate::cli::RollbackArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::names::printable;
use crate::output;
use crate::ssm::{Purpose, PutRequest, WriteError};

pub fn run(cfg: &Config, args: &RollbackArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let name = admin::key_name(cfg, &prefix, &args.key, "rollback")?;
    let shown = printable(&name);
    let wanted = args.to_version;
    let (name, shown) = (name.as_str(), shown.as_str());
    let (kind, tier, new) = admin::on_ssm(cfg, Purpose::Write, |client| async move {
        let Some(versions) = client.history(name).await? else {
            return Err(not_found(name));
        };
        let (Some(first), Some(current)) = (versions.first(), versions.last()) else {
            return Err(not_found(name));
        };
        let Some(old) = versions.iter().find(|v| v.version == wanted) else {
            return Err(Error::runtime(format!(
                "{shown} has no version {wanted} (it has versions {} to {})",
                first.version, current.version
            )));
        };
        let Some(param) = client.get_version(name, wanted).await? else {
            return Err(Error::runtime(format!(
                "{shown}: version {wanted} could not be read (GetParameter {shown}:{wanted} found none)"
            )));
        };
        let kind = old.kind.clone();
        // SSM cannot move an Advanced parameter back to Standard.
        let tier = match (&old.tier, &current.tier) {
            (_, Some(ParameterTier::Advanced)) => ParameterTier::Advanced,
            (Some(t), _) => t.clone(),
            (None, _) => ParameterTier::Standard,
        };
        if kind != current.kind {
            log::warning!(
                "{shown}: version {wanted} is a {}, the current version {} a {}: the new version is a {}",
                kind.as_str(),
                current.version,
                current.kind.as_str(),
                kind.as_str()
            );
        }
        let req = PutRequest {
            name,
            value: &param.value,
            kind: kind.clone(),
            tier: tier.clone(),
            key_id: if kind == ParameterType::SecureString {
                old.key_id.as_deref()
            } else {
                None
            },
            description: None,
            data_type: None,
            overwrite: true,
            tags: &[],
        };
        let new = client.put(&req).await.map_err(|e| match e {
            WriteError::Unknown(msg) => Error::runtime(format!(
                "{msg}; whether it was written is unknown (check with `ssmm history`)"
            )),
            other => Error::runtime(other.to_string()),
        })?;
        Ok((kind, tier, new))
    })?;
    output::line(&format!(
        "rolled back {shown} to version {wanted}'s value ({}, {}): now version {new}",
        kind.as_str(),
        tier.as_str()
    ));
    Ok(())
}
