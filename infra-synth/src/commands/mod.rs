//! One module per CLI command. Each owns its clap `Args` and a `run` that returns the exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
