//! `infra-synth bootstrap`: create the Terraform state backend through CloudFormation.

use std::process::ExitCode;

use super::TargetArgs;
use crate::deploy::backend;
use crate::deploy::workflow::step;

/// Create (or confirm) the S3 bucket for Terraform state and deploy assets — versioned,
/// encrypted, private, TLS-only — as a CloudFormation stack, through a change set.
///
/// A second run finds the template unchanged and executes nothing. Prints the backend config
/// `plan` uses.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth bootstrap --stack prod
  infra-synth bootstrap --stack local --endpoint-url http://127.0.0.1:5000   # moto
  infra-synth bootstrap --stack prod --print-template > bootstrap.json       # review or cfn-lint it")]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the CloudFormation template and exit, without AWS access.
    #[arg(long)]
    pub print_template: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.print_template {
        outln!("{}", backend::template())?;
        return Ok(ExitCode::SUCCESS);
    }
    let deployment = args.target.deployment()?;
    let stack_name = deployment.backend_stack_name();
    let outcome = step(&format!("CloudFormation stack {stack_name}"), || {
        deployment.bootstrap()
    })?;
    if outcome.changed {
        outln!(
            "bootstrap: stack {stack_name} created/updated; bucket {}",
            outcome.bucket
        )?;
    } else {
        outln!(
            "bootstrap: stack {stack_name} is up to date (no changes); bucket {}",
            outcome.bucket
        )?;
    }
    let config = backend::backend_config(
        &outcome.bucket,
        &backend::state_key(&deployment.stack.app, &deployment.stack.env),
        &deployment.target,
    );
    outln!("\n# backend config used by `infra-synth plan` (terraform init -backend-config=...)")?;
    out!("{}", config.to_hcl())?;
    Ok(ExitCode::SUCCESS)
}
