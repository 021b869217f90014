//! `infra-synth publish`: upload the Lambda package and sync the site (also done by `apply`).

use std::process::ExitCode;

use super::DeployArgs;

/// Upload the Lambda zip to the artifact bucket keyed by its hash, and sync the site to the
/// site bucket with Content-Type and Cache-Control (immutable for hashed assets, no-cache for
/// HTML). Stale objects are deleted only after every new object is live.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth publish --stack prod          # after `apply`, e.g. to republish content only
  infra-synth publish --stack local --endpoint-url http://127.0.0.1:5000")]
pub struct Args {
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (deployment, terraform) = args.deploy.start()?;
    // Where the site goes is in the state: a machine that never applied (a fresh CI runner)
    // has no working directory yet, and one that was not applied should stop before the build.
    deployment.synthesize()?;
    deployment.init(&terraform)?;
    let site = deployment.site_target(&terraform)?;
    let assets = args.deploy.package.package(&deployment)?;
    deployment.upload_lambda(&assets.lambda)?;
    outln!("{}", deployment.publish_site(&site, &assets)?)?;
    Ok(ExitCode::SUCCESS)
}
