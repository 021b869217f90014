//! The steps `package`, `plan`, `apply`, `destroy` and `publish` share, over one loaded stack.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use indicatif::{ProgressBar, ProgressStyle};
use portfolio::render::{self, BuildOptions};
use portfolio::report::BuildReport;
use portfolio::Content;

use super::aws::{block_on, AwsTarget};
use super::backend;
use super::bundle::PlanBundle;
use super::package::{build_lambda, tree_digest, LambdaPackage};
use super::plan_summary::PlanSummary;
use super::publish;
use super::record;
use super::state::{config_sha256, DeployDir, DirLock, Fingerprint};
use super::terraform::{PlanMode, PlanOutcome, Terraform};
use crate::config::{Backend, Stack};
use crate::constructs::CodeAsset;
use crate::cost::CostChange;
use crate::digest::sha256_hex;
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

/// Where an applied stack serves its site.
#[derive(Debug, Clone)]
pub struct SiteTarget {
    pub bucket: String,
    pub url: Option<String>,
}

/// One loaded stack and where its deploy files live.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub stack: Stack,
    pub target: AwsTarget,
    pub dir: DeployDir,
    /// The state bucket, looked up once (init, the applied record and diff all need it).
    state_bucket: OnceLock<Option<String>>,
    /// Held from the start, so no other command works in `dir` meanwhile.
    _lock: DirLock,
}

impl Deployment {
    /// A validated stack, pointed at `endpoint_url` (an emulator) when given; deploy files go
    /// under `out/<stack>`, which this deployment holds until it is dropped.
    pub fn new(mut stack: Stack, endpoint_url: Option<String>, out: &Path) -> Result<Self> {
        if let Some(endpoint) = endpoint_url {
            stack = stack.with_endpoint(endpoint);
        }
        let target = AwsTarget {
            region: stack.region.clone(),
            endpoint_url: stack.aws.endpoint.clone(),
        };
        let dir = DeployDir::new(out, &stack.name);
        let lock = dir.lock()?;
        Ok(Self {
            stack,
            target,
            dir,
            state_bucket: OnceLock::new(),
            _lock: lock,
        })
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
        let backend = match self.state_bucket()? {
            None => super::terraform::BackendConfig {
                settings: Vec::new(),
            },
            Some(bucket) => backend::backend_config(&bucket, &self.state_key(), &self.target),
        };
        step("terraform init", || terraform.init(&backend))
    }

    /// Finds the state backend `bootstrap` made before any long step, so that a missing backend,
    /// missing credentials or an emulator that is not running stop a command in seconds rather
    /// than after the Lambda build.
    pub fn check_backend(&self) -> Result<()> {
        match self.stack.state.backend {
            Backend::Local => Ok(()),
            Backend::S3 => step("finding the state backend", || {
                self.state_bucket().map(drop)
            }),
        }
    }

    /// The bucket `bootstrap` made for the state, or `None` for a stack with local state.
    fn state_bucket(&self) -> Result<Option<String>> {
        if let Some(bucket) = self.state_bucket.get() {
            return Ok(bucket.clone());
        }
        let bucket = match self.stack.state.backend {
            Backend::Local => None,
            Backend::S3 => Some(block_on(async {
                let cfn = self.target.cloudformation().await;
                backend::state_bucket(&cfn, &self.backend_stack_name()).await
            })??),
        };
        Ok(self.state_bucket.get_or_init(|| bucket).clone())
    }

    /// Creates (or confirms) the state backend's CloudFormation stack and bucket.
    pub fn bootstrap(&self) -> Result<backend::Bootstrapped> {
        let bucket = self.artifact_bucket();
        block_on(async {
            let cfn = self.target.cloudformation().await;
            backend::ensure(&cfn, &self.backend_stack_name(), &bucket).await
        })?
    }

    fn state_key(&self) -> String {
        backend::state_key(&self.stack.app, &self.stack.env)
    }

    /// Records what is now deployed: beside the state in the state bucket, and in the local
    /// deploy directory (the copy `diff` uses without credentials).
    pub fn record_applied(&self, synthesis: &Synthesis) -> Result<()> {
        self.dir.record_applied(&synthesis.main_tf_json)?;
        if let Some(bucket) = self.state_bucket()? {
            let key = record::record_key(&self.state_key());
            block_on(record::put(
                &self.target,
                &bucket,
                &key,
                &synthesis.main_tf_json,
            ))??;
        }
        Ok(())
    }

    /// Forgets the applied record after a destroy, in the bucket and locally.
    pub fn forget_applied(&self) -> Result<()> {
        if let Some(bucket) = self.state_bucket()? {
            let key = record::record_key(&self.state_key());
            block_on(record::delete(&self.target, &bucket, &key))??;
        }
        self.dir.forget_applied()
    }

