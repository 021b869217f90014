//! `infra-synth destroy`: plan and apply the destruction of a stack, after confirmation.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::bail;

use super::{TargetArgs, TerraformArgs};
use crate::deploy::terraform::{PlanMode, PlanOutcome};
use crate::deploy::workflow::Deployment;

/// Destroy every resource of the stack (the bootstrap bucket with state history stays).
///
/// Shows the destroy plan and asks for the stack name as confirmation unless `--yes`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth destroy --stack dev
  infra-synth destroy --stack local --endpoint-url http://127.0.0.1:5000 --yes")]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub terraform: TerraformArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = args.target.deployment()?;
    let terraform = args.terraform.locate(&deployment)?;
    let synthesis = deployment.synthesize()?;
    deployment.init(&terraform)?;
    let vars = Deployment::placeholder_vars(&synthesis);
    let (outcome, summary) = deployment.plan(&terraform, &vars, PlanMode::Destroy)?;
    outln!("{summary}")?;
    if outcome == PlanOutcome::NoChanges {
        deployment.forget_applied()?;
        outln!("nothing to destroy")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !confirmed(&deployment.stack.name)? {
        outln!("destroy cancelled")?;
        deployment.dir.discard_plan()?;
        return Ok(ExitCode::FAILURE);
    }
    terraform.apply(&deployment.dir.plan_file())?;
    deployment.forget_applied()?;
    deployment.dir.discard_plan()?;
    outln!("destroyed stack {}", deployment.stack.name)?;
    Ok(ExitCode::SUCCESS)
}

/// Asks for the stack name on a terminal; without a terminal, `--yes` is required.
fn confirmed(stack: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to destroy without confirmation: stdin is not a terminal; pass --yes");
    }
    out!("Type the stack name `{stack}` to destroy it: ")?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == stack)
}
