//! SNS: encrypted topics and their subscriptions.

use serde::Serialize;

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
        Topic { scope, topic }
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
