//! Conversations and the daily token counter in one DynamoDB table.
//!
//! Table shape (infra-synth creates it; `eve_contract::store`): partition key `pk` (S), sort key
//! `sk` (S), TTL attribute `expires_at`. Exchanges: `pk` = session id, `sk` = `<asked at ms, 16
//! digits>#<request id>`, so a query returns them in time order; one item holds the question, the
//! reply and what it cost (items of one turn each, from before exchanges, are still read). An
//! exchange stored beside its request's count, which then refused the request, is written over
//! as withdrawn (`withdrawn`, the question kept, no reply) and read as no turns. Token
//! counters: `pk` = `budget#<stage>`, `sk` = UTC day, attribute `tokens`, and one attribute
//! `held_<request id>` (a map of `at_s` and `tokens`) for each reservation not yet settled: a
//! reservation adds to `tokens` and sets its attribute in one conditional write before a model
//! call, its settlement corrects `tokens` and removes the attribute. An attribute each, not one set
//! of them, so that a reservation's answer carries what it changed and not every reservation in
//! flight. (A reservation an earlier version held in the string set `held` is settled by the
//! request that took it; one abandoned there stays counted until its day ends.) Rate-limit counts:
//! `pk` = `rate#<key>`, `sk` = `count`, one item per key with the window's count `hits_<window>`
//! and the set `requests_<window>` of the request ids counted (the previous window's pair is
//! removed as a new one starts), and `latest`, the request counted last: an instance that remembers
//! a session's turns knows from it whether another has answered since.
//!
//! Each counting write names its request (in a set it adds to, or an attribute it sets), and its
//! condition refuses a name already there. The SDK retries a write whose answer was lost (a
//! timeout, a reset); the retry then fails its condition, the item it returns shows the name, and
//! the first write stands as the only one.
//!
//! A rate-limit count this instance wrote or saw last is remembered, and the next count of the
//! key writes the whole item on the condition that `latest` is still what was remembered. When
//! another instance has counted since, the condition fails and the count falls back to the
//! update, which needs nothing remembered. A window remembered full is refused without a round
//! trip. DynamoDB charges the put and the update alike; moto, which the benchmarks and tests run
//! on, takes about twice a put's time to parse the update's expression.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use eve_contract::store::{QUESTION_ATTRIBUTE, REPLY_ATTRIBUTE};

use crate::core::locked;
use crate::core::ports::{
    BudgetState, ConversationStore, Count, PortError, Previous, RateWindow, Role, TokenReservation,
    Turn,
};
use crate::core::sized_lru::SizedLru;

const DEPENDENCY: &str = "dynamodb";
/// The sort key of a rate-limit count: one item per limited key, its windows in attributes.
const RATE_SORT_KEY: &str = "count";
/// Counters outlive their day by a week, for after-the-fact inspection.
const COUNTER_TTL_SECS: u64 = 8 * 86_400;
/// Memory the remembered rate-limit counts may take: a few thousand sessions' worth.
const KNOWN_COUNTS_BYTES: usize = 512 << 10;
/// A put over a count item sends every request the window counted; past this many (a limit
/// set high), the count is made by update, which sends one.
const PUT_REQUESTS_AT_MOST: usize = 64;

pub struct DynamoStore {
    client: Client,
    table: String,
    /// Rate-limit count items by key, as this instance last wrote or saw them.
    known_counts: Mutex<SizedLru<KnownCount>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            known_counts: Mutex::new(SizedLru::new(KNOWN_COUNTS_BYTES)),
        }
    }
}

/// A rate-limit count item as of one window: what a put over it must write, and what its
/// condition must find.
#[derive(Debug, Clone, PartialEq)]
struct KnownCount {
    window: u64,
    hits: u64,
    /// The requests counted in `window`.
    requests: Vec<String>,
    /// The request counted last; empty for an item not written yet.
    latest: String,
}

impl KnownCount {
    /// The item's count for `window` (none counted yet when it holds an earlier one).
    fn from_item(item: &Item, window: u64) -> Self {
        let requests = match item.get(&requests_of(window)) {
            Some(AttributeValue::Ss(requests)) => requests.clone(),
            _ => Vec::new(),
        };
        Self {
            window,
            hits: number_of(item, &hits_of(window)),
            requests,
            latest: text_of(item, "latest").unwrap_or_default(),
        }
    }

    /// The count once `request` is counted in `window`, a later one or the same.
    fn with(&self, window: u64, request: &str) -> Self {
        let (hits, mut requests) = if window == self.window {
            (self.hits + 1, self.requests.clone())
        } else {
            (1, Vec::new())
        };
        requests.push(request.to_string());
        Self {
            window,
            hits,
            requests,
            latest: request.to_string(),
        }
    }

