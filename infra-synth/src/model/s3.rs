//! S3: the site, certificates and access-log buckets, each hardened the same way.

use serde::Serialize;

use super::iam::{PolicyDocument, Statement};
use super::kms::Key;
use crate::config::Stack;
use crate::tf::{Block, Dependency, Document, Expr, Ref};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
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
    /// S3 rejects a logging target whose policy does not yet admit the logging service.
    pub depends_on: Vec<Dependency>,
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
    /// SSE-KMS with the stack key for private documents; SSE-S3 (`None`) where CloudFront
    /// must read or write objects.
    kms_key: Option<Expr>,
    /// CloudFront's legacy log delivery writes with ACLs, so the log bucket keeps them enabled.
    ownership: &'static str,
    /// Current objects expire after this many days (logs only).
    expire_days: Option<u32>,
}

/// Days before superseded object versions are removed.
const NONCURRENT_DAYS: u32 = 30;

/// The three buckets. Server access logging of the site and certificates buckets is added
/// last, after the log bucket's policy admits the logging service, because S3 rejects a
/// target bucket whose policy does not.
pub fn buckets(
    doc: &mut Document,
    stack: &Stack,
    account_id: Expr,
    key: &Ref<Key>,
) -> anyhow::Result<Buckets> {
    let logs = bucket(
        doc,
        stack,
        Spec {
            label: "logs",
            name: stack.logs_bucket_name(),
            kms_key: None,
            ownership: "BucketOwnerPreferred",
            expire_days: Some(stack.buckets.log_expiry_days),
        },
    )?;
    let site = bucket(
        doc,
        stack,
        Spec {
            label: "site",
            name: stack.site_bucket_name(),
            kms_key: None,
            ownership: "BucketOwnerEnforced",
            expire_days: None,
        },
    )?;
    let certificates = bucket(
        doc,
        stack,
        Spec {
            label: "certificates",
            name: stack.certificates_bucket_name(),
            kms_key: Some(key.arn()),
            ownership: "BucketOwnerEnforced",
            expire_days: None,
        },
    )?;
    let logged = [("site", &site), ("certificates", &certificates)];
    let grants = logged
        .iter()
        .map(|(label, source)| server_access_log_grant(&logs, label, source, account_id.clone()))
        .collect();
    let logs_policy = policy(doc, stack, "logs", &logs, grants)?;
    for (label, source) in logged {
        doc.add(
            label,
            Logging {
                bucket: source.id(),
                target_bucket: logs.id(),
                target_prefix: access_log_prefix(label),
                depends_on: logs_policy.iter().map(Ref::dependency).collect(),
            },
        )?;
    }
    Ok(Buckets {
        site,
        certificates,
        logs,
    })
}

/// Where in the log bucket a bucket's server access logs go.
fn access_log_prefix(label: &str) -> String {
    format!("s3/{label}/")
}

fn bucket(doc: &mut Document, stack: &Stack, spec: Spec) -> anyhow::Result<Ref<Bucket>> {
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
                    sse_algorithm: if spec.kms_key.is_some() {
                        "aws:kms"
                    } else {
                        "AES256"
                    },
                    kms_master_key_id: spec.kms_key,
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

/// Attaches the bucket's one policy: TLS-only (unless the stack turns it off) plus `grants`;
/// none when that leaves no statement.
pub fn policy(
    doc: &mut Document,
    stack: &Stack,
    label: &str,
    bucket: &Ref<Bucket>,
    grants: Vec<Statement>,
) -> anyhow::Result<Option<Ref<BucketPolicy>>> {
    let statement: Vec<Statement> = stack
        .features
        .tls_only_bucket_policies
        .then(|| tls_only(bucket))
        .into_iter()
        .chain(grants)
        .collect();
    if statement.is_empty() {
        return Ok(None);
    }
    let document = doc.add(&format!("{label}_bucket"), PolicyDocument { statement })?;
    let policy = doc.add(
        label,
        BucketPolicy {
            bucket: bucket.id(),
            policy: document.json(),
        },
    )?;
    Ok(Some(policy))
}

/// Lets S3 server access logging write one source bucket's logs under its prefix, and only
/// on behalf of that bucket in this account.
fn server_access_log_grant(
    logs: &Ref<Bucket>,
    label: &str,
    source: &Ref<Bucket>,
    account_id: Expr,
) -> Statement {
    Statement::allow(
        &format!("S3ServerAccessLogs{}", pascal_case(label)),
        &["s3:PutObject"],
        vec![logs
            .arn()
            .join_lit(&format!("/{}*", access_log_prefix(label)))],
    )
    .principal("Service", "logging.s3.amazonaws.com")
    .when("StringEquals", "aws:SourceAccount", account_id)
    .when("ArnLike", "aws:SourceArn", source.arn())
}

fn pascal_case(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn every_bucket_is_hardened_and_logs_expire() {
        let stack = test_stack();
        let mut doc = Document::default();
        let key = crate::model::kms::test_key(&mut doc);
        let buckets = buckets(&mut doc, &stack, Expr::lit("123456789012"), &key).expect("buckets");
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
        let sse = |label: &str| {
            res["aws_s3_bucket_server_side_encryption_configuration"][label]["rule"]
                ["apply_server_side_encryption_by_default"]
                .clone()
        };
        assert_eq!(sse("certificates")["sse_algorithm"], "aws:kms");
        assert_eq!(
            sse("certificates")["kms_master_key_id"],
            "${aws_kms_key.stack.arn}"
        );
        for label in ["site", "logs"] {
            assert_eq!(
                sse(label)["sse_algorithm"],
                "AES256",
                "CloudFront reads {label}"
            );
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
            res["aws_s3_bucket_logging"]["site"]["depends_on"][0],
            "aws_s3_bucket_policy.logs"
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
