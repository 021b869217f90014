//! `infra-synth rehearse`: prove a stack's plan on the emulator before it meets a real account.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::{DeployArgs, EMULATOR_STACK};
use crate::config;
use crate::deploy::bundle::{PlanBundle, RehearsalRecord};
use crate::deploy::rehearsal::{rehearse, RehearsalOptions};
use crate::deploy::state::config_sha256;
use crate::synth::synthesize;

/// Start moto on a loopback port it picks (its log kept in `<out-dir>/rehearsal/moto.log`);
/// deploy the stack's model there with the emulator
/// switches of `stacks/local.toml` on top; publish; then check what was deployed: the packaged
/// `bootstrap` answering a chat through a local Lambda Runtime API with the deployed function's
/// environment, table, parameters and bucket; the published site served from the site bucket
/// and opened in Chromium with EVE replying; a second plan that is empty; and destroy. Prints a
/// report. With `--plan`, the report is recorded in that bundle against its fingerprint, which
/// `apply` shows and `apply --require-rehearsal` insists on.
///
/// Needs terraform, moto (`pip install 'moto[server]'`), node with playwright-core, and
/// Chromium (`bash .ci/install` installs them). Exit codes: 0 passed, 1 failed or error.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth rehearse --stack prod
  infra-synth plan --stack prod --out prod.cfxplan && infra-synth rehearse --stack prod --plan prod.cfxplan
  infra-synth rehearse --stack dev --cargo-profile release --plugin-dir /opt/tf-plugins")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// The plan bundle to record the rehearsal in (it must be planned from this config).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// What the rehearsal asks EVE.
    #[arg(long, default_value = "What has Alex built with Rust?")]
    pub question: String,
    #[arg(long, value_enum, default_value_t = super::validate::Format::Text)]
    pub format: super::validate::Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let target = &args.deploy.target;
    let stack = target.stack.load().map_err(anyhow::Error::from)?;
    let emulator =
        config::load(&target.stack.stacks_dir, EMULATOR_STACK).map_err(anyhow::Error::from)?;
    let bundle = match &args.plan {
        Some(path) => {
            let bundle = PlanBundle::read(path)?;
            let planned = &bundle.fingerprint;
            let config = config_sha256(&synthesize(&stack)?.main_tf_json);
            if planned.stack != stack.name || planned.config_sha256 != config {
                bail!(
                    "{} was planned from other config than stack `{}` has here \
                     (configuration {} → {config}); rehearse the checkout that made the plan",
                    path.display(),
                    stack.name,
                    planned.config_sha256
                );
            }
            Some((path, bundle))
        }
        None => None,
    };
    let options = RehearsalOptions {
        workspace: args.deploy.package.workspace.clone(),
        cargo_profile: args.deploy.package.cargo_profile.clone(),
        terraform_program: args.deploy.terraform.program.clone(),
        plugin_dir: args.deploy.terraform.plugin_dir.clone(),
        out_dir: target.out_dir.join("rehearsal"),
        question: args.question.clone(),
    };
    let report = rehearse(&stack, &emulator, &options);
    match args.format {
        super::validate::Format::Text => outln!("{report}")?,
        super::validate::Format::Json => crate::console::write_json(&report)?,
    }
    if let Some((path, mut bundle)) = bundle {
        bundle.rehearsal = Some(RehearsalRecord {
            fingerprint: bundle.fingerprint.clone(),
            steps: report.steps.clone(),
        });
        bundle.write(path)?;
        errln!("recorded the rehearsal in {}", path.display());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