    /// The last applied `main.tf.json` and where it was read from. Read from the state bucket;
    /// the local copy is used only when there are no AWS credentials, and the answer says so.
    pub fn applied(&self) -> Result<(Option<String>, String)> {
        let local = || -> Result<(Option<String>, String)> {
            Ok((
                self.dir.applied()?,
                format!(
                    "{} (applied from this machine)",
                    self.dir.applied_file().display()
                ),
            ))
        };
        if self.stack.state.backend == Backend::Local {
            return local();
        }
        if !block_on(record::has_credentials(&self.target))? {
            let (record, source) = local()?;
            return Ok((
                record,
                format!("{source}: no AWS credentials to read the state bucket"),
            ));
        }
        let bucket = self
            .state_bucket()?
            .context("the stack keeps its state in S3")?;
        let key = record::record_key(&self.state_key());
        let record = block_on(record::get(&self.target, &bucket, &key))??;
        Ok((record, format!("s3://{bucket}/{key}")))
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

    /// `terraform plan -out` into the stack's plan file; returns the per-resource summary and
    /// the cost change, which is what a reviewer of the plan reads.
    pub fn plan(
        &self,
        terraform: &Terraform,
        vars: &[(String, String)],
        mode: PlanMode,
    ) -> Result<(PlanOutcome, String)> {
        let plan_file = self.dir.plan_file();
        let outcome = terraform.plan(vars, &plan_file, mode)?;
        let show_json = terraform.show_json(&plan_file)?;
        let mut summary = PlanSummary::parse(&show_json)?.to_string();
        // The cost change is advice beside the plan: a stack the table cannot price still plans.
        let plan: serde_json::Value = serde_json::from_str(&show_json)?;
        match CostChange::of_plan(&self.stack, &plan) {
            Ok(change) => summary = format!("{summary}\n{change}"),
            Err(error) => errln!("warning: cannot price the plan: {error:#}"),
        }
        Ok((outcome, summary))
    }

    /// Values for the package variables when no package is built (destroy, drift): those
    /// plans never deploy code, but Terraform needs every variable without a default set.
    pub fn placeholder_vars(synthesis: &Synthesis) -> Vec<(String, String)> {
        synthesis
            .assets
            .iter()
            .map(|asset| (asset.sha256_variable.clone(), String::new()))
            .collect()
    }

    /// Bundles the plan just made with its fingerprint and summary into `path`.
    pub fn save_bundle(
        &self,
        path: &Path,
        fingerprint: Fingerprint,
        summary: String,
    ) -> Result<PlanBundle> {
        let plan_file = self.dir.plan_file();
        let tfplan = std::fs::read(&plan_file)
            .with_context(|| format!("cannot read {}", plan_file.display()))?;
        let bundle = PlanBundle {
            fingerprint,
            summary,
            tfplan,
            rehearsal: None,
        };
        bundle.write(path)?;
        Ok(bundle)
    }

    /// Uploads the Lambda zip to the artifact bucket under its hash (skipped when present).
    pub fn upload_lambda(&self, lambda: &LambdaPackage) -> Result<()> {
        let bucket = self.artifact_bucket();
        let key = publish::lambda_key(&lambda.sha256);
        step(&format!("uploading s3://{bucket}/{key}"), || {
            block_on(async {
                let s3 = self.target.s3_for_uploads().await;
                publish::upload_lambda(&s3, &bucket, &key, &lambda.zip_path).await
            })?
        })
        .map(drop)
    }

    /// Where the applied stack serves its site: Terraform's `site_bucket` and `site_url`
    /// outputs, read from the state (so `init` first).
    pub fn site_target(&self, terraform: &Terraform) -> Result<SiteTarget> {
        self.site_target_in(&terraform.outputs()?)
    }

    /// [`Self::site_target`] from outputs already read (`terraform output -json`).
    pub fn site_target_in(&self, outputs: &serde_json::Value) -> Result<SiteTarget> {
        let bucket = outputs["site_bucket"]["value"]
            .as_str()
            .with_context(|| {
                format!(
                    "the state of stack `{}` has no `site_bucket` output; has the stack been \
                     applied?",
                    self.stack.name
                )
            })?
            .to_owned();
        let url = outputs["site_url"]["value"].as_str().map(str::to_owned);
        Ok(SiteTarget { bucket, url })
    }

    /// Syncs the rendered site to `site`'s bucket; returns what it did, for the caller to print.
    pub fn publish_site(&self, site: &SiteTarget, assets: &Assets) -> Result<String> {
        let sync = block_on(async {
            let s3 = self.target.s3_for_uploads().await;
            publish::sync_site(&s3, &site.bucket, &assets.site_dir, &assets.site).await
        })??;
        let mut done = format!(
            "site s3://{}: {} uploaded, {} unchanged, {} removed",
            site.bucket, sync.uploaded, sync.unchanged, sync.deleted
        );
        if let Some(url) = &site.url {
            done.push_str(&format!("\nsite_url = {url}"));
        }
        Ok(done)
    }

    /// What a plan made now would be planned from; needs `init` to have written the lock.
    pub fn fingerprint(
        &self,
        synthesis: &Synthesis,
        assets: &Assets,
        destroy: bool,
    ) -> Result<Fingerprint> {
        let lock = self.dir.provider_lock();
        let lock = std::fs::read(&lock).with_context(|| {
            format!(
                "cannot read the provider lock {}; `terraform init` writes it",
                lock.display()
            )
        })?;
        Ok(Fingerprint {
            stack: self.stack.name.clone(),
            config_sha256: config_sha256(&synthesis.main_tf_json),
            lambda_package_sha256: assets.lambda.sha256.clone(),
            site_sha256: assets.site_sha256.clone(),
            provider_lock_sha256: sha256_hex(&lock),
            destroy,
        })
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
        Ok(_) => errln!("✓ {label}"),
        Err(_) => errln!("✗ {label}"),
    }
    result
}
