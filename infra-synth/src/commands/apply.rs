//! `infra-synth apply`: apply a plan bundle (refusing one planned from anything else), then
//! publish.

use std::path::PathBuf;
use std::process::ExitCode;

use super::DeployArgs;
use crate::deploy::bundle::PlanBundle;

/// Apply a plan bundle made by `plan` (by default `<out-dir>/<stack>/plan.cfxplan`), then
/// publish the site.
///
/// The bundle may come from another machine (a CI plan job's artifact). Before Terraform runs,
/// the config, the Lambda package, the site and the provider lock are rebuilt here and compared
/// with the bundle's fingerprint; any difference stops the apply and is named. The Lambda zip
/// is uploaded (keyed by its hash) before Terraform runs; the applied record is written only
/// when Terraform succeeds.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth plan --stack prod && infra-synth apply --stack prod
  infra-synth apply --stack prod --plan prod.cfxplan --require-rehearsal
  infra-synth apply --stack local --endpoint-url http://127.0.0.1:5000")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// The plan bundle to apply (written by `infra-synth plan --out FILE`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Refuse a bundle without a passed rehearsal of exactly this plan (`infra-synth rehearse`).
    #[arg(long)]
    pub require_rehearsal: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The bundle is read and judged before any AWS call: a corrupt or unrehearsed one is
    // refused for what it is, even with the account out of reach.
    let deployment = args.deploy.target.deployment()?;
    let path = args
        .plan
        .clone()
        .unwrap_or_else(|| deployment.dir.bundle_file());
    let bundle = PlanBundle::read(&path)?;
    outln!("applying {}:\n{}", path.display(), bundle.summary)?;
    let rehearsed = match &bundle.rehearsal {
        Some(record) if record.fingerprint != bundle.fingerprint => {
            outln!("rehearsal: recorded for another plan, so it does not count")?;
            false
        }
        Some(record) if record.passed() => {
            outln!("rehearsal: passed ({} steps)", record.steps.len())?;
            true
        }
        Some(_) => {
            outln!("rehearsal: FAILED (run `infra-synth rehearse` to see why)")?;
            false
        }
        None => {
            outln!("rehearsal: none")?;
            false
        }
    };
    if args.require_rehearsal && !rehearsed {
        errln!(
            "error: --require-rehearsal: {} has no passed rehearsal of this plan; run \
             `infra-synth rehearse --stack {} --plan {}` first",
            path.display(),
            deployment.stack.name,
            path.display()
        );
        return Ok(ExitCode::FAILURE);
    }

    let terraform = args.deploy.connect(&deployment)?;
    let assets = args.deploy.package.package(&deployment)?;
    let synthesis = deployment.synthesize()?;
    deployment.init(&terraform)?;
    let current = deployment.fingerprint(&synthesis, &assets, false)?;
    let stale = bundle.fingerprint.stale_reasons(&current);
    if !stale.is_empty() {
        errln!(
            "error: {} was planned from something else; plan again (`infra-synth plan --stack {}`):",
            path.display(),
            deployment.stack.name
        );
        for reason in stale {
            errln!("  - {reason}");
        }
        return Ok(ExitCode::FAILURE);
    }

    let plan_file = deployment.dir.plan_file();
    std::fs::write(&plan_file, &bundle.tfplan)?;
    deployment.upload_lambda(&assets.lambda)?;
    terraform.apply(&plan_file)?;
    deployment.record_applied(&synthesis)?;
    // A plan applies once; a bundle the caller named stays theirs to keep or delete.
    std::fs::remove_file(&plan_file)?;
    if args.plan.is_none() {
        deployment.dir.discard_plan()?;
    }
    let site = deployment.site_target(&terraform)?;
    outln!("{}", deployment.publish_site(&site, &assets)?)?;
    Ok(ExitCode::SUCCESS)
}
