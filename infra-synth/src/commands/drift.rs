//! `infra-synth drift`: what changed in the deployed stack outside Terraform.

use std::process::ExitCode;

use super::{TargetArgs, TerraformArgs};
use crate::deploy::drift::Drift;
use crate::deploy::terraform::PlanMode;
use crate::deploy::workflow::{step, Deployment};

/// Read every deployed resource (`terraform plan -refresh-only`) and show the attributes whose
/// value moved since the last apply: resource, attribute, expected and actual value, and the
/// stack file key that sets the attribute where one does. Changes nothing.
///
/// Exit codes: 0 no drift, 1 error (a stack with nothing deployed too), 2 drift found.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth drift --stack prod
  infra-synth drift --stack local --endpoint-url http://127.0.0.1:5000 --plugin-dir /opt/tf-plugins

Exit codes: 0 no drift, 1 error (a stack with nothing deployed too), 2 drift found.")]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub terraform: TerraformArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = args.target.deployment()?;
    let terraform = args.terraform.locate(&deployment)?;
    let synthesis = deployment.synthesize()?;
    deployment.init(&terraform)?;
    let plan_file = deployment.dir.root().join("drift.tfplan");
    let vars = Deployment::placeholder_vars(&synthesis);
    step("reading the deployed resources", || {
        terraform.plan(&vars, &plan_file, PlanMode::RefreshOnly)
    })?;
    let show_json = terraform.show_json(&plan_file)?;
    std::fs::remove_file(&plan_file)?;
    let drift = Drift::parse(&show_json, &synthesis)?;
    if drift.deployed == 0 {
        anyhow::bail!(
            "nothing of stack `{}` is deployed: its state holds no resources, so there is nothing \
             to compare. Apply it first, or check that the credentials, account and region are \
             the ones it was applied with",
            deployment.stack.name
        );
    }
    if drift.is_empty() {
        outln!(
            "No drift: stack `{}` is deployed as last applied.",
            deployment.stack.name
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    out!("{drift}")?;
    outln!(
        "{} attribute(s) drifted; `infra-synth plan` puts them back as configured, or change \
         the stack key to keep the new value.",
        drift.attributes.len()
    )?;
    Ok(ExitCode::from(2))
}
