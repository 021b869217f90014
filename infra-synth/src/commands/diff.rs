//! `infra-synth diff`: desired configuration against the applied record beside the state.

use std::process::ExitCode;

use super::TargetArgs;
use crate::deploy::manifest_diff::ManifestDiff;
use crate::synth::synthesize;

/// Compare the stack as configured now with what was last applied, resource by resource and
/// attribute by attribute. The applied record is read from the state bucket, so the answer is
/// the same on every machine; without AWS credentials the record of the last apply from this
/// machine (`<out-dir>/<stack>/last-applied.json`) is used instead, and the output says so.
/// Reads no resource state: `drift` compares with the real infrastructure.
///
/// Exit codes: 0 no differences, 1 error, 2 differences.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth diff --stack prod
  infra-synth diff --stack local --out-dir /tmp/cfx-out")]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = args.target.deployment()?;
    let desired = synthesize(&deployment.stack)?;
    let (applied, source) = deployment.applied()?;
    errln!("applied record: {source}");
    let applied = applied.unwrap_or_else(|| {
        errln!(
            "note: nothing applied yet for stack `{}`; every resource is new",
            deployment.stack.name
        );
        "{}".to_owned()
    });
    let diff = ManifestDiff::between(&applied, &desired.main_tf_json)?;
    if diff.is_empty() {
        outln!(
            "No differences: stack `{}` matches the last apply.",
            deployment.stack.name
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{diff}")?;
    Ok(ExitCode::from(2))
}
