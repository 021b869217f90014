//! `infra-synth dr drill`: the recovery test of the design (restore, compare, replication).

use std::process::ExitCode;
use std::time::Duration;

use super::TargetArgs;
use crate::deploy::drill::{self, DrillOptions};

/// Disaster-recovery operations on a deployed stack with a `[dr]` section.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Drill(DrillArgs),
    Objectives(ObjectivesArgs),
}

/// Print the recovery objectives (RTO/RPO per part) the stack's config gives, as a Markdown
/// table (the README's is this command's output for prod).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth dr objectives --stack prod")]
pub struct ObjectivesArgs {
    #[command(flatten)]
    pub stack: super::StackArgs,
}

/// Restore the conversations table to its latest restorable time into a scratch table and
/// compare the turns of sampled sessions; check that the site and certificates buckets
/// replicate to the recovery region and, where the backend reports replication status, that a
/// probe object arrives there. Deletes what it made; prints the measured restore time.
///
/// Exit codes: 0 passed, 1 failed or error.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth dr drill --stack prod                  # quarterly, as the runbook says
  infra-synth dr drill --stack local --endpoint-url http://127.0.0.1:5000 --format json")]
pub struct DrillArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Sessions compared between the table and its restore.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        value_parser = config_diagnostics::whole_number(1_u16, u16::MAX)
    )]
    pub sample: u16,
    /// Minutes a restore may take before the drill gives up (a week at most).
    #[arg(
        long,
        value_name = "MINUTES",
        default_value_t = 120,
        value_parser = config_diagnostics::whole_number(1_u64, 7 * 24 * 60)
    )]
    pub restore_timeout: u64,
    /// Minutes to wait for the probe object in the replica (replication time control: 15; a
    /// day at most).
    #[arg(
        long,
        value_name = "MINUTES",
        default_value_t = 15,
        value_parser = config_diagnostics::whole_number(1_u64, 24 * 60)
    )]
    pub replication_wait: u64,
    #[arg(long, value_enum, default_value_t = super::validate::Format::Text)]
    pub format: super::validate::Format,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Drill(args) => drill(args),
        Command::Objectives(args) => match args.stack.load() {
            Ok(stack) => {
                out!("{}", crate::app::recovery::markdown(&stack))?;
                Ok(ExitCode::SUCCESS)
            }
            Err(diagnostics) => Ok(super::report(&diagnostics)),
        },
    }
}

fn drill(args: DrillArgs) -> anyhow::Result<ExitCode> {
    let deployment = args.target.deployment()?;
    let options = DrillOptions {
        sample: usize::from(args.sample),
        restore_timeout: Duration::from_secs(args.restore_timeout * 60),
        replication_wait: Duration::from_secs(args.replication_wait * 60),
    };
    let report = drill::run_with_progress(&deployment.stack, &deployment.target, &options)?;
    match args.format {
        super::validate::Format::Text => outln!("{report}")?,
        super::validate::Format::Json => crate::console::write_json(&report)?,
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