    /// The request counted last, as the port names it.
    fn previous(&self) -> Previous {
        if self.latest.is_empty() {
            Previous::Nothing
        } else {
            Previous::Request(self.latest.clone())
        }
    }

    /// What this item, found in the way of a conditional count, says of `request`: counted
    /// already (a retry of a write that was applied, so what came before it is no longer on
    /// the item), or refused by a full window; None when neither.
    fn settles(&self, window: &RateWindow, request: &str) -> Option<Count> {
        if self.requests.iter().any(|counted| counted == request) {
            Some(Count {
                counted: true,
                previous: Previous::Unknown,
            })
        } else if self.window == window.window && self.hits >= u64::from(window.limit) {
            Some(Count {
                counted: false,
                previous: self.previous(),
            })
        } else {
            None
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.latest.len()
            + self.requests.iter().map(String::len).sum::<usize>()
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

/// The item as it was when a conditional write was refused because its condition did not hold
/// (a full window, a spent budget, a request counted already), as opposed to a store that
/// failed.
fn refused_item<R>(error: &SdkError<UpdateItemError, R>) -> Option<Item> {
    match error.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
            Some(refused.item().cloned().unwrap_or_default())
        }
        _ => None,
    }
}

fn exchange_sort_key(question: &Turn) -> String {
    eve_contract::store::exchange_sort_key(question.at_ms, &question.request_id)
}

/// The attribute holding the set of requests counted in `window`.
fn requests_of(window: u64) -> String {
    format!("requests_{window}")
}

/// The attribute holding how many requests were counted in `window`.
fn hits_of(window: u64) -> String {
    format!("hits_{window}")
}

fn rate_key(window: &RateWindow) -> String {
    format!("rate#{}", window.key)
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

/// The attributes of an exchange's item that its question gives: its key, its request and when
/// it was asked and expires.
fn question_item(question: &Turn) -> Item {
    HashMap::from([
        ("pk".to_string(), s(&question.session_id)),
        ("sk".to_string(), s(&exchange_sort_key(question))),
        ("request_id".to_string(), s(&question.request_id)),
        ("at_ms".to_string(), n(question.at_ms)),
        (QUESTION_ATTRIBUTE.to_string(), s(&question.text)),
        ("expires_at".to_string(), n(question.expires_at)),
    ])
}

/// One item for a question and its reply: half the writes of an item a turn, and neither is
/// ever stored without the other.
fn exchange_item(question: &Turn, reply: &Turn) -> Item {
    let mut item = question_item(question);
    item.extend([
        ("answered_at_ms".to_string(), n(reply.at_ms)),
        (REPLY_ATTRIBUTE.to_string(), s(&reply.text)),
        ("source".to_string(), s(&reply.source)),
        ("model_id".to_string(), s(&reply.model_id)),
        ("input_tokens".to_string(), n(reply.input_tokens)),
        ("output_tokens".to_string(), n(reply.output_tokens)),
        ("latency_ms".to_string(), n(reply.latency_ms)),
    ]);
    item
}

/// The attribute marking an exchange withdrawn: stored beside its request's count, which then
/// refused the request, so its reply was never shown.
const WITHDRAWN_ATTRIBUTE: &str = "withdrawn";

/// An exchange's item as withdrawn: its question kept (what was asked), its reply gone.
fn withdrawn_item(question: &Turn) -> Item {
    let mut item = question_item(question);
    item.insert(WITHDRAWN_ATTRIBUTE.to_string(), AttributeValue::Bool(true));
    item
}

/// The turns an item holds: an exchange's question and reply, none for a withdrawn one, or the
/// one turn of an item written before exchanges (with a `role`).
fn turns_from(item: &Item) -> Result<Vec<Turn>, PortError> {
    if item.contains_key(WITHDRAWN_ATTRIBUTE) {
        return Ok(Vec::new());
    }
    let session_id = text_of(item, "pk")?;
    let request_id = text_of(item, "request_id").unwrap_or_default();
    let at_ms = number_of(item, "at_ms");
    let expires_at = number_of(item, "expires_at");
    let reply_of = |text: String, at_ms: u64| Turn {
        source: text_of(item, "source").unwrap_or_default(),
        model_id: text_of(item, "model_id").unwrap_or_default(),
        input_tokens: number_of(item, "input_tokens"),
        output_tokens: number_of(item, "output_tokens"),
        latency_ms: number_of(item, "latency_ms"),
        expires_at,
        ..Turn::new(&session_id, at_ms, Role::Assistant, &request_id, text)
    };
    let question_of = |text: String| Turn {
        expires_at,
        ..Turn::new(&session_id, at_ms, Role::User, &request_id, text)
    };
    let Some(AttributeValue::S(role)) = item.get("role") else {
        return Ok(vec![
            question_of(text_of(item, QUESTION_ATTRIBUTE)?),
            reply_of(
                text_of(item, REPLY_ATTRIBUTE)?,
                number_of(item, "answered_at_ms"),
            ),
        ]);
    };
    let text = text_of(item, "text")?;
    match role.as_str() {
        "user" => Ok(vec![question_of(text)]),
        "assistant" => Ok(vec![reply_of(text, at_ms)]),
        other => Err(PortError::new(
            DEPENDENCY,
            format!("unknown role `{other}`"),
        )),
    }
}

/// The prefix of a held reservation's attribute on a day's counter, before its request id.
const HELD_PREFIX: &str = "held_";

/// The counter's attribute holding a reservation until it is settled.
fn held_attribute(reservation: &TokenReservation) -> String {
    format!("{HELD_PREFIX}{}", reservation.request_id)
}

fn held_value(reservation: &TokenReservation) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("at_s".to_string(), n(reservation.at_s)),
        ("tokens".to_string(), n(reservation.tokens)),
    ]))
}

