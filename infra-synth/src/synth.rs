//! Whole-stack assembly: config → typed model → Terraform JSON and a manifest.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Stack;
use crate::emit::terraform;
use crate::model::cloudwatch::LogGroup;
use crate::model::iam::{CallerIdentity, Statement};
use crate::model::{
    acm, apigateway, cloudfront, cloudwatch, dynamodb, ecr, kms, lambda, route53, s3, ssm,
};
use crate::tf::{Document, Output};

/// The model before rendering; `validate` inspects it, `synthesize` renders it.
pub struct Assembly {
    pub doc: Document,
    /// EVE's identity policy, checked for wildcards.
    pub execution_policy: Vec<Statement>,
}

/// What `synth` writes for one stack.
#[derive(Debug, Clone)]
pub struct Synthesis {
    pub stack: String,
    /// The exact bytes of `main.tf.json`.
    pub main_tf_json: String,
    pub manifest: Manifest,
}

/// Index of the synthesized stack: what is in it and a hash of each part, so a reviewer or
/// the deploy step can see what changed without diffing the whole file.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub stack: String,
    pub generator: String,
    /// SHA-256 of `main.tf.json`.
    pub sha256: String,
    pub resource_count: usize,
    pub resources: Vec<ManifestEntry>,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestEntry {
    pub address: String,
    /// SHA-256 of the block's JSON body.
    pub sha256: String,
}

/// Builds every resource of the stack into one document.
pub fn assemble(stack: &Stack) -> anyhow::Result<Assembly> {
    let mut doc = Document::default();
    terraform::configure(&mut doc, stack);
    lambda::artifact_variables(&mut doc, stack);
    let account = doc.add("current", CallerIdentity {})?;
    let key = kms::stack_key(&mut doc, stack, &account)?;

    let buckets = s3::buckets(&mut doc, stack, account.account_id(), &key)?;
    let table = dynamodb::conversations(&mut doc, stack, &key)?;
    let parameters = ssm::eve_parameters(&mut doc, stack, &key)?;
    let function_logs = lambda::log_group(&mut doc, stack, &key)?;
    let execution_policy = lambda::execution_statements(
        stack,
        &lambda::Grants {
            account: &account,
            table: &table,
            certificates: &buckets.certificates,
            log_group: &function_logs,
            key: &key,
        },
    );
    let function = lambda::function(
        &mut doc,
        stack,
        &function_logs,
        &key,
        &parameters,
        execution_policy.clone(),
    )?;

    let api_logs = doc.add(
        "api",
        LogGroup {
            name: format!("/aws/apigateway/{}", stack.api_name()),
            retention_in_days: stack.api.log_retention_days,
            kms_key_id: key.arn(),
        },
    )?;
    let api = apigateway::api(&mut doc, stack, &function, &api_logs)?;

    let zone = route53::hosted_zone(&mut doc, stack)?;
    let certificate_arn = acm::certificate(&mut doc, stack, &zone)?;
    let distribution = cloudfront::distribution(
        &mut doc,
        stack,
        cloudfront::Targets {
            buckets: &buckets,
            api: &api,
            certificate_arn,
        },
    )?;
    route53::site_aliases(
        &mut doc,
        stack,
        &zone,
        distribution.domain_name(),
        distribution.hosted_zone_id(),
    )?;

    s3::policy(
        &mut doc,
        stack,
        "site",
        &buckets.site,
        vec![cloudfront::site_read_grant(&buckets.site, &distribution)],
    )?;
    s3::policy(
        &mut doc,
        stack,
        "certificates",
        &buckets.certificates,
        Vec::new(),
    )?;

    cloudwatch::alarms(&mut doc, stack, &key)?;
    cloudwatch::dashboard(&mut doc, stack)?;
    let repository = ecr::eve_server_repository(&mut doc, stack, &key)?;
    for (address, attributes) in &stack.aws.ignore_changes {
        doc.ignore_changes(address, attributes)
            .with_context(|| format!("aws.ignore_changes of stack `{}`", stack.name))?;
    }

    let outputs = [
        (
            "site_url",
            "The site's address",
            crate::tf::Expr::lit(stack.site_url()),
        ),
        (
            "api_url",
            "API Gateway stage URL (needs the API key; browsers use <site_url>/api)",
            api.stage.invoke_url(),
        ),
        (
            "distribution_id",
            "CloudFront distribution id (for invalidations)",
            distribution.id(),
        ),
        ("table_name", "DynamoDB conversations table", table.name()),
        (
            "function_name",
            "EVE's Lambda function",
            function.function_name(),
        ),
        (
            "site_bucket",
            "Bucket the site is published to",
            buckets.site.bucket(),
        ),
        (
            "certificates_bucket",
            "Bucket holding certificate PDFs",
            buckets.certificates.bucket(),
        ),
        (
            "container_repository_url",
            "ECR repository for the eve-server image",
            repository.repository_url(),
        ),
    ];
    for (name, description, value) in outputs {
        doc.outputs
            .insert(name.to_string(), Output { description, value });
    }
    Ok(Assembly {
        doc,
        execution_policy,
    })
}

/// Synthesizes the stack; the same config always gives byte-identical output.
pub fn synthesize(stack: &Stack) -> anyhow::Result<Synthesis> {
    let assembly = assemble(stack)?;
    let main_tf_json = terraform::render(&assembly.doc, stack)?;
    let resources = assembly
        .doc
        .entries()
        .into_iter()
        .map(|entry| {
            Ok(ManifestEntry {
                sha256: sha256_hex(&serde_json::to_vec(&entry.body)?),
                address: entry.address,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let manifest = Manifest {
        stack: stack.name.clone(),
        generator: format!("infra-synth {}", env!("CARGO_PKG_VERSION")),
        sha256: sha256_hex(main_tf_json.as_bytes()),
        resource_count: resources.len(),
        resources,
        outputs: assembly.doc.outputs.keys().cloned().collect(),
    };
    Ok(Synthesis {
        stack: stack.name.clone(),
        main_tf_json,
        manifest,
    })
}

impl Synthesis {
    /// Writes `<out_dir>/<stack>/main.tf.json` and `manifest.json`; returns that directory.
    pub fn write(&self, out_dir: &Path) -> anyhow::Result<PathBuf> {
        let dir = out_dir.join(&self.stack);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let main = dir.join("main.tf.json");
        std::fs::write(&main, &self.main_tf_json)
            .with_context(|| format!("cannot write {}", main.display()))?;
        let manifest_path = dir.join("manifest.json");
        let mut manifest = serde_json::to_string_pretty(&self.manifest)?;
        manifest.push('\n');
        std::fs::write(&manifest_path, manifest)
            .with_context(|| format!("cannot write {}", manifest_path.display()))?;
        Ok(dir)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
