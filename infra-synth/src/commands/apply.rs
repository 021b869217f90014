//! `infra-synth apply`: apply the saved plan (refusing a stale one), then publish.

use std::process::ExitCode;

use super::DeployArgs;

/// Apply the plan saved by `plan`, then publish the site.
///
/// Refuses a stale plan: the config and assets are re-synthesized and re-hashed, and any
/// difference from what was planned stops the apply. The Lambda zip is uploaded (keyed by its
/// hash) before Terraform runs; the applied manifest is recorded only when Terraform succeeds.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth plan --stack prod && infra-synth apply --stack prod
  infra-synth apply --stack local --endpoint-url http://127.0.0.1:5000")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (deployment, terraform) = args.deploy.start()?;
    let planned = deployment.dir.load_fingerprint()?;
    let assets = args.deploy.package.package(&deployment)?;
    let synthesis = deployment.synthesize()?;
    let stale = planned.stale_reasons(&deployment.fingerprint(&synthesis, &assets, false));
    if !stale.is_empty() {
        eprintln!("error: the saved plan is stale; run `infra-synth plan` again:");
        for reason in stale {
            eprintln!("  - {reason}");
        }
        return Ok(ExitCode::FAILURE);
    }

    deployment.upload_lambda(&assets.lambda)?;
    terraform.apply(&deployment.dir.plan_file())?;
    deployment.dir.record_applied(&synthesis.main_tf_json)?;
    deployment.dir.discard_plan()?;
    deployment.publish_site(&terraform, &assets)?;
    Ok(ExitCode::SUCCESS)
}
