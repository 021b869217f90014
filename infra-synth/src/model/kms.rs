//! KMS: the stack's one customer-managed key, for everything that holds EVE's data or
//! settings (logs, table, parameters, Lambda environment, certificate objects, alarm topic).

use serde::Serialize;

use super::iam::{CallerIdentity, PolicyDocument, Statement};
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub description: String,
    pub enable_key_rotation: bool,
    pub deletion_window_in_days: u32,
    pub policy: Expr,
}

impl Block for Key {
    const TYPE: &'static str = "aws_kms_key";
}

impl Ref<Key> {
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

/// The longest wait KMS allows before deleting a key: a mistaken destroy stays recoverable.
const DELETION_WINDOW_DAYS: u32 = 30;

/// What a service may do with the key on the account's behalf.
const USE_KEY: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

/// The key, rotated yearly, with `alias/<app>-<env>`. Its policy lets the account's IAM
/// policies grant use (EVE's role gets exactly that), CloudWatch Logs encrypt this stack's
/// log groups, and CloudWatch alarms publish to the encrypted topic — alarms cannot use the
/// AWS-managed SNS key, which is why the topic needs this one.
pub fn stack_key(
    doc: &mut Document,
    stack: &Stack,
    account: &Ref<CallerIdentity>,
) -> anyhow::Result<Ref<Key>> {
    let account_id = account.account_id();
    let region = &stack.region;
    let in_account = |prefix: &str, suffix: &str| {
        Expr::concat([&Expr::lit(prefix), &account_id, &Expr::lit(suffix)])
    };
    let this_key = || vec![Expr::lit("*")];
    let policy = PolicyDocument {
        statement: vec![
            Statement::allow("AccountAdministers", &["kms:*"], this_key())
                .principal("AWS", in_account("arn:aws:iam::", ":root")),
            Statement::allow("CloudWatchLogs", USE_KEY, this_key())
                .principal("Service", format!("logs.{region}.amazonaws.com"))
                .when(
                    "ArnLike",
                    "kms:EncryptionContext:aws:logs:arn",
                    in_account(&format!("arn:aws:logs:{region}:"), ":log-group:*"),
                ),
            Statement::allow(
                "CloudWatchAlarms",
                &["kms:Decrypt", "kms:GenerateDataKey*"],
                this_key(),
            )
            .principal("Service", "cloudwatch.amazonaws.com")
            .when("StringEquals", "aws:SourceAccount", account_id.clone()),
        ],
    };
    let key = doc.add(
        "stack",
        Key {
            description: format!("{}: EVE's data, settings and logs", stack.prefix()),
            enable_key_rotation: true,
            deletion_window_in_days: DELETION_WINDOW_DAYS,
            policy: policy.inline_json(),
        },
    )?;
    doc.add(
        "stack",
        Alias {
            name: format!("alias/{}", stack.prefix()),
            target_key_id: key.key_id(),
        },
    )?;
    Ok(key)
}

/// A stand-in key for other modules' unit tests.
#[cfg(test)]
pub(crate) fn test_key(doc: &mut Document) -> Ref<Key> {
    doc.add(
        "stack",
        Key {
            description: "test".into(),
            enable_key_rotation: true,
            deletion_window_in_days: DELETION_WINDOW_DAYS,
            policy: Expr::lit("{}"),
        },
    )
    .expect("key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn key_rotates_and_its_policy_is_inline_json_with_references() {
        let stack = test_stack();
        let mut doc = Document::default();
        let account = doc.add("current", CallerIdentity {}).expect("account");
        stack_key(&mut doc, &stack, &account).expect("key");
        let json = doc.to_json("t").expect("json");
        let key = &json["resource"]["aws_kms_key"]["stack"];
        assert_eq!(key["enable_key_rotation"], true);
        let policy: serde_json::Value =
            serde_json::from_str(key["policy"].as_str().expect("policy string")).expect("json");
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 3);
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
        assert_eq!(
            json["resource"]["aws_kms_alias"]["stack"]["target_key_id"],
            "${aws_kms_key.stack.key_id}"
        );
    }
}
