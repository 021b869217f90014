//! S3: buckets hardened alike (versioning, encryption, public access blocked, owner-enforced
//! objects, TLS-only policy, lifecycle housekeeping, EventBridge notifications), with a
//! resource policy written once from every statement added to it.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;

use super::core::{statement_id, Store};
use super::iam::Grantee;
use super::iam::{PolicyDocument, Role, RoleProps, Statement};
use super::kms::{grant_on_store, Key};
use super::{Id, Scope};
use crate::tf::{Block, Dependency, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct BucketBlock {
    pub bucket: String,
    pub force_destroy: bool,
}

impl Block for BucketBlock {
    const TYPE: &'static str = "aws_s3_bucket";
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
pub struct EncryptionConfiguration {
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

impl Block for EncryptionConfiguration {
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

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationConfiguration {
    pub role: Expr,
    pub bucket: Expr,
    pub rule: Vec<ReplicationRule>,
    /// S3 refuses replication from a bucket whose versioning is not yet on.
    pub depends_on: Vec<Dependency>,
}

impl Block for ReplicationConfiguration {
    const TYPE: &'static str = "aws_s3_bucket_replication_configuration";
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationRule {
    pub id: &'static str,
    pub status: &'static str,
    pub priority: u32,
    /// Empty: every object.
    pub filter: serde_json::Value,
    pub delete_marker_replication: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_selection_criteria: Option<SourceSelection>,
    pub destination: ReplicationDestination,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceSelection {
    pub sse_kms_encrypted_objects: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationDestination {
    pub bucket: Expr,
    pub storage_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<ReplicaEncryption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_time: Option<ReplicationTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<ReplicationMetrics>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaEncryption {
    pub replica_kms_key_id: Expr,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationTime {
    pub status: &'static str,
    pub time: Minutes,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationMetrics {
    pub status: &'static str,
    pub event_threshold: Minutes,
}

#[derive(Debug, Clone, Serialize)]
pub struct Minutes {
    pub minutes: u32,
}

/// S3 Replication Time Control's bound: 99.99 % of objects within 15 minutes.
pub const REPLICATION_TIME_MINUTES: u32 = 15;

/// How objects are encrypted at rest.
#[derive(Clone, Default)]
pub enum Encryption {
    /// SSE-S3, where a service without KMS access must read or write objects (CloudFront).
    #[default]
    S3Managed,
    /// SSE-KMS with a customer-managed key, for private documents.
    Kms(Key),
}

#[derive(Clone)]
pub struct BucketProps {
    /// The bucket name (names are global); default the scope's physical name.
    pub name: Option<String>,
    pub encryption: Encryption,
    /// `BucketOwnerEnforced` (ACLs off) unless a writer needs ACLs (CloudFront's legacy logs).
    pub object_ownership: &'static str,
    /// Current objects expire after this many days (logs).
    pub expire_days: Option<u32>,
    /// Days before superseded object versions are removed.
    pub noncurrent_days: u32,
    /// Let `destroy` delete a non-empty bucket (throwaway stacks only).
    pub force_destroy: bool,
    /// Deny every request without TLS (an emulator may need this off).
    pub tls_only: bool,
}

impl Default for BucketProps {
    fn default() -> Self {
        BucketProps {
            name: None,
            encryption: Encryption::default(),
            object_ownership: "BucketOwnerEnforced",
            expire_days: None,
            noncurrent_days: 30,
            force_destroy: false,
            tls_only: true,
        }
    }
}

/// A hardened bucket.
#[derive(Clone)]
pub struct Bucket {
    scope: Scope,
    bucket: Ref<BucketBlock>,
    key: Option<Key>,
    sid: String,
    /// Statements of the bucket policy, written when the stack is finished.
    policy: Rc<RefCell<Vec<Statement>>>,
}

impl Bucket {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: BucketProps) -> Bucket {
        let scope = scope.child(id);
        let bucket = scope.add(BucketBlock {
            bucket: props.name.unwrap_or_else(|| scope.physical_name()),
            force_destroy: props.force_destroy,
        });
        let id = bucket.id();
        scope.add(Versioning {
            bucket: id.clone(),
            versioning_configuration: VersioningConfiguration { status: "Enabled" },
        });
        let key = match props.encryption {
            Encryption::S3Managed => None,
            Encryption::Kms(key) => Some(key),
        };
        scope.add(EncryptionConfiguration {
            bucket: id.clone(),
            rule: EncryptionRule {
                apply_server_side_encryption_by_default: EncryptionDefault {
                    sse_algorithm: if key.is_some() { "aws:kms" } else { "AES256" },
                    kms_master_key_id: key.as_ref().map(Key::arn),
                },
                bucket_key_enabled: true,
            },
        });
        scope.add(PublicAccessBlock {
            bucket: id.clone(),
            block_public_acls: true,
            block_public_policy: true,
            ignore_public_acls: true,
            restrict_public_buckets: true,
        });
        scope.add(OwnershipControls {
            bucket: id.clone(),
            rule: OwnershipRule {
                object_ownership: props.object_ownership,
            },
        });
        scope.add(Lifecycle {
            bucket: id.clone(),
            rule: vec![LifecycleRule {
                id: "housekeeping",
                status: "Enabled",
                filter: LifecycleFilter { prefix: "" },
                expiration: props
                    .expire_days
                    .map(|days| Days { days })
                    .into_iter()
                    .collect(),
                noncurrent_version_expiration: NoncurrentDays {
                    noncurrent_days: props.noncurrent_days,
                },
                abort_incomplete_multipart_upload: AbortUpload {
                    days_after_initiation: 7,
                },
            }],
        });
        scope.add(Notification {
            bucket: id,
            eventbridge: true,
        });
        scope.with_tree(|tree| {
            tree.stores.push(Store {
                path: scope.path(),
                address: bucket.address(),
                encrypted: true,
            })
        });
        let policy = Rc::new(RefCell::new(Vec::new()));
        let finished = (scope.clone(), bucket.clone(), policy.clone());
        scope.when_finished(move || {
            let (scope, bucket, policy) = finished;
            write_policy(&scope, &bucket, props.tls_only, policy.take());
        });
        Bucket {
            sid: statement_id(&scope),
            scope,
            bucket,
            key,
            policy,
        }
    }

    pub fn arn(&self) -> Expr {
        self.bucket.arn()
    }

    /// The bucket name (its `id`).
    pub fn bucket(&self) -> Expr {
        self.bucket.attr("bucket")
    }

    pub fn regional_domain_name(&self) -> Expr {
        self.bucket.attr("bucket_regional_domain_name")
    }

    /// The ARN of one object key (exact, no wildcard).
    pub fn object_arn(&self, key: &str) -> Expr {
        self.arn().join_lit(&format!("/{key}"))
    }

    /// Every object — only for resource policies (service principals, TLS-only denies).
    pub fn all_objects_arn(&self) -> Expr {
        self.arn().join_lit("/*")
    }

    /// Adds a statement to the bucket's policy (written when the stack is finished).
    pub fn add_to_resource_policy(&self, statement: Statement) {
        self.policy.borrow_mut().push(statement);
    }

    /// What must exist before anything that needs the bucket policy in force.
    pub fn policy_dependency(&self) -> Dependency {
        Dependency::on_address(format!(
            "{}.{}",
            BucketPolicy::TYPE,
            self.scope.address_name()
        ))
    }

    /// Read exactly `keys` (no prefix wildcards), decrypting with the bucket's key.
    pub fn grant_read(&self, grantee: &impl Grantee, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        grant_on_store(
            grantee,
            Statement::allow(
                &format!("{}Objects", self.sid),
                &["s3:GetObject"],
                keys.iter().map(|key| self.object_arn(key)).collect(),
            ),
            self.key.as_ref(),
        );
    }

    /// Replicates every object, and delete markers, to `replica` (another region's bucket),
    /// as a role that may read exactly this bucket's versions and write exactly the
    /// replica's, with the two buckets' keys. `time_control` bounds the lag at
    /// [`REPLICATION_TIME_MINUTES`] and turns on replication metrics.
    pub fn replicate_to(&self, replica: &Bucket, time_control: bool) -> Role {
        let scope = self.scope.child("replication");
        let role = Role::in_scope(
            scope.clone(),
            RoleProps {
                service: "s3.amazonaws.com",
                description: "S3 replicates this bucket to its recovery-region replica",
            },
        );
        // Replication copies every object by definition, so these two statements are the
        // one place an identity policy names a bucket's `/*` (declared to the checks).
        let read = Statement::allow(
            "ReadVersionsForReplication",
            &[
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
            ],
            vec![self.all_objects_arn()],
        );
        let write = Statement::allow(
            "WriteReplicas",
            &[
                "s3:ReplicateObject",
                "s3:ReplicateDelete",
                "s3:ReplicateTags",
            ],
            vec![replica.all_objects_arn()],
        );
        let path = scope.path();
        scope.with_tree(|tree| {
            for statement in [&read, &write] {
                tree.whole_bucket_grants
                    .push((path.clone(), statement.sid.clone()));
            }
        });
        role.grant(Statement::allow(
            "ReadReplicationConfiguration",
            &["s3:GetReplicationConfiguration", "s3:ListBucket"],
            vec![self.arn()],
        ));
        role.grant(read);
        role.grant(write);
        if let Some(key) = &self.key {
            role.grant(Statement::allow(
                "DecryptSource",
                &["kms:Decrypt"],
                vec![key.arn()],
            ));
        }
        if let Some(key) = &replica.key {
            role.grant(Statement::allow(
                "EncryptReplica",
                &["kms:Encrypt", "kms:GenerateDataKey"],
                vec![key.arn()],
            ));
        }
        let enabled = Status { status: "Enabled" };
        scope.add(ReplicationConfiguration {
            role: role.arn(),
            bucket: self.bucket.id(),
            rule: vec![ReplicationRule {
                id: "recovery-region",
                status: "Enabled",
                priority: 0,
                filter: serde_json::json!({}),
                delete_marker_replication: enabled.clone(),
                source_selection_criteria: self.key.as_ref().map(|_| SourceSelection {
                    sse_kms_encrypted_objects: enabled.clone(),
                }),
                destination: ReplicationDestination {
                    bucket: replica.arn(),
                    storage_class: "STANDARD",
                    encryption_configuration: replica.key.as_ref().map(|key| ReplicaEncryption {
                        replica_kms_key_id: key.arn(),
                    }),
                    replication_time: time_control.then_some(ReplicationTime {
                        status: "Enabled",
                        time: Minutes {
                            minutes: REPLICATION_TIME_MINUTES,
                        },
                    }),
                    metrics: time_control.then_some(ReplicationMetrics {
                        status: "Enabled",
                        event_threshold: Minutes {
                            minutes: REPLICATION_TIME_MINUTES,
                        },
                    }),
                },
            }],
            depends_on: vec![
                Dependency::on_address(format!(
                    "{}.{}",
                    Versioning::TYPE,
                    self.scope.address_name()
                )),
                Dependency::on_address(format!(
                    "{}.{}",
                    Versioning::TYPE,
                    replica.scope.address_name()
                )),
                role.policy_dependency(),
            ],
        });
        role
    }

    /// S3 server access logs of this bucket go to `target` under `s3/<name>/`. The target's
    /// policy must admit the logging service first, or S3 rejects the configuration.
    pub fn log_to(&self, target: &Bucket, account_id: Expr) {
        let name = self.scope.address_name();
        let prefix = format!("s3/{name}/");
        target.add_to_resource_policy(
            Statement::allow(
                &format!("S3ServerAccessLogs{}", self.sid),
                &["s3:PutObject"],
                vec![target.arn().join_lit(&format!("/{prefix}*"))],
            )
            .principal("Service", "logging.s3.amazonaws.com")
            .when("StringEquals", "aws:SourceAccount", account_id)
            .when("ArnLike", "aws:SourceArn", self.arn()),
        );
        self.scope.add(Logging {
            bucket: self.bucket.id(),
            target_bucket: target.bucket.id(),
            target_prefix: prefix,
            depends_on: vec![target.policy_dependency()],
        });
    }
}

/// Denies every request that does not use TLS.
pub fn tls_only(bucket: &Ref<BucketBlock>) -> Statement {
    Statement::deny(
        "TlsOnly",
        &["s3:*"],
        vec![bucket.arn(), bucket.arn().join_lit("/*")],
    )
    .principal("*", "*")
    .when("Bool", "aws:SecureTransport", "false")
}

/// Writes a bucket's one policy: TLS-only (unless turned off) plus what was added; none when
/// that leaves no statement.
fn write_policy(scope: &Scope, bucket: &Ref<BucketBlock>, tls: bool, added: Vec<Statement>) {
    let statement: Vec<Statement> = tls
        .then(|| tls_only(bucket))
        .into_iter()
        .chain(added)
        .collect();
    if statement.is_empty() {
        return;
    }
    let document = scope.add_suffixed("policy", PolicyDocument { statement });
    scope.add(BucketPolicy {
        bucket: bucket.id(),
        policy: document.json(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::kms::KeyProps;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn buckets_are_hardened_and_logging_waits_for_the_target_policy() {
        let stack = stack();
        let key = Key::new(&stack, "stack", KeyProps::default());
        let logs = Bucket::new(
            &stack,
            "logs",
            BucketProps {
                expire_days: Some(90),
                ..BucketProps::default()
            },
        );
        let private = Bucket::new(
            &stack,
            "certificates",
            BucketProps {
                encryption: Encryption::Kms(key),
                ..BucketProps::default()
            },
        );
        private.log_to(&logs, Expr::lit("123456789012"));
        let json = json_of(stack);
        let res = &json["resource"];
        for label in ["certificates", "logs"] {
            assert_eq!(
                res["aws_s3_bucket_versioning"][label]["versioning_configuration"]["status"],
                "Enabled"
            );
            assert_eq!(
                res["aws_s3_bucket_public_access_block"][label]["restrict_public_buckets"],
                true
            );
            assert!(
                res["aws_s3_bucket_policy"][label].is_object(),
                "{label} is TLS-only"
            );
        }
        assert_eq!(res["aws_s3_bucket"]["logs"]["bucket"], "test-logs");
        let sse = |label: &str| {
            res["aws_s3_bucket_server_side_encryption_configuration"][label]["rule"]
                ["apply_server_side_encryption_by_default"]
                .clone()
        };
        assert_eq!(
            sse("certificates")["kms_master_key_id"],
            "${aws_kms_key.stack.arn}"
        );
        assert_eq!(sse("logs")["sse_algorithm"], "AES256");
        assert_eq!(
            res["aws_s3_bucket_lifecycle_configuration"]["logs"]["rule"][0]["expiration"][0]
                ["days"],
            90
        );
        let logging = &res["aws_s3_bucket_logging"]["certificates"];
        assert_eq!(logging["target_bucket"], "${aws_s3_bucket.logs.id}");
        assert_eq!(logging["depends_on"][0], "aws_s3_bucket_policy.logs");
        let logs_policy = &json["data"]["aws_iam_policy_document"]["logs_policy"]["statement"];
        assert_eq!(
            logs_policy[1]["principals"][0]["identifiers"][0],
            "logging.s3.amazonaws.com"
        );
    }

    #[test]
    fn replication_copies_everything_as_a_role_limited_to_the_two_buckets_and_keys() {
        let stack = stack();
        let key = Key::new(&stack, "stack", KeyProps::default());
        let source = Bucket::new(
            &stack,
            "certificates",
            BucketProps {
                encryption: Encryption::Kms(key),
                ..BucketProps::default()
            },
        );
        let dr = stack.child("dr").in_region("eu-west-2");
        let replica_key = Key::new(&dr, "key", KeyProps::default());
        let replica = Bucket::new(
            &dr,
            "certificates",
            BucketProps {
                encryption: Encryption::Kms(replica_key),
                ..BucketProps::default()
            },
        );
        source.replicate_to(&replica, true);
        let json = json_of(stack);
        let res = &json["resource"];
        let config = &res["aws_s3_bucket_replication_configuration"]["certificates_replication"];
        assert_eq!(config["bucket"], "${aws_s3_bucket.certificates.id}");
        let rule = &config["rule"][0];
        assert_eq!(rule["delete_marker_replication"]["status"], "Enabled");
        assert_eq!(
            rule["source_selection_criteria"]["sse_kms_encrypted_objects"]["status"],
            "Enabled"
        );
        let destination = &rule["destination"];
        assert_eq!(
            destination["bucket"],
            "${aws_s3_bucket.dr_certificates.arn}"
        );
        assert_eq!(
            destination["encryption_configuration"]["replica_kms_key_id"],
            "${aws_kms_key.dr_key.arn}"
        );
        assert_eq!(destination["replication_time"]["time"]["minutes"], 15);
        assert_eq!(
            res["aws_s3_bucket"]["dr_certificates"]["provider"],
            "aws.eu_west_2"
        );
        let statements = &json["data"]["aws_iam_policy_document"]
            ["certificates_replication_policy"]["statement"];
        let resources = |sid: &str| {
            statements
                .as_array()
                .and_then(|list| list.iter().find(|s| s["sid"] == sid))
                .map(|s| s["resources"].clone())
                .unwrap_or_else(|| panic!("statement {sid}: {statements}"))
        };
        assert_eq!(
            resources("ReadVersionsForReplication")[0],
            "${aws_s3_bucket.certificates.arn}/*"
        );
        assert_eq!(
            resources("WriteReplicas")[0],
            "${aws_s3_bucket.dr_certificates.arn}/*"
        );
        assert_eq!(resources("DecryptSource")[0], "${aws_kms_key.stack.arn}");
        assert_eq!(resources("EncryptReplica")[0], "${aws_kms_key.dr_key.arn}");
    }

    #[test]
    fn a_whole_bucket_grant_outside_replication_is_still_refused() {
        let stack = stack();
        let bucket = Bucket::new(&stack, "site", BucketProps::default());
        let role = Role::new(
            &stack,
            "reader",
            RoleProps {
                service: "lambda.amazonaws.com",
                description: "t",
            },
        );
        role.grant(Statement::allow(
            "ReadVersionsForReplication",
            &["s3:GetObject"],
            vec![bucket.all_objects_arn()],
        ));
        let problems = stack.finish().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("/*"), "{problems:?}");
    }

    #[test]
    fn tls_only_denies_insecure_transport() {
        let json = serde_json::to_value(tls_only(&Ref::named("b"))).expect("json");
        assert_eq!(json["effect"], "Deny");
        assert_eq!(json["condition"][0]["variable"], "aws:SecureTransport");
        assert_eq!(json["condition"][0]["values"][0], "false");
    }
}
