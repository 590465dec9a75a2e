//! Entry point: parse the command line, run the command, turn the result
//! into an exit code. Nothing else lives here.

use clap::Parser;

fn main() {
    let cli = ssmm::cli::Cli::parse();
    std::process::exit(ssmm::run(cli));
}
