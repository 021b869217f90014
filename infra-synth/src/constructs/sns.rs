//! SNS: encrypted topics, their subscriptions, and a topic policy naming exactly the AWS
//! services granted to publish.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use serde::Serialize;

use super::core::statement_id;
use super::iam::{PolicyDocument, Statement};
use super::kms::Key;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct TopicBlock {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
}

impl Block for TopicBlock {
    const TYPE: &'static str = "aws_sns_topic";
}

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub topic_arn: Expr,
    pub protocol: &'static str,
    pub endpoint: Expr,
}

impl Block for Subscription {
    const TYPE: &'static str = "aws_sns_topic_subscription";
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicPolicy {
    pub arn: Expr,
    pub policy: Expr,
}

impl Block for TopicPolicy {
    const TYPE: &'static str = "aws_sns_topic_policy";
}

#[derive(Clone, Default)]
pub struct TopicProps {
    /// A customer-managed key: CloudWatch alarms cannot publish to a topic under the
    /// AWS-managed `aws/sns` key, so alarm topics need one.
    pub encryption_key: Option<Key>,
}

#[derive(Clone)]
pub struct Topic {
    scope: Scope,
    topic: Ref<TopicBlock>,
    /// Service principals granted `sns:Publish`; the policy is written when the stack is
    /// finished, and only when there is one.
    publishers: Rc<RefCell<BTreeSet<&'static str>>>,
}

impl Topic {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: TopicProps) -> Topic {
        let scope = scope.child(id);
        let topic = scope.add(TopicBlock {
            name: scope.physical_name(),
            kms_master_key_id: props.encryption_key.as_ref().map(Key::arn),
        });
        scope.with_tree(|tree| {
            tree.stores.push(super::core::Store {
                path: scope.path(),
                address: topic.address(),
                encrypted: props.encryption_key.is_some(),
            })
        });
        let publishers = Rc::new(RefCell::new(BTreeSet::new()));
        let finished = (scope.clone(), topic.clone(), publishers.clone());
        scope.when_finished(move || {
            let (scope, topic, publishers) = finished;
            write_policy(&scope, &topic, &publishers.take());
        });
        Topic {
            scope,
            topic,
            publishers,
        }
    }

    /// Lets the AWS service `principal` (e.g. `budgets.amazonaws.com`) publish, on behalf of
    /// this account only.
    pub fn grant_publish_to_service(&self, principal: &'static str) {
        self.publishers.borrow_mut().insert(principal);
    }

    pub fn arn(&self) -> Expr {
        self.topic.arn()
    }

    /// Emails `address` (which must confirm once).
    pub fn subscribe_email(&self, id: &str, address: &str) -> Ref<Subscription> {
        self.scope.add_suffixed(
            id,
            Subscription {
                topic_arn: self.arn(),
                protocol: "email",
                endpoint: Expr::lit(address),
            },
        )
    }
}

/// The topic's policy: the account keeps administering it (a topic policy replaces the
/// default one), and each granted service may publish for this account.
fn write_policy(scope: &Scope, topic: &Ref<TopicBlock>, publishers: &BTreeSet<&'static str>) {
    if publishers.is_empty() {
        return;
    }
    let account_id = super::iam::account_id(scope);
    let this_topic = || vec![topic.arn()];
    let root = Expr::concat([
        &Expr::lit("arn:aws:iam::"),
        &account_id,
        &Expr::lit(":root"),
    ]);
    let sid = statement_id(scope);
    let mut statement = vec![Statement::allow(
        &format!("{sid}AccountAdministers"),
        &[
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:ListSubscriptionsByTopic",
            "sns:Publish",
        ],
        this_topic(),
    )
    .principal("AWS", root)];
    for principal in publishers {
        let service = principal.split('.').next().unwrap_or(principal);
        let mut name = service.to_string();
        if let Some(first) = name.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        statement.push(
            Statement::allow(&format!("{name}Publishes"), &["sns:Publish"], this_topic())
                .principal("Service", *principal)
                .when("StringEquals", "aws:SourceAccount", account_id.clone()),
        );
    }
    scope.add(TopicPolicy {
        arn: topic.arn(),
        policy: PolicyDocument { statement }.inline_json(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::kms::KeyProps;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn a_topic_has_a_policy_only_once_a_service_is_granted_to_publish() {
        let stack = stack();
        let props = TopicProps {
            encryption_key: Some(Key::new(&stack, "key", KeyProps::default())),
        };
        Topic::new(&stack, "quiet", props.clone());
        let alarms = Topic::new(&stack, "alarms", props);
        alarms.grant_publish_to_service("budgets.amazonaws.com");
        alarms.grant_publish_to_service("cloudwatch.amazonaws.com");
        let json = json_of(stack);
        let policies = &json["resource"]["aws_sns_topic_policy"];
        assert!(policies.get("quiet").is_none());
        let policy: serde_json::Value =
            serde_json::from_str(policies["alarms"]["policy"].as_str().expect("policy text"))
                .expect("json");
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[1]["Sid"], "BudgetsPublishes");
        assert_eq!(
            statements[1]["Principal"]["Service"][0],
            "budgets.amazonaws.com"
        );
        assert_eq!(statements[1]["Resource"][0], "${aws_sns_topic.alarms.arn}");
        assert_eq!(
            statements[2]["Condition"]["StringEquals"]["aws:SourceAccount"][0],
            "${data.aws_caller_identity.current.account_id}"
        );
    }
}
