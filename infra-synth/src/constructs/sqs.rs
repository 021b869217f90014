//! SQS: encrypted queues with a dead-letter queue, and grants to send or consume.

use serde::Serialize;

use super::core::{statement_id, Store};
use super::iam::Grantee;
use super::iam::Statement;
use super::kms::{grant_on_store, Key};
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct QueueBlock {
    pub name: String,
    pub message_retention_seconds: u32,
    pub visibility_timeout_seconds: u32,
    /// SQS-managed encryption, when no customer-managed key is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqs_managed_sse_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<Expr>,
}

impl Block for QueueBlock {
    const TYPE: &'static str = "aws_sqs_queue";
}

/// SQS's redrive policy JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RedrivePolicy<'a> {
    dead_letter_target_arn: &'a str,
    max_receive_count: u32,
}

#[derive(Clone)]
pub struct QueueProps {
    pub encryption_key: Option<Key>,
    /// Four days, SQS's own default.
    pub retention_seconds: u32,
    /// Should exceed the consumer's timeout, or messages are handled twice.
    pub visibility_timeout_seconds: u32,
    /// Messages received this often without being deleted move to a dead-letter queue
    /// (`<id>-dead-letter`, kept 14 days); `None`: no dead-letter queue.
    pub dead_letter_after: Option<u32>,
}

impl Default for QueueProps {
    fn default() -> Self {
        QueueProps {
            encryption_key: None,
            retention_seconds: 345_600,
            visibility_timeout_seconds: 30,
            dead_letter_after: Some(5),
        }
    }
}

#[derive(Clone)]
pub struct Queue {
    queue: Ref<QueueBlock>,
    key: Option<Key>,
    sid: String,
}

impl Queue {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: QueueProps) -> Queue {
        let scope = scope.child(id);
        let encrypted = |name: String, retention, redrive_policy| QueueBlock {
            name,
            message_retention_seconds: retention,
            visibility_timeout_seconds: props.visibility_timeout_seconds,
            sqs_managed_sse_enabled: props.encryption_key.is_none().then_some(true),
            kms_master_key_id: props.encryption_key.as_ref().map(Key::arn),
            redrive_policy,
        };
        let redrive = props.dead_letter_after.map(|max_receive_count| {
            let dead_letter = scope.add_suffixed(
                "dead_letter",
                encrypted(
                    format!("{}-dead-letter", scope.physical_name()),
                    1_209_600,
                    None,
                ),
            );
            let arn = dead_letter.arn();
            let policy = RedrivePolicy {
                dead_letter_target_arn: arn.as_template(),
                max_receive_count,
            };
            Expr::json_template(&serde_json::to_value(&policy).unwrap_or_default(), [&arn])
        });
        let queue = scope.add(encrypted(
            scope.physical_name(),
            props.retention_seconds,
            redrive,
        ));
        scope.with_tree(|tree| {
            tree.stores.push(Store {
                path: scope.path(),
                address: queue.address(),
                encrypted: true,
            })
        });
        Queue {
            queue,
            key: props.encryption_key,
            sid: statement_id(&scope),
        }
    }

    pub fn arn(&self) -> Expr {
        self.queue.arn()
    }

    /// The queue URL (`id`), for senders.
    pub fn url(&self) -> Expr {
        self.queue.attr("url")
    }

    pub fn grant_send(&self, grantee: &impl Grantee) {
        grant_on_store(
            grantee,
            Statement::allow(
                &format!("{}Send", self.sid),
                &["sqs:SendMessage", "sqs:GetQueueAttributes"],
                vec![self.arn()],
            ),
            self.key.as_ref(),
        );
    }

    pub fn grant_consume(&self, grantee: &impl Grantee) {
        grant_on_store(
            grantee,
            Statement::allow(
                &format!("{}Consume", self.sid),
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                vec![self.arn()],
            ),
            self.key.as_ref(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn a_queue_is_encrypted_and_redrives_to_its_dead_letter_queue() {
        let stack = stack();
        Queue::new(&stack, "jobs", QueueProps::default());
        let json = json_of(stack);
        let queues = &json["resource"]["aws_sqs_queue"];
        assert_eq!(queues["jobs"]["name"], "test-jobs");
        assert_eq!(queues["jobs"]["sqs_managed_sse_enabled"], true);
        assert_eq!(queues["jobs_dead_letter"]["name"], "test-jobs-dead-letter");
        let redrive: serde_json::Value =
            serde_json::from_str(queues["jobs"]["redrive_policy"].as_str().expect("policy"))
                .expect("json");
        assert_eq!(
            redrive["deadLetterTargetArn"],
            "${aws_sqs_queue.jobs_dead_letter.arn}"
        );
        assert_eq!(redrive["maxReceiveCount"], 5);
    }
}
