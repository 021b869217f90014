//! The Terraform state backend: one S3 bucket created through CloudFormation by `bootstrap`.
//!
//! Terraform cannot create the bucket that holds its own state, so a small CloudFormation stack
//! does. Change sets make it idempotent: a run whose template matches the deployed one executes
//! nothing. The same bucket holds the Lambda packages (keyed by hash) next to the state.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, Parameter, StackStatus};
use aws_sdk_cloudformation::Client;
use serde_json::json;

use super::aws::{is_missing_stack, sdk_error, AwsTarget};
use super::terraform::BackendConfig;

/// How long CloudFormation may take for one change set (creation plus execution).
const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(300);
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The stack output naming the bucket.
const BUCKET_OUTPUT: &str = "StateBucketName";
/// The template parameter naming the bucket.
const BUCKET_PARAMETER: &str = "BucketName";

/// The CloudFormation stack that holds the backend of one app/environment.
pub fn stack_name(app: &str, env: &str) -> String {
    format!("{app}-{env}-tfstate")
}

/// The state object key inside the bucket.
pub fn state_key(app: &str, env: &str) -> String {
    format!("{app}/{env}/terraform.tfstate")
}

/// The bootstrap template: a versioned, encrypted, private bucket that refuses plain HTTP.
/// The bucket is retained when the stack is deleted, because it holds the state history.
pub fn template() -> String {
    let bucket_arn = json!({ "Fn::GetAtt": ["StateBucket", "Arn"] });
    let objects_arn = json!({ "Fn::Sub": "${StateBucket.Arn}/*" });
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "CloudForgeX Terraform state and deploy assets (managed by infra-synth bootstrap)",
        "Parameters": {
            BUCKET_PARAMETER: {
                "Type": "String",
                "Description": "Name of the state and assets bucket (the stack's artifact bucket)"
            }
        },
        "Resources": {
            "StateBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": { "Ref": "BucketName" },
                    "VersioningConfiguration": { "Status": "Enabled" },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true
                    },
                    "OwnershipControls": {
                        "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }]
                    }
                }
            },
            "StateBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": { "Ref": "StateBucket" },
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, objects_arn],
                            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                        }]
                    }
                }
            }
        },
        "Outputs": {
            BUCKET_OUTPUT: {
                "Description": "Bucket for Terraform state and deploy assets",
                "Value": { "Ref": "StateBucket" }
            }
        }
    });
    serde_json::to_string_pretty(&template).unwrap_or_default()
}

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrapped {
    pub bucket: String,
    /// False when the deployed stack already matched the template.
    pub changed: bool,
}

/// Creates or updates the backend stack (bucket `bucket`) through a change set.
pub async fn ensure(cfn: &Client, stack: &str, bucket: &str) -> Result<Bootstrapped> {
    let existing = describe(cfn, stack).await?;
    // A stack left in REVIEW_IN_PROGRESS only ever had an unexecuted CREATE change set.
    let change_set_type = match &existing {
        Some(status) if *status != StackStatus::ReviewInProgress => ChangeSetType::Update,
        _ => ChangeSetType::Create,
    };
    let change_set = format!(
        "infra-synth-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let created = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&change_set)
        .change_set_type(change_set_type)
        .template_body(template())
        .parameters(
            Parameter::builder()
                .parameter_key(BUCKET_PARAMETER)
                .parameter_value(bucket)
                .build(),
        )
        .send()
        .await
        .map_err(sdk_error);
    match created {
        // moto refuses an identical UPDATE change set outright instead of creating a FAILED one.
        Err(err) if is_no_change(&err.to_string()) => {
            return Ok(Bootstrapped {
                bucket: state_bucket(cfn, stack).await?,
                changed: false,
            })
        }
        other => other.with_context(|| format!("cannot create a change set for stack {stack}"))?,
    };

    let started = Instant::now();
    let changes = loop {
        let described = cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(&change_set)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("cannot describe change set {change_set}"))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => break described.changes().len(),
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or_default();
                if is_no_change(reason) {
                    break 0;
                }
                bail!("change set {change_set} failed: {reason}");
            }
            _ if started.elapsed() > CHANGE_SET_TIMEOUT => {
                bail!("change set {change_set} not ready after {CHANGE_SET_TIMEOUT:?}")
            }
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    };

    if changes == 0 {
        cfn.delete_change_set()
            .stack_name(stack)
            .change_set_name(&change_set)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("cannot delete empty change set {change_set}"))?;
    } else {
        cfn.execute_change_set()
            .stack_name(stack)
            .change_set_name(&change_set)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("cannot execute change set {change_set}"))?;
        wait_until_settled(cfn, stack, started).await?;
    }
    Ok(Bootstrapped {
        bucket: state_bucket(cfn, stack).await?,
        changed: changes > 0,
    })
}

