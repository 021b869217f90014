//! `infra-synth synth` — not built yet (see the open issues).

use std::process::ExitCode;

/// Not built yet.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`synth` is not built yet")
}