/// The reservations a day's counter holds; an attribute not in the shape EVE writes is skipped.
fn held_reservations(item: &Item, day: &str) -> Vec<TokenReservation> {
    item.iter()
        .filter_map(|(name, value)| {
            let request_id = name.strip_prefix(HELD_PREFIX)?;
            let AttributeValue::M(held) = value else {
                return None;
            };
            let number = |key: &str| match held.get(key) {
                Some(AttributeValue::N(v)) => v.parse().ok(),
                _ => None,
            };
            Some(TokenReservation {
                at_s: number("at_s")?,
                tokens: number("tokens")?,
                request_id: request_id.to_string(),
                day: day.to_string(),
            })
        })
        .collect()
}

impl DynamoStore {
    /// Counts the request with an update expression, which needs nothing remembered of the
    /// item, and remembers the item as the update left it.
    async fn count_by_update(
        &self,
        window: &RateWindow,
        request_id: &str,
    ) -> Result<Count, PortError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&rate_key(window)))
            .key("sk", s(RATE_SORT_KEY))
            .update_expression(concat!(
                "ADD #hits :one, #requests :requests SET latest = :request, expires_at = :expires",
                " REMOVE #ended_hits, #ended_requests"
            ))
            .condition_expression(concat!(
                "(attribute_not_exists(#hits) OR #hits < :limit)",
                " AND NOT contains(#requests, :request)"
            ))
            .expression_attribute_names("#hits", hits_of(window.window))
            .expression_attribute_names("#requests", requests_of(window.window))
            .expression_attribute_names("#ended_hits", hits_of(window.window.wrapping_sub(1)))
            .expression_attribute_names(
                "#ended_requests",
                requests_of(window.window.wrapping_sub(1)),
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":requests", AttributeValue::Ss(vec![request_id.into()]))
            .expression_attribute_values(":request", s(request_id))
            .expression_attribute_values(":limit", n(u64::from(window.limit)))
            .expression_attribute_values(":expires", n(window.expires_at))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let (count, item) = match counted {
            Ok(output) => {
                let before =
                    KnownCount::from_item(&output.attributes.unwrap_or_default(), window.window);
                let count = Count {
                    counted: true,
                    previous: before.previous(),
                };
                (count, before.with(window.window, request_id))
            }
            Err(e) => match refused_item(&e) {
                Some(item) => {
                    let seen = KnownCount::from_item(&item, window.window);
                    // The condition fails only on a full window or a request counted already.
                    let count = seen.settles(window, request_id).unwrap_or(Count {
                        counted: false,
                        previous: seen.previous(),
                    });
                    (count, seen)
                }
                None => return Err(failed(e)),
            },
        };
        self.remember_count(window, item);
        Ok(count)
    }

    /// Counts the request by writing the item over `known`, on the condition that no other
    /// request was counted since; None when one was, and the count must be made by update.
    /// A full window is refused without a round trip: its count can only have grown.
    async fn count_over(
        &self,
        known: &KnownCount,
        window: &RateWindow,
        request_id: &str,
    ) -> Result<Option<Count>, PortError> {
        if let Some(count) = known.settles(window, request_id) {
            return Ok(Some(count));
        }
        let next = known.with(window.window, request_id);
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&rate_key(window)))
            .item("sk", s(RATE_SORT_KEY))
            .item(hits_of(next.window), n(next.hits))
            .item(
                requests_of(next.window),
                AttributeValue::Ss(next.requests.clone()),
            )
            .item("latest", s(&next.latest))
            .item("expires_at", n(window.expires_at))
            .condition_expression("latest = :known")
            .expression_attribute_values(":known", s(&known.latest))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let refused = match written {
            Ok(_) => {
                self.remember_count(window, next);
                return Ok(Some(Count {
                    counted: true,
                    previous: known.previous(),
                }));
            }
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(refused)) => {
                    refused.item().cloned().unwrap_or_default()
                }
                _ => return Err(failed(e)),
            },
        };
        let seen = KnownCount::from_item(&refused, window.window);
        let count = seen.settles(window, request_id);
        self.remember_count(window, seen);
        Ok(count)
    }

    /// Remembers a count item for the next count of its key; one with no request counted
    /// (gone, or never written) leaves nothing to write over.
    fn remember_count(&self, window: &RateWindow, count: KnownCount) {
        let mut known = locked(&self.known_counts);
        if count.latest.is_empty() {
            known.pop(&window.key);
            return;
        }
        let bytes = window.key.len() + count.bytes();
        known.put(window.key.clone(), count, bytes);
    }

    /// An update of the stage's counter for `day` that renews its expiry (`:expires`).
    fn counter_update(&self, stage: &str, day: &str) -> UpdateItemFluentBuilder {
        let expires_at = crate::core::chat::unix_ms() / 1000 + COUNTER_TTL_SECS;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&budget_key(stage)))
            .key("sk", s(day))
            .expression_attribute_values(":expires", n(expires_at))
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn append_exchange(&self, question: &Turn, reply: &Turn) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(exchange_item(question, reply)))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn withdraw_exchange(&self, question: &Turn) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(withdrawn_item(question)))
            .send()
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
            // Two turns an exchange.
            .limit(i32::try_from(limit.div_ceil(2).max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(failed)?;
        let mut turns = Vec::with_capacity(limit);
        for item in output.items().iter().rev() {
            // One item EVE cannot read must not cost the session the rest of its history.
            match turns_from(item) {
                Ok(read) => turns.extend(read),
                Err(error) => tracing::warn!(
                    session_id,
                    sort_key = ?item.get("sk"),
                    error = %error,
                    "an unreadable item left out of the history"
                ),
            }
        }
        Ok(turns.split_off(turns.len().saturating_sub(limit)))
    }

    async fn count_request(
        &self,
        window: &RateWindow,
        request_id: &str,
    ) -> Result<Count, PortError> {
        let known = locked(&self.known_counts).get(&window.key).cloned();
        // Not written over a later window than the request's (another instance's clock: the
        // put would drop that window's count), nor with more requests than a put should carry.
        let known = known.filter(|known| match known.window.cmp(&window.window) {
            Ordering::Less => true,
            Ordering::Equal => known.requests.len() < PUT_REQUESTS_AT_MOST,
            Ordering::Greater => false,
        });
        if let Some(known) = known {
            if let Some(count) = self.count_over(&known, window, request_id).await? {
                return Ok(count);
            }
        }
        self.count_by_update(window, request_id).await
    }

    async fn reserve_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        budget: u64,
    ) -> Result<BudgetState, PortError> {
        let held = held_attribute(reservation);
        let reserved = self
            .counter_update(stage, &reservation.day)
            .update_expression("ADD tokens :n SET #held = :held, expires_at = :expires")
            .condition_expression(
                "(attribute_not_exists(tokens) OR tokens < :budget) AND attribute_not_exists(#held)",
            )
            .expression_attribute_names("#held", &held)
            .expression_attribute_values(":n", n(reservation.tokens))
            .expression_attribute_values(":held", held_value(reservation))
            .expression_attribute_values(":budget", n(budget))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match reserved {
            Ok(output) => Ok(BudgetState {
                reserved: true,
                spent: number_of(&output.attributes.unwrap_or_default(), "tokens"),
                held: Vec::new(),
            }),
            Err(e) => match refused_item(&e) {
                // Refused as held already: this is a retry of a write that was applied.
                Some(item) if item.contains_key(&held) => Ok(BudgetState {
                    reserved: true,
                    spent: number_of(&item, "tokens"),
                    held: Vec::new(),
                }),
                Some(item) => Ok(BudgetState {
                    reserved: false,
                    spent: number_of(&item, "tokens"),
                    held: held_reservations(&item, &reservation.day),
                }),
                None => Err(failed(e)),
            },
        }
    }

    async fn settle_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        used: u64,
    ) -> Result<(), PortError> {
        let correction = i128::from(used) - i128::from(reservation.tokens);
        let settled = self
            .counter_update(stage, &reservation.day)
            .update_expression("ADD tokens :n SET expires_at = :expires REMOVE #held")
            .condition_expression("attribute_exists(#held)")
            .expression_attribute_names("#held", held_attribute(reservation))
            .expression_attribute_values(":n", AttributeValue::N(correction.to_string()))
            .send()
            .await;
        match settled {
            Err(e) if refused_item(&e).is_none() => Err(failed(e)),
            // Refused: not held, so settled already or never taken.
            _ => Ok(()),
        }
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
