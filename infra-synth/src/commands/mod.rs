//! One module per CLI command. Each owns its clap `Args` and a `run` that returns the exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config_diagnostics::Diagnostics;

use crate::config::{self, Stack, DEFAULT_STACKS_DIR};
use crate::deploy::aws::Unreachable;
use crate::deploy::terraform::{Terraform, PLUGIN_DIR_ENV, PROGRAM_ENV};
use crate::deploy::workflow::{Assets, Deployment};

pub mod apply;
pub mod bootstrap;
pub mod cost;
pub mod destroy;
pub mod dev;
pub mod diff;
pub mod dr;
pub mod drift;
pub mod graph;
pub mod package;
pub mod plan;
pub mod publish;
pub mod rehearse;
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
    Cost(cost::Args),
    Graph(graph::Args),
    Site(site::Args),
    Package(package::Args),
    Bootstrap(bootstrap::Args),
    Publish(publish::Args),
    Plan(plan::Args),
    Apply(apply::Args),
    Destroy(destroy::Args),
    Rehearse(rehearse::Args),
    Diff(diff::Args),
    Drift(drift::Args),
    Dev(dev::Args),
    Dr(dr::Args),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let target = self.command.target().cloned();
        let result = match self.command {
            Command::Validate(args) => validate::run(args),
            Command::Synth(args) => synth::run(args),
            Command::Cost(args) => cost::run(args),
            Command::Graph(args) => graph::run(args),
            Command::Site(args) => site::run(args),
            Command::Package(args) => package::run(args),
            Command::Bootstrap(args) => bootstrap::run(args),
            Command::Publish(args) => publish::run(args),
            Command::Plan(args) => plan::run(args),
            Command::Apply(args) => apply::run(args),
            Command::Destroy(args) => destroy::run(args),
            Command::Rehearse(args) => rehearse::run(args),
            Command::Diff(args) => diff::run(args),
            Command::Drift(args) => drift::run(args),
            Command::Dev(args) => dev::run(args),
            Command::Dr(args) => dr::run(args),
        };
        result.map_err(|error| match &target {
            Some(target) => target.name_unreachable_endpoint(error),
            None => error,
        })
    }
}

impl Command {
    /// The stack and AWS endpoint of a command that talks to the stack's own AWS (`rehearse`
    /// talks to an emulator it starts, and says so itself).
    fn target(&self) -> Option<&TargetArgs> {
        match self {
            Command::Bootstrap(args) => Some(&args.target),
            Command::Destroy(args) => Some(&args.target),
            Command::Drift(args) => Some(&args.target),
            Command::Diff(args) => Some(&args.target),
            Command::Publish(args) => Some(&args.deploy.target),
            Command::Plan(args) => Some(&args.deploy.target),
            Command::Apply(args) => Some(&args.deploy.target),
            Command::Dr(dr::Args {
                command: dr::Command::Drill(args),
            }) => Some(&args.target),
            _ => None,
        }
    }
}

/// The emulator stack whose switches `rehearse` applies (`stacks/local.toml`).
pub const EMULATOR_STACK: &str = "local";

/// Which stack a command works on; shared by every command that reads `stacks/<name>.toml`.
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// Stack name: reads `<stacks-dir>/<stack>.toml` (dev, prod, local).
    #[arg(long, value_name = "NAME", value_parser = stack_name)]
    pub stack: String,
    /// Directory holding the stack files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STACKS_DIR)]
    pub stacks_dir: PathBuf,
}

/// A stack's name names its file and its output folder (`out/<name>/`), so it is a name, not
/// a path: `--stack ../x` would read and write outside both. A stack file given in its place
/// is answered with the flags that read it.
fn stack_name(value: &str) -> Result<String, String> {
    if is_stack_name(value) {
        return Ok(value.to_string());
    }
    let rule = "a stack name is 1-64 letters, digits, '-' or '_' (e.g. dev, prod)";
    let file = Path::new(value);
    let stem = file
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| is_stack_name(stem));
    let (Some(stem), Some("toml")) = (stem, file.extension().and_then(|e| e.to_str())) else {
        return Err(rule.into());
    };
    let flags = match file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => format!(
            "for that file, pass `--stack {stem} --stacks-dir {}`",
            config::shell_word(&dir.display().to_string())
        ),
        None => format!(
            "`--stack {stem}` reads {stem}.toml from the folder `--stacks-dir` names \
             ({DEFAULT_STACKS_DIR} unless given)"
        ),
    };
    Err(format!("{rule}: {flags}"))
}

