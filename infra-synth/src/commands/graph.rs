//! `infra-synth graph`: a Mermaid diagram of the synthesized stack.

use std::process::ExitCode;

use super::StackArgs;
use crate::graph::Level;
use crate::synth::assemble;

/// Print a Mermaid flowchart: one node per resource, an arrow to each resource it references.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth graph --stack prod                      # every resource
  infra-synth graph --stack prod --level services     # one node per AWS service (the README's diagram)
  infra-synth graph --stack prod > docs/stack.mmd")]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Detail: one node per resource, or per AWS service.
    #[arg(long, value_enum, default_value_t = Level::Resources)]
    pub level: Level,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let assembly = match args.stack.load().and_then(|stack| assemble(&stack)) {
        Ok(assembly) => assembly,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    out!(
        "{}",
        crate::graph::mermaid(&assembly.doc.entries(), args.level)
    )?;
    Ok(ExitCode::SUCCESS)
}
