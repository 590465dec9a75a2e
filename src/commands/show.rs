//! `ssmm show KEY`: print one parameter's decrypted value. With `check
//! --show-values`, the only command meant to reveal a value (SPEC §5).

use super::admin;
use crate::cli::{GlobalArgs, ShowArgs};
use crate::config;
use crate::error::{Error, Result};
use crate::output;
use crate::ssm::Purpose;

pub fn run(g: &GlobalArgs, args: &ShowArgs) -> Result<()> {
    let cwd = config::current_dir()?;
    let prefix = admin::prefix(g)?;
    let name = admin::key_name(g, &cwd, &prefix, &args.key, "show")?;
    let wanted = name.as_str();
    let found = admin::on_ssm(g, Purpose::Read, |client| async move {
        Ok(client.get_one(wanted).await?)
    })?;
    let Some(param) = found else {
        return Err(Error::Runtime(anyhow::anyhow!(
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