fn is_stack_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl StackArgs {
    /// Loads and validates the stack.
    pub fn load(&self) -> Result<Stack, Diagnostics> {
        config::load(&self.stacks_dir, &self.stack)
    }

    pub fn file(&self) -> PathBuf {
        config::stack_file(&self.stacks_dir, &self.stack)
    }
}

/// Prints every diagnostic to stderr and returns the failure exit code.
pub fn report(diagnostics: &Diagnostics) -> ExitCode {
    errln!("{diagnostics}");
    ExitCode::FAILURE
}

/// Where deploy commands write and which AWS they talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Working directory root; the stack's Terraform working directory is `<out-dir>/<stack>`.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out_dir: PathBuf,
    /// AWS endpoint for every service (an emulator such as moto); replaces the stack's
    /// `[aws] endpoint`, and is held to its rule: https, or http to localhost or 127.0.0.1.
    #[arg(long, value_name = "URL", env = "CFX_AWS_ENDPOINT", value_parser = endpoint_url)]
    pub endpoint_url: Option<String>,
}

/// The flag is held to the rule of the stack file's `[aws] endpoint` it replaces.
fn endpoint_url(url: &str) -> Result<String, String> {
    config::rules::check_endpoint(url).map(|()| url.to_owned())
}

/// How Terraform is run.
#[derive(Debug, Clone, clap::Args)]
pub struct TerraformArgs {
    /// Terraform binary, searched on PATH (`terraform`, or `tofu` for OpenTofu).
    #[arg(long = "terraform", value_name = "BIN", env = PROGRAM_ENV, default_value = "terraform")]
    pub program: String,
    /// Provider mirror for offline `terraform init -plugin-dir` (e.g. /opt/tf-plugins).
    #[arg(long, value_name = "DIR", env = PLUGIN_DIR_ENV)]
    pub plugin_dir: Option<PathBuf>,
}

/// How the Lambda package is built.
#[derive(Debug, Clone, clap::Args)]
pub struct PackageArgs {
    /// Cargo profile for the Lambda binary: `lambda` (the workspace's size-optimised profile,
    /// the zip is about 6 MB) by default; `release` or `dev` build faster for emulator runs.
    #[arg(long, value_name = "PROFILE", default_value = "lambda")]
    pub cargo_profile: String,
    /// The Cargo workspace holding `eve-function`.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: PathBuf,
}

/// Flags of the commands that package and run Terraform (`plan`, `apply`, `publish`).
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub terraform: TerraformArgs,
    #[command(flatten)]
    pub package: PackageArgs,
}

impl TargetArgs {
    /// Loads and validates the stack; every config problem is reported with file and line.
    pub fn deployment(&self) -> anyhow::Result<Deployment> {
        let stack = self.stack.load().map_err(anyhow::Error::from)?;
        Deployment::new(stack, self.endpoint_url.clone(), &self.out_dir)
    }

    /// `error`, naming the endpoint when it is that nothing answered there: the flag's, or
    /// the stack file's `[aws] endpoint`.
    fn name_unreachable_endpoint(&self, error: anyhow::Error) -> anyhow::Error {
        // Only then is the stack file read again.
        if error.downcast_ref::<Unreachable>().is_none() {
            return error;
        }
        let (endpoint, source) = match &self.endpoint_url {
            Some(flag) => (
                flag.clone(),
                "from `--endpoint-url` or CFX_AWS_ENDPOINT".to_owned(),
            ),
            None => match self.stack.load().ok().and_then(|stack| stack.aws.endpoint) {
                Some(file) => (
                    file,
                    format!("`[aws] endpoint` in {}", self.stack.file().display()),
                ),
                None => return error,
            },
        };
        Unreachable::name_endpoint(error, &endpoint, source)
    }
}

impl TerraformArgs {
    pub fn locate(&self, deployment: &Deployment) -> anyhow::Result<Terraform> {
        deployment.terraform(&self.program, self.plugin_dir.clone())
    }
}

impl PackageArgs {
    pub fn package(&self, deployment: &Deployment) -> anyhow::Result<Assets> {
        deployment.package(&self.workspace, &self.cargo_profile)
    }
}

impl DeployArgs {
    /// Loads the stack, finds Terraform and the state backend: failing before any packaging
    /// when one is missing.
    pub fn start(&self) -> anyhow::Result<(Deployment, Terraform)> {
        let deployment = self.target.deployment()?;
        let terraform = self.connect(&deployment)?;
        Ok((deployment, terraform))
    }

    /// Finds Terraform and the state backend of a loaded stack: the first step that needs more
    /// than this machine, so what can be checked here goes before it.
    pub fn connect(&self, deployment: &Deployment) -> anyhow::Result<Terraform> {
        let terraform = self.terraform.locate(deployment)?;
        deployment.check_backend()?;
        Ok(terraform)
    }
}
