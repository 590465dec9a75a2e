//! `ssmm show KEY`: print one parameter's decrypted value. With `check
//! --show-values`, the only command meant to reveal a value (docs/CONTRACT.md §5).

use super::admin;
use crate::cli::ShowArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output;
use crate::ssm::Purpose;

pub fn run(cfg: &Config, args: &ShowArgs) -> Result<()> {
    let prefix = cfg.team.prefix()?;
    let name = admin::key_name(cfg, &prefix, &args.key, "show")?;
    let wanted = name.as_str();
    let found = admin::on_ssm(cfg, Purpose::Read, |client| async move {
        Ok(client.get_one(wanted).await?)
    })?;
    let Some(param) = found else {
        return Err(Error::runtime(format!(
            "parameter {} not found",
            crate::names::printable(&name)
        )));
    };
    if args.json {
        output::json(&serde_json::json!({
            "name": param.name,
            "type": param.kind.as_str(),
            "value": param.value.expose(),
        }));
    } else {
        output::line(param.value.expose());
    }
    Ok(())
}
