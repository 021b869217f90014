//! `infra-synth plan`: find the bootstrapped backend, package, synthesize, init against it,
//! plan, and save the plan as a bundle that `apply` applies exactly, here or on another machine.

use std::path::PathBuf;
use std::process::ExitCode;

use super::DeployArgs;
use crate::deploy::terraform::{PlanMode, PlanOutcome};

/// Find the backend `bootstrap` made (first, so a missing one stops it in seconds), package the
/// assets, synthesize the stack, `terraform init` with that backend, and save `terraform plan
/// -out` in a plan bundle with the fingerprint of the config, assets and provider lock it was
/// planned from; prints one line per changed resource.
///
/// Exit codes follow `terraform plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth plan --stack prod
  infra-synth plan --stack prod --out prod.cfxplan   # then: infra-synth apply --stack prod --plan prod.cfxplan
  infra-synth plan --stack local --endpoint-url http://127.0.0.1:5000 --plugin-dir /opt/tf-plugins
  CFX_TERRAFORM=tofu infra-synth plan --stack dev

Exit codes: 0 no changes, 1 error, 2 changes present.")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Where to write the plan bundle (default `<out-dir>/<stack>/plan.cfxplan`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (deployment, terraform) = args.deploy.start()?;
    let assets = args.deploy.package.package(&deployment)?;
    let synthesis = deployment.synthesize()?;
    deployment.init(&terraform)?;
    let vars = deployment.vars(&synthesis, &assets.lambda)?;
    let (outcome, summary) = deployment.plan(&terraform, &vars, PlanMode::Apply)?;
    outln!("{summary}")?;
    let fingerprint = deployment.fingerprint(&synthesis, &assets, false)?;
    let path = args.out.unwrap_or_else(|| deployment.dir.bundle_file());
    deployment.save_bundle(&path, fingerprint, summary)?;
    Ok(match outcome {
        PlanOutcome::NoChanges => ExitCode::SUCCESS,
        PlanOutcome::Changes => {
            errln!(
                "saved plan: {} — run `infra-synth apply --stack {} --plan {}` to apply it",
                path.display(),
                deployment.stack.name,
                path.display()
            );
            ExitCode::from(2)
        }
    })
}
