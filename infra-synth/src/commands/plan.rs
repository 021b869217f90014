//! `infra-synth plan`: package, synthesize, init against the bootstrapped backend, plan.

use std::process::ExitCode;

use super::DeployArgs;
use crate::deploy::terraform::PlanOutcome;

/// Package the assets, synthesize the stack, `terraform init` with the backend from
/// `bootstrap`, and save `terraform plan -out`; prints one line per changed resource.
///
/// Exit codes follow `terraform plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes.
/// `apply` applies exactly this saved plan.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth plan --stack prod
  infra-synth plan --stack local --endpoint-url http://127.0.0.1:5000 --plugin-dir /opt/tf-plugins
  CFX_TERRAFORM=tofu infra-synth plan --stack dev

Exit codes: 0 no changes, 1 error, 2 changes present.")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (deployment, terraform) = args.deploy.start()?;
    let assets = args.deploy.package.package(&deployment)?;
    let synthesis = deployment.synthesize()?;
    deployment.init(&terraform)?;
    let vars = deployment.vars(&synthesis, &assets.lambda)?;
    let (outcome, _) = deployment.plan(&terraform, &vars, false)?;
    deployment
        .dir
        .save_fingerprint(&deployment.fingerprint(&synthesis, &assets, false))?;
    Ok(match outcome {
        PlanOutcome::NoChanges => ExitCode::SUCCESS,
        PlanOutcome::Changes => {
            eprintln!(
                "saved plan: {} — run `infra-synth apply --stack {}` to apply it",
                deployment.dir.plan_file().display(),
                deployment.stack.name
            );
            ExitCode::from(2)
        }
    })
}
