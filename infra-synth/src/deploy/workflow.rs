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
use super::package::{build_lambda, tree_digest, LambdaPackage};
use super::plan_summary::PlanSummary;
use super::publish;
use super::state::{config_sha256, DeployDir, Fingerprint};
use super::terraform::{PlanOutcome, Terraform};
use crate::config::{Backend, Stack};
use crate::constructs::CodeAsset;
use crate::cost::CostChange;
use crate::emit::terraform::Synthesis;
use crate::synth::synthesize;

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
    /// A validated stack, pointed at `endpoint_url` (an emulator) when given; deploy files go
    /// under `out/<stack>`.
    pub fn new(mut stack: Stack, endpoint_url: Option<String>, out: &Path) -> Self {
        if let Some(endpoint) = endpoint_url {
            stack = stack.with_endpoint(endpoint);
        }
        let target = AwsTarget {
            region: stack.region.clone(),
            endpoint_url: stack.aws.endpoint.clone(),
        };
        let dir = DeployDir::new(out, &stack.name);
        Self { stack, target, dir }
    }

    /// Finds Terraform (`program`, with an offline provider mirror) and binds it to this
    /// stack's working directory; with an emulator, Terraform gets dummy credentials too.
    pub fn terraform(&self, program: &str, plugin_dir: Option<PathBuf>) -> Result<Terraform> {
        let terraform = Terraform::locate(program, self.dir.root(), plugin_dir)?;
        Ok(match &self.target.endpoint_url {
            Some(_) => terraform
                .with_env("AWS_ACCESS_KEY_ID", "testing")
                .with_env("AWS_SECRET_ACCESS_KEY", "testing"),
            None => terraform,
        })
    }

    /// Builds the Lambda zip (with `cargo_profile`, from the Cargo `workspace`) and renders the
    /// site, hashing both by content.
    pub fn package(&self, workspace: &Path, cargo_profile: &str) -> Result<Assets> {
        let asset = self.code_asset()?;
        let lambda = step("building the Lambda package", || {
            build_lambda(workspace, &asset, cargo_profile, &self.dir.dist())
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
        let opts =
            BuildOptions::new(&self.stack.site_url())?.with_media_dir(self.stack.media_dir());
        render::build(&content, &opts, site_dir)
            .with_context(|| format!("cannot build the site into {}", site_dir.display()))
    }

    /// The code package the stack's functions run, found from the model. Functions may share
    /// one package; this deploy step builds one.
    fn code_asset(&self) -> Result<CodeAsset> {
        let synthesis = synthesize(&self.stack)?;
        let mut assets = synthesis.assets.into_iter();
        let first = assets
            .next()
            .context("the stack has no Lambda function, so there is nothing to package")?;
        if let Some(other) = assets.find(|a| {
            (a.package, a.binary, a.architecture)
                != (first.package, first.binary, first.architecture)
        }) {
            anyhow::bail!(
                "functions `{}` and `{}` run different code packages; the deploy step builds one",
                first.function,
                other.function
            );
        }
        Ok(first)
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

    /// The `-var` values naming the uploaded package, for every function that runs it.
    pub fn vars(
        &self,
        synthesis: &Synthesis,
        lambda: &LambdaPackage,
    ) -> Result<Vec<(String, String)>> {
        let digest = hex::decode(&lambda.sha256).context("package hash is not hex")?;
        let sha256 = base64::engine::general_purpose::STANDARD.encode(digest);
        Ok(synthesis
            .assets
            .iter()
            .flat_map(|asset| {
                [
                    (asset.bucket_variable.clone(), self.artifact_bucket()),
                    (
                        asset.key_variable.clone(),
                        publish::lambda_key(&lambda.sha256),
                    ),
                    (asset.sha256_variable.clone(), sha256.clone()),
                ]
            })
            .collect())
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
        let show_json = terraform.show_json(&plan_file)?;
        let summary = PlanSummary::parse(&show_json)?;
        println!("{summary}");
        // The cost change is advice beside the plan: a stack the table cannot price still plans.
        let plan: serde_json::Value = serde_json::from_str(&show_json)?;
        match CostChange::of_plan(&self.stack, &plan) {
            Ok(change) => println!("{change}"),
            Err(error) => eprintln!("warning: cannot price the plan: {error:#}"),
        }
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