/// The bucket of an existing backend stack, with a hint to bootstrap when there is none.
pub async fn state_bucket(cfn: &Client, stack: &str) -> Result<String> {
    let described = match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(described) => described,
        Err(err) if is_missing_stack(&err) => {
            bail!("no state backend stack `{stack}`; run `infra-synth bootstrap` first")
        }
        Err(err) => {
            return Err(
                sdk_error(err).context(format!("cannot read the state backend stack `{stack}`"))
            )
        }
    };
    let found = described.stacks().first();
    let output = found.and_then(|s| {
        s.outputs()
            .iter()
            .find(|o| o.output_key() == Some(BUCKET_OUTPUT))
            .and_then(|o| o.output_value())
    });
    // moto leaves stacks created from change sets without outputs; the parameter names it too.
    let parameter = found.and_then(|s| {
        s.parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(BUCKET_PARAMETER))
            .and_then(|p| p.parameter_value())
    });
    output
        .or(parameter)
        .map(str::to_owned)
        .with_context(|| format!("stack `{stack}` names no bucket ({BUCKET_OUTPUT} output)"))
}

/// The `-backend-config` settings for the S3 backend (Terraform >= 1.10 names), with emulator
/// settings when the target has an endpoint override.
pub fn backend_config(bucket: &str, key: &str, target: &AwsTarget) -> BackendConfig {
    let mut settings = vec![
        ("bucket".to_owned(), bucket.to_owned()),
        ("key".to_owned(), key.to_owned()),
        ("region".to_owned(), target.region.clone()),
        ("encrypt".to_owned(), "true".to_owned()),
        ("use_lockfile".to_owned(), "true".to_owned()),
    ];
    if let Some(endpoint) = &target.endpoint_url {
        for (k, v) in [
            ("endpoints", format!("{{s3=\"{endpoint}\"}}")),
            ("use_path_style", "true".into()),
            ("skip_credentials_validation", "true".into()),
            ("skip_requesting_account_id", "true".into()),
            ("skip_metadata_api_check", "true".into()),
            ("skip_region_validation", "true".into()),
            ("skip_s3_checksum", "true".into()),
            ("access_key", "testing".into()),
            ("secret_key", "testing".into()),
        ] {
            settings.push((k.to_owned(), v));
        }
    }
    BackendConfig { settings }
}

fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

async fn describe(cfn: &Client, stack: &str) -> Result<Option<StackStatus>> {
    match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out.stacks().first().and_then(|s| s.stack_status().cloned())),
        Err(err) if is_missing_stack(&err) => Ok(None),
        Err(err) => Err(sdk_error(err).context(format!("cannot describe stack {stack}"))),
    }
}

async fn wait_until_settled(cfn: &Client, stack: &str, started: Instant) -> Result<()> {
    loop {
        let status = describe(cfn, stack).await?;
        let text = status.as_ref().map(|s| s.as_str()).unwrap_or("MISSING");
        if text.ends_with("_IN_PROGRESS") {
            if started.elapsed() > CHANGE_SET_TIMEOUT {
                bail!("stack {stack} still {text} after {CHANGE_SET_TIMEOUT:?}");
            }
            tokio::time::sleep(POLL_INTERVAL).await;
            continue;
        }
        if text.ends_with("_COMPLETE") && !text.contains("ROLLBACK") && !text.contains("DELETE") {
            return Ok(());
        }
        bail!("stack {stack} ended in {text}; see its events in CloudFormation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_stable_json_with_the_required_controls() {
        let text = template();
        assert_eq!(text, template(), "deterministic");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        let bucket = &value["Resources"]["StateBucket"]["Properties"];
        assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
            true
        );
        let statement = &value["Resources"]["StateBucketPolicy"]["Properties"]["PolicyDocument"]
            ["Statement"][0];
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
    }

    #[test]
    fn emulator_backend_uses_path_style_and_skips_account_checks() {
        let target = AwsTarget {
            region: "us-east-1".into(),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
        };
        let backend = backend_config("b", "app/local/terraform.tfstate", &target);
        let hcl = backend.to_hcl();
        assert!(
            hcl.contains("endpoints = {s3=\"http://127.0.0.1:5000\"}"),
            "{hcl}"
        );
        assert!(hcl.contains("use_path_style = true"), "{hcl}");
        let real = backend_config(
            "b",
            "k",
            &AwsTarget {
                endpoint_url: None,
                ..target
            },
        );
        assert!(
            !real.to_hcl().contains("skip_"),
            "real AWS validates everything"
        );
    }
}
