//! `ssmm completions SHELL` and `ssmm man`: generated from the clap
//! definition, so they always match `--help`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Error, Result};
use crate::output;

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "ssmm", &mut buf);
    output::bytes(&buf);
    Ok(())
}

pub fn man() -> Result<()> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::runtime(format!("rendering the man page: {e}")))?;
    output::bytes(&buf);
    Ok(())
}
