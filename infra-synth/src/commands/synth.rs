//! `infra-synth synth`: write a stack's Terraform JSON and manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use super::StackArgs;
use crate::emit::kubernetes;

/// Synthesize a stack into `<out>/<stack>/main.tf.json` and `manifest.json`.
///
/// The stack is validated first; the same config always gives byte-identical files.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth synth --stack prod                  # writes out/prod/main.tf.json and out/prod/manifest.json
  infra-synth synth --stack dev --out build/tf
  infra-synth synth --stack prod --target kubernetes   # writes out/prod/kubernetes/manifests.yaml
  terraform -chdir=out/prod init -backend-config=bucket=... && terraform -chdir=out/prod plan")]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output directory; each stack gets its own subdirectory (`--out-dir`, as the deploy
    /// commands name the same directory, works too).
    #[arg(
        long,
        visible_alias = "out-dir",
        value_name = "DIR",
        default_value = "out"
    )]
    pub out: PathBuf,
    /// What to emit: Terraform for AWS, or Kubernetes manifests for eve-server.
    #[arg(long, value_enum, default_value = "terraform")]
    pub target: Target,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    Terraform,
    Kubernetes,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stack = match args.stack.load() {
        Ok(stack) => stack,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    if let Target::Kubernetes = args.target {
        outln!("wrote {}", kubernetes::write(&stack, &args.out)?.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let assembly = match crate::synth::assemble(&stack) {
        Ok(assembly) => assembly,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    let synthesis = crate::emit::terraform::render(
        &stack.name,
        &format!("stacks/{}.toml", stack.name),
        assembly,
    )?;
    let dir = synthesis.write(&args.out)?;
    let data_sources = synthesis.manifest.data_source_count();
    outln!(
        "wrote {} ({} resources, {data_sources} data sources, sha256 {})",
        dir.join("main.tf.json").display(),
        synthesis.manifest.resource_count - data_sources,
        synthesis.manifest.sha256
    )?;
    Ok(ExitCode::SUCCESS)
}
