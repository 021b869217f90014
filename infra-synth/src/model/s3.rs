//! S3: the site, certificates and access-log buckets, each hardened the same way.

use serde::Serialize;

use super::iam::{PolicyDocument, Statement};
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub bucket: String,
    pub force_destroy: bool,
}

impl Block for Bucket {
    const TYPE: &'static str = "aws_s3_bucket";
}

impl Ref<Bucket> {
    /// The bucket name (its `id`).
    pub fn bucket(&self) -> Expr {
        self.attr("bucket")
    }

    pub fn regional_domain_name(&self) -> Expr {
        self.attr("bucket_regional_domain_name")
    }

    pub fn domain_name(&self) -> Expr {
        self.attr("bucket_domain_name")
    }

    /// The ARN of one object key (exact, no wildcard).
    pub fn object_arn(&self, key: &str) -> Expr {
        self.arn().join_lit(&format!("/{key}"))
    }

    /// Every object — only for bucket policies (service principals, TLS-only denies).
    pub fn all_objects_arn(&self) -> Expr {
        self.arn().join_lit("/*")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Versioning {
    pub bucket: Expr,
    pub versioning_configuration: VersioningConfiguration,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersioningConfiguration {
    pub status: &'static str,
}

impl Block for Versioning {
    const TYPE: &'static str = "aws_s3_bucket_versioning";
}

#[derive(Debug, Clone, Serialize)]
pub struct Encryption {
    pub bucket: Expr,
    pub rule: EncryptionRule,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncryptionRule {
    pub apply_server_side_encryption_by_default: EncryptionDefault,
    pub bucket_key_enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncryptionDefault {
    pub sse_algorithm: &'static str,
}

impl Block for Encryption {
    const TYPE: &'static str = "aws_s3_bucket_server_side_encryption_configuration";
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicAccessBlock {
    pub bucket: Expr,
    pub block_public_acls: bool,
    pub block_public_policy: bool,
    pub ignore_public_acls: bool,
    pub restrict_public_buckets: bool,
}

impl Block for PublicAccessBlock {
    const TYPE: &'static str = "aws_s3_bucket_public_access_block";
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnershipControls {
    pub bucket: Expr,
    pub rule: OwnershipRule,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnershipRule {
    pub object_ownership: &'static str,
}

impl Block for OwnershipControls {
    const TYPE: &'static str = "aws_s3_bucket_ownership_controls";
}

#[derive(Debug, Clone, Serialize)]
pub struct BucketPolicy {
    pub bucket: Expr,
    pub policy: Expr,
}

impl Block for BucketPolicy {
    const TYPE: &'static str = "aws_s3_bucket_policy";
}

#[derive(Debug, Clone, Serialize)]
pub struct Logging {
    pub bucket: Expr,
    pub target_bucket: Expr,
    pub target_prefix: String,
}

impl Block for Logging {
    const TYPE: &'static str = "aws_s3_bucket_logging";
}

#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    pub bucket: Expr,
    pub rule: Vec<LifecycleRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LifecycleRule {
    pub id: &'static str,
    pub status: &'static str,
    pub filter: LifecycleFilter,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expiration: Vec<Days>,
    pub noncurrent_version_expiration: NoncurrentDays,
    pub abort_incomplete_multipart_upload: AbortUpload,
}

#[derive(Debug, Clone, Serialize)]
pub struct LifecycleFilter {
    pub prefix: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Days {
    pub days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoncurrentDays {
    pub noncurrent_days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbortUpload {
    pub days_after_initiation: u32,
}

impl Block for Lifecycle {
    const TYPE: &'static str = "aws_s3_bucket_lifecycle_configuration";
}

/// Object events go to EventBridge, so anyone can audit uploads without touching the stack.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub bucket: Expr,
    pub eventbridge: bool,
}

impl Block for Notification {
    const TYPE: &'static str = "aws_s3_bucket_notification";
}

/// The three buckets of the stack.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub site: Ref<Bucket>,
    pub certificates: Ref<Bucket>,
    pub logs: Ref<Bucket>,
}

/// How a bucket differs from the others; everything else is the same hardening.
struct Spec {
    label: &'static str,
    name: String,
    /// SSE-KMS for private documents; SSE-S3 where CloudFront must read or write objects.
    sse: &'static str,
    /// CloudFront's legacy log delivery writes with ACLs, so the log bucket keeps them enabled.
    ownership: &'static str,
    /// Current objects expire after this many days (logs only).
    expire_days: Option<u32>,
}

/// Days before superseded object versions are removed.
const NONCURRENT_DAYS: u32 = 30;

pub fn buckets(doc: &mut Document, stack: &Stack) -> anyhow::Result<Buckets> {
    let logs = bucket(
        doc,
        stack,
        Spec {
            label: "logs",
            name: stack.logs_bucket_name(),
            sse: "AES256",
            ownership: "BucketOwnerPreferred",
            expire_days: Some(stack.buckets.log_expiry_days),
        },
        None,
    )?;
    let site = bucket(
        doc,
        stack,
        Spec {
            label: "site",
            name: stack.site_bucket_name(),
            sse: "AES256",
            ownership: "BucketOwnerEnforced",
            expire_days: None,
        },
        Some(&logs),
    )?;
    let certificates = bucket(
        doc,
        stack,
        Spec {
            label: "certificates",
            name: stack.certificates_bucket_name(),
            sse: "aws:kms",
            ownership: "BucketOwnerEnforced",
            expire_days: None,
        },
        Some(&logs),
    )?;
    Ok(Buckets {
        site,
        certificates,
        logs,
    })
}

fn bucket(
    doc: &mut Document,
    stack: &Stack,
    spec: Spec,
    access_logs: Option<&Ref<Bucket>>,
) -> anyhow::Result<Ref<Bucket>> {
    let label = spec.label;
    let bucket = doc.add(
        label,
        Bucket {
            bucket: spec.name,
            force_destroy: stack.buckets.force_destroy,
        },
    )?;
    let id = bucket.id();
    doc.add(
        label,
        Versioning {
            bucket: id.clone(),
            versioning_configuration: VersioningConfiguration { status: "Enabled" },
        },
    )?;
    doc.add(
        label,
        Encryption {
            bucket: id.clone(),
            rule: EncryptionRule {
                apply_server_side_encryption_by_default: EncryptionDefault {
                    sse_algorithm: spec.sse,
                },
                bucket_key_enabled: true,
            },
        },
    )?;
    doc.add(
        label,
        PublicAccessBlock {
            bucket: id.clone(),
            block_public_acls: true,
            block_public_policy: true,
            ignore_public_acls: true,
            restrict_public_buckets: true,
        },
    )?;
    doc.add(
        label,
        OwnershipControls {
            bucket: id.clone(),
            rule: OwnershipRule {
                object_ownership: spec.ownership,
            },
        },
    )?;
    doc.add(
        label,
        Lifecycle {
            bucket: id.clone(),
            rule: vec![LifecycleRule {
                id: "housekeeping",
                status: "Enabled",
                filter: LifecycleFilter { prefix: "" },
                expiration: spec
                    .expire_days
                    .map(|days| Days { days })
                    .into_iter()
                    .collect(),
                noncurrent_version_expiration: NoncurrentDays {
                    noncurrent_days: NONCURRENT_DAYS,
                },
                abort_incomplete_multipart_upload: AbortUpload {
                    days_after_initiation: 7,
                },
            }],
        },
    )?;
    doc.add(
        label,
        Notification {
            bucket: id.clone(),
            eventbridge: true,
        },
    )?;
    if let Some(target) = access_logs {
        doc.add(
            label,
            Logging {
                bucket: id,
                target_bucket: target.id(),
                target_prefix: format!("s3/{label}/"),
            },
        )?;
    }
    Ok(bucket)
}

/// Denies every request that does not use TLS.
pub fn tls_only(bucket: &Ref<Bucket>) -> Statement {
    Statement::deny(
        "TlsOnly",
        &["s3:*"],
        vec![bucket.arn(), bucket.all_objects_arn()],
    )
    .principal("*", "*")
    .when("Bool", "aws:SecureTransport", "false")
}

/// Attaches the bucket's one policy: TLS-only plus `grants`.
pub fn policy(
    doc: &mut Document,
    label: &str,
    bucket: &Ref<Bucket>,
    grants: Vec<Statement>,
) -> anyhow::Result<Ref<BucketPolicy>> {
    let mut statement = vec![tls_only(bucket)];
    statement.extend(grants);
    let document = doc.add(&format!("{label}_bucket"), PolicyDocument { statement })?;
    doc.add(
        label,
        BucketPolicy {
            bucket: bucket.id(),
            policy: document.json(),
        },
    )
}

/// Lets S3 server access logging write into the log bucket, from this account only.
pub fn server_access_log_grant(logs: &Ref<Bucket>, account_id: Expr) -> Statement {
    Statement::allow(
        "S3ServerAccessLogs",
        &["s3:PutObject"],
        vec![logs.arn().join_lit("/s3/*")],
    )
    .principal("Service", "logging.s3.amazonaws.com")
    .when("StringEquals", "aws:SourceAccount", account_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn every_bucket_is_hardened_and_logs_expire() {
        let stack = test_stack();
        let mut doc = Document::default();
        let buckets = buckets(&mut doc, &stack).expect("buckets");
        let json = doc.to_json("t").expect("json");
        let res = &json["resource"];
        for label in ["site", "certificates", "logs"] {
            assert_eq!(
                res["aws_s3_bucket_versioning"][label]["versioning_configuration"]["status"],
                "Enabled"
            );
            assert_eq!(
                res["aws_s3_bucket_public_access_block"][label]["restrict_public_buckets"],
                true
            );
            assert!(res["aws_s3_bucket_server_side_encryption_configuration"][label].is_object());
        }
        assert_eq!(
            res["aws_s3_bucket_lifecycle_configuration"]["logs"]["rule"][0]["expiration"][0]
                ["days"],
            90
        );
        assert!(
            res["aws_s3_bucket_lifecycle_configuration"]["site"]["rule"][0]
                .get("expiration")
                .is_none()
        );
        assert_eq!(
            res["aws_s3_bucket_logging"]["site"]["target_bucket"],
            "${aws_s3_bucket.logs.id}"
        );
        assert_eq!(
            buckets
                .certificates
                .object_arn("certificates/a.pdf")
                .as_template(),
            "${aws_s3_bucket.certificates.arn}/certificates/a.pdf"
        );
    }

    #[test]
    fn tls_only_denies_insecure_transport() {
        let mut doc = Document::default();
        let bucket = doc
            .add(
                "b",
                Bucket {
                    bucket: "b-1".into(),
                    force_destroy: false,
                },
            )
            .expect("add");
        let json = serde_json::to_value(tls_only(&bucket)).expect("json");
        assert_eq!(json["effect"], "Deny");
        assert_eq!(json["condition"][0]["variable"], "aws:SecureTransport");
        assert_eq!(json["condition"][0]["values"][0], "false");
    }
}
