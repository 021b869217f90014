//! `infra-synth diff`: desired configuration against the last applied manifest, offline.

use std::process::ExitCode;

use super::TargetArgs;
use crate::deploy::manifest_diff::ManifestDiff;
use crate::synth::synthesize;

/// Compare the stack as configured now with what was last applied from this machine
/// (`<out>/<stack>/last-applied.json`), resource by resource and attribute by attribute.
/// Reads no cloud state: use `plan` to compare with the real infrastructure.
///
/// Exit codes: 0 no differences, 1 error, 2 differences.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth diff --stack prod
  infra-synth diff --stack local --out /tmp/cfx-out")]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = args.target.deployment()?;
    let desired = synthesize(&deployment.stack)?;
    let applied = deployment.dir.applied()?.unwrap_or_else(|| {
        eprintln!(
            "note: nothing applied from this machine yet for stack `{}`; every resource is new",
            deployment.stack.name
        );
        "{}".to_owned()
    });
    let diff = ManifestDiff::between(&applied, &desired.main_tf_json)?;
    if diff.is_empty() {
        println!(
            "No differences: stack `{}` matches the last apply.",
            deployment.stack.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{diff}");
    Ok(ExitCode::from(2))
}
