//! KMS: customer-managed keys, rotated, with a key policy that delegates to IAM and admits
//! exactly the AWS services the stack lets use them.

use serde::Serialize;

use super::core::statement_id;
use super::iam::Grantee;
use super::iam::{PolicyDocument, Statement};
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct KeyBlock {
    pub description: String,
    pub enable_key_rotation: bool,
    pub deletion_window_in_days: u32,
    pub policy: Expr,
}

impl Block for KeyBlock {
    const TYPE: &'static str = "aws_kms_key";
}

impl Ref<KeyBlock> {
    pub fn key_id(&self) -> Expr {
        self.attr("key_id")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Alias {
    pub name: String,
    pub target_key_id: Expr,
}

impl Block for Alias {
    const TYPE: &'static str = "aws_kms_alias";
}

/// Days a scheduled deletion waits: the longest AWS allows, so a mistake can be undone.
const DELETION_WINDOW_DAYS: u32 = 30;

/// What a service principal needs to encrypt and decrypt with the key on a caller's behalf.
const USE_KEY: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

#[derive(Debug, Clone, Default)]
pub struct KeyProps {
    pub description: String,
    /// `alias/...`; default `alias/<scope's physical name>`.
    pub alias: Option<String>,
    /// CloudWatch Logs may encrypt this account's log groups in the key's region with it.
    pub allow_cloudwatch_logs: bool,
    /// CloudWatch alarms may publish to topics encrypted with it.
    pub allow_cloudwatch_alarms: bool,
    /// AWS Budgets may publish its alerts to topics encrypted with it.
    pub allow_budgets: bool,
    /// CloudFront distributions of this account may decrypt objects with it (an origin bucket
    /// encrypted with the key; the bucket policy still names the one distribution).
    pub allow_cloudfront_reads: bool,
}

/// A rotated customer-managed key. The policy delegates to IAM (the account administers
/// it; identities use it only as their own policies allow) and is written as inline JSON:
/// checkov judges an `aws_iam_policy_document` as an identity policy, where the key
/// policy's `*` resource ("this key") reads as "everything".
#[derive(Clone)]
pub struct Key {
    key: Ref<KeyBlock>,
    sid: String,
}

impl Key {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: KeyProps) -> Key {
        let scope = scope.child(id);
        let account_id = super::iam::account_id(&scope);
        let region = scope.region().to_string();
        let in_account = |prefix: &str, suffix: &str| {
            Expr::concat([&Expr::lit(prefix), &account_id, &Expr::lit(suffix)])
        };
        let this_key = || vec![Expr::lit("*")];
        let mut statement = vec![
            Statement::allow("AccountAdministers", &["kms:*"], this_key())
                .principal("AWS", in_account("arn:aws:iam::", ":root")),
        ];
        if props.allow_cloudwatch_logs {
            statement.push(
                Statement::allow("CloudWatchLogs", USE_KEY, this_key())
                    .principal("Service", format!("logs.{region}.amazonaws.com"))
                    .when(
                        "ArnLike",
                        "kms:EncryptionContext:aws:logs:arn",
                        in_account(&format!("arn:aws:logs:{region}:"), ":log-group:*"),
                    ),
            );
        }
        if props.allow_cloudwatch_alarms {
            statement.push(
                Statement::allow(
                    "CloudWatchAlarms",
                    &["kms:Decrypt", "kms:GenerateDataKey*"],
                    this_key(),
                )
                .principal("Service", "cloudwatch.amazonaws.com")
                .when("StringEquals", "aws:SourceAccount", account_id.clone()),
            );
        }
        if props.allow_budgets {
            statement.push(
                Statement::allow(
                    "BudgetsAlerts",
                    &["kms:Decrypt", "kms:GenerateDataKey*"],
                    this_key(),
                )
                .principal("Service", "budgets.amazonaws.com")
                .when("StringEquals", "aws:SourceAccount", account_id.clone()),
            );
        }
        if props.allow_cloudfront_reads {
            statement.push(
                Statement::allow("CloudFrontReads", &["kms:Decrypt"], this_key())
                    .principal("Service", "cloudfront.amazonaws.com")
                    .when("StringEquals", "aws:SourceAccount", account_id.clone()),
            );
        }
        let key = scope.add(KeyBlock {
            description: props.description,
            enable_key_rotation: true,
            deletion_window_in_days: DELETION_WINDOW_DAYS,
            policy: PolicyDocument { statement }.inline_json(),
        });
        scope.add(Alias {
            name: props
                .alias
                .unwrap_or_else(|| format!("alias/{}", scope.physical_name())),
            target_key_id: key.key_id(),
        });
        Key {
            key,
            sid: statement_id(&scope),
        }
    }

    pub fn arn(&self) -> Expr {
        self.key.arn()
    }

    /// Encrypt and decrypt with this key, e.g. for a service that uses it on the grantee's
    /// behalf (DynamoDB, S3, SSM).
    pub fn grant_encrypt_decrypt(&self, grantee: &impl Grantee) {
        grantee.grant_role().grant(Statement::allow(
            &format!("{}EncryptDecrypt", self.sid),
            &[
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
            ],
            vec![self.arn()],
        ));
    }
}

/// Grants `statement` on a store, and the use of its key when it has one (a grant on an
/// encrypted store is useless without it).
pub fn grant_on_store(grantee: &impl Grantee, statement: Statement, key: Option<&Key>) {
    grantee.grant_role().grant(statement);
    if let Some(key) = key {
        key.grant_encrypt_decrypt(grantee);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn key_rotates_and_its_policy_is_inline_json_with_references() {
        let stack = stack();
        Key::new(
            &stack,
            "stack",
            KeyProps {
                description: "test".into(),
                allow_cloudwatch_logs: true,
                allow_cloudwatch_alarms: true,
                allow_cloudfront_reads: true,
                ..KeyProps::default()
            },
        );
        let json = json_of(stack);
        let key = &json["resource"]["aws_kms_key"]["stack"];
        assert_eq!(key["enable_key_rotation"], true);
        let policy: serde_json::Value =
            serde_json::from_str(key["policy"].as_str().expect("policy string")).expect("json");
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 4);
        assert_eq!(statements[3]["Sid"], "CloudFrontReads");
        assert_eq!(statements[3]["Action"], serde_json::json!(["kms:Decrypt"]));
        assert_eq!(
            statements[3]["Condition"]["StringEquals"]["aws:SourceAccount"][0],
            "${data.aws_caller_identity.current.account_id}"
        );
        assert_eq!(
            statements[0]["Principal"]["AWS"][0],
            "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"
        );
        assert_eq!(
            statements[1]["Principal"]["Service"][0],
            "logs.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            statements[1]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"][0],
            "arn:aws:logs:eu-west-1:${data.aws_caller_identity.current.account_id}:log-group:*"
        );
        let alias = &json["resource"]["aws_kms_alias"]["stack"];
        assert_eq!(alias["target_key_id"], "${aws_kms_key.stack.key_id}");
        assert_eq!(alias["name"], "alias/test-stack");
    }
}
