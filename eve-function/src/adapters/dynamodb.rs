//! Conversations and the daily token counter in one DynamoDB table.
//!
//! Table shape (infra-synth creates it; `eve_contract::store`): partition key `pk` (S), sort
//! key `sk` (S), TTL attribute `expires_at`. Turns: `pk` = session id, `sk` =
//! `<at_ms, 16 digits>#<role>#<request id>`, so a query returns them in time order. Token
//! counters: `pk` = `budget#<stage>`, `sk` = UTC day, attribute `tokens`: reserved with a conditional `ADD` before a model call, corrected after it.
//! Rate-limit counts: `pk` = `rate#<key>`, `sk` = window, attribute `hits`, conditional `ADD`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use crate::core::ports::{ConversationStore, PortError, RateWindow, Role, Turn};

const DEPENDENCY: &str = "dynamodb";
/// Counters outlive their day by a week, for after-the-fact inspection.
const COUNTER_TTL_SECS: u64 = 8 * 86_400;

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn failed(error: impl std::error::Error) -> PortError {
    PortError::new(DEPENDENCY, DisplayErrorContext(error))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A conditional write refused because its condition did not hold (a full window, a spent
/// budget), as opposed to a store that failed.
fn condition_failed<R>(error: &SdkError<UpdateItemError, R>) -> bool {
    error
        .as_service_error()
        .is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

pub fn sort_key(turn: &Turn) -> String {
    eve_contract::store::turn_sort_key(turn.at_ms, turn.role.as_str(), &turn.request_id)
}

fn budget_key(stage: &str) -> String {
    format!("budget#{stage}")
}

type Item = HashMap<String, AttributeValue>;

fn text_of(item: &Item, key: &str) -> Result<String, PortError> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(PortError::new(
            DEPENDENCY,
            format!("item without string `{key}`"),
        )),
    }
}

fn number_of(item: &Item, key: &str) -> u64 {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

fn turn_item(turn: &Turn) -> Item {
    HashMap::from([
        ("pk".to_string(), s(&turn.session_id)),
        ("sk".to_string(), s(&sort_key(turn))),
        ("role".to_string(), s(turn.role.as_str())),
        ("request_id".to_string(), s(&turn.request_id)),
        ("text".to_string(), s(&turn.text)),
        ("source".to_string(), s(&turn.source)),
        ("model_id".to_string(), s(&turn.model_id)),
        ("at_ms".to_string(), n(turn.at_ms)),
        ("input_tokens".to_string(), n(turn.input_tokens)),
        ("output_tokens".to_string(), n(turn.output_tokens)),
        ("latency_ms".to_string(), n(turn.latency_ms)),
        ("expires_at".to_string(), n(turn.expires_at)),
    ])
}

fn turn_from(item: &Item) -> Result<Turn, PortError> {
    let role = match text_of(item, "role")?.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(PortError::new(
                DEPENDENCY,
                format!("unknown role `{other}`"),
            ))
        }
    };
    Ok(Turn {
        session_id: text_of(item, "pk")?,
        at_ms: number_of(item, "at_ms"),
        role,
        request_id: text_of(item, "request_id").unwrap_or_default(),
        text: text_of(item, "text")?,
        source: text_of(item, "source").unwrap_or_default(),
        model_id: text_of(item, "model_id").unwrap_or_default(),
        input_tokens: number_of(item, "input_tokens"),
        output_tokens: number_of(item, "output_tokens"),
        latency_ms: number_of(item, "latency_ms"),
        expires_at: number_of(item, "expires_at"),
    })
}

impl DynamoStore {
    /// `ADD tokens` of a signed amount to the stage's counter for `day`, renewing its expiry.
    fn counter_update(&self, stage: &str, day: &str, tokens: &str) -> UpdateItemFluentBuilder {
        let expires_at = crate::core::chat::unix_ms() / 1000 + COUNTER_TTL_SECS;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&budget_key(stage)))
            .key("sk", s(day))
            .update_expression("ADD tokens :n SET expires_at = :expires")
            .expression_attribute_values(":n", AttributeValue::N(tokens.to_string()))
            .expression_attribute_values(":expires", n(expires_at))
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
    /// One `PutItem` per turn, sent together. Not `BatchWriteItem`: its permission also allows
    /// deletes, which EVE's grant leaves out (`Table::grant_read_write`).
    async fn append(&self, turns: &[Turn]) -> Result<(), PortError> {
        let puts = turns.iter().map(|turn| {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(turn_item(turn)))
                .send()
        });
        futures_util::future::try_join_all(puts)
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn recent(&self, session_id: &str, limit: usize) -> Result<Vec<Turn>, PortError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(session_id))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(failed)?;
        let mut turns = output
            .items()
            .iter()
            .map(turn_from)
            .collect::<Result<Vec<_>, _>>()?;
        turns.reverse();
        Ok(turns)
    }

    async fn count_request(&self, window: &RateWindow) -> Result<bool, PortError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&format!("rate#{}", window.key)))
            .key("sk", s(&window.window.to_string()))
            .update_expression("ADD hits :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(u64::from(window.limit)))
            .expression_attribute_values(":expires", n(window.expires_at))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(failed(e)),
        }
    }

    async fn reserve_tokens(
        &self,
        stage: &str,
        day: &str,
        tokens: u64,
        budget: u64,
    ) -> Result<Option<u64>, PortError> {
        let reserved = self
            .counter_update(stage, day, &tokens.to_string())
            .condition_expression("attribute_not_exists(tokens) OR tokens < :budget")
            .expression_attribute_values(":budget", n(budget))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match reserved {
            Ok(output) => Ok(Some(
                output
                    .attributes()
                    .map(|a| number_of(a, "tokens"))
                    .unwrap_or(tokens),
            )),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(failed(e)),
        }
    }

    async fn adjust_tokens(&self, stage: &str, day: &str, tokens: i64) -> Result<(), PortError> {
        self.counter_update(stage, day, &tokens.to_string())
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), PortError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s("health#ping"))
            .limit(1)
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}
