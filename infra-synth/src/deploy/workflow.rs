//! The steps `package`, `plan`, `apply`, `destroy` and `publish` share, over one loaded stack.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use indicatif::{ProgressBar, ProgressStyle};
use portfolio::render::{self, BuildOptions, BuildReport};
use portfolio::Content;

use super::aws::{block_on, AwsTarget};
use super::backend;
use super::package::{build_lambda, tree_digest, Architecture, LambdaPackage};
use super::plan_summary::PlanSummary;
use super::publish;
use super::state::{config_sha256, DeployDir, Fingerprint};
use super::terraform::{PlanOutcome, Terraform, PLUGIN_DIR_ENV, PROGRAM_ENV};
use crate::commands::StackArgs;
use crate::config::{Backend, Stack};
use crate::model::lambda::{ARTIFACT_BUCKET_VAR, PACKAGE_KEY_VAR, PACKAGE_SHA256_VAR};
use crate::synth::{synthesize, Synthesis};

/// Where deploy commands write and which AWS they talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output directory; the stack's Terraform working directory is `<out>/<stack>`.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// AWS endpoint for every service (an emulator such as moto); replaces the stack's
    /// `[aws] endpoint`.
    #[arg(long, value_name = "URL", env = "CFX_AWS_ENDPOINT")]
    pub endpoint_url: Option<String>,
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

impl DeployArgs {
    /// Loads the stack and finds Terraform, failing before any packaging when it is missing.
    pub fn start(&self) -> Result<(Deployment, Terraform)> {
        let deployment = Deployment::load(&self.target)?;
        let terraform = deployment.terraform(&self.terraform)?;
        Ok((deployment, terraform))
    }
}

/// Packaged assets with their content hashes.
#[derive(Debug, Clone)]
pub struct Assets {
    pub lambda: LambdaPackage,
    pub site_dir: PathBuf,
    pub site: BuildReport,
    pub site_sha256: String,
}

/// One loaded stack and where its deploy files live.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub stack: Stack,
    pub target: AwsTarget,
    pub dir: DeployDir,
}

impl Deployment {
    /// Loads and validates the stack; every config problem is reported with file and line.
    pub fn load(args: &TargetArgs) -> Result<Self> {
        let mut stack = args.stack.load().map_err(anyhow::Error::from)?;
        if let Some(endpoint) = &args.endpoint_url {
            stack = stack.with_endpoint(endpoint.clone());
        }
        let target = AwsTarget {
            region: stack.region.clone(),
            endpoint_url: stack.aws.endpoint.clone(),
        };
        let dir = DeployDir::new(&args.out, &stack.name);
        Ok(Self { stack, target, dir })
    }

    /// Finds Terraform and binds it to this stack's working directory; with an emulator,
    /// Terraform gets dummy credentials too.
    pub fn terraform(&self, args: &TerraformArgs) -> Result<Terraform> {
        let terraform = Terraform::locate(&args.program, self.dir.root(), args.plugin_dir.clone())?;
        Ok(match &self.target.endpoint_url {
            Some(_) => terraform
                .with_env("AWS_ACCESS_KEY_ID", "testing")
                .with_env("AWS_SECRET_ACCESS_KEY", "testing"),
            None => terraform,
        })
    }

    /// Builds the Lambda zip and renders the site, hashing both by content.
    pub fn package(&self, args: &PackageArgs) -> Result<Assets> {
        let arch = Architecture::parse(self.stack.lambda.architecture.as_str())?;
        let lambda = step("building the Lambda package", || {
            build_lambda(&args.workspace, arch, &args.cargo_profile, &self.dir.dist())
        })?;
        let site_dir = self.dir.root().join("site");
        let site = step("rendering the site", || self.render_site(&site_dir))?;
        let site_sha256 = tree_digest(&site_dir)?;
        Ok(Assets {
            lambda,
            site_dir,
            site,
            site_sha256,
        })
    }

    fn render_site(&self, site_dir: &Path) -> Result<BuildReport> {
        let content = Content::load(&self.stack.content_path).map_err(anyhow::Error::from)?;
        let media_dir = self
            .stack
            .content_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let opts = BuildOptions::new(&self.stack.site_url())?.with_media_dir(media_dir);
        render::build(&content, &opts, site_dir)
            .with_context(|| format!("cannot build the site into {}", site_dir.display()))
    }

    /// Synthesizes `main.tf.json` into the working directory.
    pub fn synthesize(&self) -> Result<Synthesis> {
        let synthesis = synthesize(&self.stack)?;
        synthesis.write(
            self.dir
                .root()
                .parent()
                .context("deploy dir has no parent")?,
        )?;
        Ok(synthesis)
    }

