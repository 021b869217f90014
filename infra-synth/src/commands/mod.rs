//! One module per CLI command. Each owns its clap `Args` and a `run` that returns the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config_diagnostics::Diagnostics;

use crate::config::{self, Stack, DEFAULT_STACKS_DIR};

pub mod apply;
pub mod bootstrap;
pub mod destroy;
pub mod dev;
pub mod diff;
pub mod graph;
pub mod package;
pub mod plan;
pub mod publish;
pub mod site;
pub mod synth;
pub mod validate;

/// Model the CloudForgeX AWS stack as typed Rust, emit Terraform JSON, and deploy it.
#[derive(Debug, Parser)]
#[command(name = "infra-synth", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::Args),
    Synth(synth::Args),
    Graph(graph::Args),
    Site(site::Args),
    Package(package::Args),
    Bootstrap(bootstrap::Args),
    Publish(publish::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Destroy(destroy::Args),
    Diff(diff::Args),
    Dev(dev::Args),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Validate(args) => validate::run(args),
            Command::Synth(args) => synth::run(args),
            Command::Graph(args) => graph::run(args),
            Command::Site(args) => site::run(args),
            Command::Package(args) => package::run(args),
            Command::Bootstrap(args) => bootstrap::run(args),
            Command::Publish(args) => publish::run(args),
            Command::Plan(args) => plan::run(args),
            Command::Apply(args) => apply::run(args),
            Command::Destroy(args) => destroy::run(args),
            Command::Diff(args) => diff::run(args),
            Command::Dev(args) => dev::run(args),
        }
    }
}

/// Which stack a command works on; shared by every command that reads `stacks/<name>.toml`.
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// Stack name: reads `<stacks-dir>/<stack>.toml` (dev, prod, local).
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    /// Directory holding the stack files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STACKS_DIR)]
    pub stacks_dir: PathBuf,
}

impl StackArgs {
    /// Loads and validates the stack.
    pub fn load(&self) -> Result<Stack, Diagnostics> {
        config::load(&self.stacks_dir, &self.stack)
    }
}

/// Prints every diagnostic to stderr and returns the failure exit code.
pub fn report(diagnostics: &Diagnostics) -> ExitCode {
    eprintln!("{diagnostics}");
    ExitCode::FAILURE
}
