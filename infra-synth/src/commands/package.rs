//! `infra-synth package`: build the Lambda zip and render the site, with content hashes.

use std::process::ExitCode;

use super::{PackageArgs, TargetArgs};

/// Build `eve-function` for Lambda (provided.al2023, the stack's architecture) into a
/// deterministic zip, and render the site. Hashes cover content only: unchanged sources give
/// unchanged hashes, and so a no-op plan.
///
/// Uses `cargo lambda` when installed (pip: cargo-lambda + ziglang), else the native toolchain
/// for the architecture's Rust target.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth package --stack prod                       # out/prod/dist/eve-function.zip, out/prod/site/
  infra-synth package --stack local --cargo-profile dev  # faster build for the emulator")]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub package: PackageArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = args.target.deployment()?;
    let assets = args.package.package(&deployment)?;
    errln!("note: {}", assets.lambda.note);
    outln!(
        "lambda {}  sha256 {}",
        assets.lambda.zip_path.display(),
        assets.lambda.sha256
    )?;
    outln!(
        "site   {}  sha256 {}  ({} files)",
        assets.site_dir.display(),
        assets.site_sha256,
        assets.site.files.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