    /// The bucket holding state and packages: the stack's artifact bucket, made by `bootstrap`.
    pub fn artifact_bucket(&self) -> String {
        self.stack.artifact_bucket_name()
    }

    /// `terraform init` against the backend `bootstrap` made (checked to exist first).
    pub fn init(&self, terraform: &Terraform) -> Result<()> {
        let backend = match self.stack.state.backend {
            Backend::Local => super::terraform::BackendConfig {
                settings: Vec::new(),
            },
            Backend::S3 => {
                let bucket = block_on(async {
                    let cfn = self.target.cloudformation().await;
                    backend::state_bucket(&cfn, &self.backend_stack_name()).await
                })??;
                backend::backend_config(
                    &bucket,
                    &backend::state_key(&self.stack.app, &self.stack.env),
                    &self.target,
                )
            }
        };
        step("terraform init", || terraform.init(&backend))
    }

    pub fn backend_stack_name(&self) -> String {
        backend::stack_name(&self.stack.app, &self.stack.env)
    }

    /// The `-var` values naming the uploaded package.
    pub fn vars(&self, lambda: &LambdaPackage) -> Result<Vec<(String, String)>> {
        let digest = hex::decode(&lambda.sha256).context("package hash is not hex")?;
        Ok(vec![
            (ARTIFACT_BUCKET_VAR.to_owned(), self.artifact_bucket()),
            (
                PACKAGE_KEY_VAR.to_owned(),
                publish::lambda_key(&lambda.sha256),
            ),
            (
                PACKAGE_SHA256_VAR.to_owned(),
                base64::engine::general_purpose::STANDARD.encode(digest),
            ),
        ])
    }

    /// `terraform plan -out` into the stack's plan file, then prints the per-resource summary.
    pub fn plan(
        &self,
        terraform: &Terraform,
        vars: &[(String, String)],
        destroy: bool,
    ) -> Result<(PlanOutcome, PlanSummary)> {
        let plan_file = self.dir.plan_file();
        let outcome = terraform.plan(vars, &plan_file, destroy)?;
        let summary = PlanSummary::parse(&terraform.show_json(&plan_file)?)?;
        println!("{summary}");
        Ok((outcome, summary))
    }

    /// Uploads the Lambda zip to the artifact bucket under its hash (skipped when present).
    pub fn upload_lambda(&self, lambda: &LambdaPackage) -> Result<()> {
        let bucket = self.artifact_bucket();
        let key = publish::lambda_key(&lambda.sha256);
        step(&format!("uploading s3://{bucket}/{key}"), || {
            block_on(async {
                let s3 = self.target.s3().await;
                publish::upload_lambda(&s3, &bucket, &key, &lambda.zip_path).await
            })?
        })
        .map(drop)
    }

    /// Syncs the rendered site to the bucket Terraform reports as `site_bucket`.
    pub fn publish_site(&self, terraform: &Terraform, assets: &Assets) -> Result<()> {
        let outputs = terraform.outputs()?;
        let site_bucket = outputs["site_bucket"]["value"]
            .as_str()
            .context("terraform output `site_bucket` is missing; has the stack been applied?")?
            .to_owned();
        let sync = block_on(async {
            let s3 = self.target.s3().await;
            publish::sync_site(&s3, &site_bucket, &assets.site_dir, &assets.site).await
        })??;
        println!(
            "site s3://{site_bucket}: {} uploaded, {} unchanged, {} removed",
            sync.uploaded, sync.unchanged, sync.deleted
        );
        if let Some(url) = outputs["site_url"]["value"].as_str() {
            println!("site_url = {url}");
        }
        Ok(())
    }

    pub fn fingerprint(
        &self,
        synthesis: &Synthesis,
        assets: &Assets,
        destroy: bool,
    ) -> Fingerprint {
        Fingerprint {
            stack: self.stack.name.clone(),
            config_sha256: config_sha256(&synthesis.main_tf_json),
            lambda_package_sha256: assets.lambda.sha256.clone(),
            site_sha256: assets.site_sha256.clone(),
            destroy,
        }
    }
}

/// Runs a step under a spinner; the spinner goes to stderr and disappears when done.
pub fn step<T>(label: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(label.to_owned());
    spinner.enable_steady_tick(Duration::from_millis(120));
    let result = work();
    spinner.finish_and_clear();
    match &result {
        Ok(_) => eprintln!("✓ {label}"),
        Err(_) => eprintln!("✗ {label}"),
    }
    result
}
