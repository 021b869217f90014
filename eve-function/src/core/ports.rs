//! The ports the chat core talks through. Adapters (DynamoDB, Bedrock, SSM, S3) and the
//! in-memory doubles implement them; the core never sees an AWS or HTTP type.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A failure of an outside dependency. The message is for logs, never for visitors.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{dependency}: {message}")]
pub struct PortError {
    pub dependency: &'static str,
    pub message: String,
}

impl PortError {
    pub fn new(dependency: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            dependency,
            message: message.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One stored message of a conversation, with what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub session_id: String,
    /// Milliseconds since the Unix epoch; with `role` it orders turns within a session.
    pub at_ms: u64,
    pub role: Role,
    /// The chat request the turn belongs to; with `at_ms` and `role` its key in the store.
    pub request_id: String,
    pub text: String,
    /// `model`, `curated` or `offline` for replies; empty for user messages.
    pub source: String,
    pub model_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    /// Unix seconds after which the store may delete the turn.
    pub expires_at: u64,
}

impl Turn {
    /// A turn of request `request_id` with nothing counted yet and no expiry; the reply's
    /// source, model and usage are set on top.
    pub fn new(
        session_id: impl Into<String>,
        at_ms: u64,
        role: Role,
        request_id: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            session_id: session_id.into(),
            at_ms,
            role,
            request_id: request_id.into(),
            text: text.into(),
            source: String::new(),
            model_id: String::new(),
            input_tokens: 0,
            output_tokens: 0,
            latency_ms: 0,
            expires_at: 0,
        }
    }

    /// The memory a kept turn takes: the struct and its strings.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Turn>()
            + [
                &self.session_id,
                &self.request_id,
                &self.text,
                &self.source,
                &self.model_id,
            ]
            .iter()
            .map(|s| s.len())
            .sum::<usize>()
    }
}

/// One fixed window of a rate limit, e.g. a session's requests in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateWindow {
    /// What is limited, e.g. `session#<id>`.
    pub key: String,
    /// The window's number (minutes since the epoch for a per-minute limit).
    pub window: u64,
    pub limit: u32,
    /// Unix seconds after which the store may delete the count.
    pub expires_at: u64,
}

/// What counting a request against its window found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// Whether the request was counted; false when the window was full.
    pub counted: bool,
    /// The request counted under the same key just before this one.
    pub previous: Previous,
}

/// The request counted under a key before another: what tells an instance whether the turns
/// it remembers of a session are still the latest (another instance may have answered since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// None the store remembers (a new key, or one whose count expired).
    Nothing,
    Request(String),
    /// The store could not say (a retried write whose first answer was lost).
    Unknown,
}

/// Tokens held back from one day's budget for one model call until its usage is known. The
/// store keeps it under its request's id, so a write sent twice (a retry after a lost answer)
/// holds it once, and one whose request gave up can be found and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReservation {
    /// The UTC day (`YYYY-MM-DD`) whose budget it is taken from.
    pub day: String,
    pub request_id: String,
    pub tokens: u64,
    /// Unix seconds when it was taken; an old one still held was abandoned.
    pub at_s: u64,
}

/// A day's budget as a reservation left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetState {
    /// Whether the reservation is held (false: the budget was spent).
    pub reserved: bool,
    /// Tokens spent or reserved today.
    pub spent: u64,
    /// When the store refused the reservation, every one it holds today (a refused write
    /// returns the whole counter), so the abandoned ones can be returned; otherwise empty.
    /// Reading them on every reservation would cost each call as much as there are calls in
    /// flight.
    pub held: Vec<TokenReservation>,
}

/// Where conversations, rate-limit counts and the daily token counter live. The counting
/// writes name their request, so a retried write counts once.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Stores a question and its reply together, so neither is ever stored alone. Writing
    /// them again is safe: their key is their session, time and request.
    async fn append_exchange(&self, question: &Turn, reply: &Turn) -> Result<(), PortError>;
    /// Marks the exchange of `question`, stored before its request was refused, as withdrawn:
    /// its reply was never shown, so no history holds it. (A write over it, not a delete: the
    /// function's grant has no deletes.)
    async fn withdraw_exchange(&self, question: &Turn) -> Result<(), PortError>;
    /// The latest `limit` turns of a session, oldest first.
    async fn recent(&self, session_id: &str, limit: usize) -> Result<Vec<Turn>, PortError>;
    /// Counts request `request_id` in `window` unless it already holds `window.limit`, and
    /// names the request counted under `window.key` before it. One conditional write, so the
    /// limit holds across every instance sharing the store.
    async fn count_request(
        &self,
        window: &RateWindow,
        request_id: &str,
    ) -> Result<Count, PortError>;
    /// Holds `reservation` against the stage's budget while less than `budget` is spent or
    /// reserved, in one conditional write. Concurrent requests therefore overshoot the budget
    /// by one reservation at most.
    async fn reserve_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        budget: u64,
    ) -> Result<BudgetState, PortError>;
    /// Replaces a held reservation with the `used` tokens (0 returns it); a reservation not
    /// held (never taken, or settled already) is left alone.
    async fn settle_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        used: u64,
    ) -> Result<(), PortError>;
    /// A cheap round trip proving the store answers (readiness).
    async fn ping(&self) -> Result<(), PortError>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelMessage {
    pub role: Role,
    pub text: String,
}

/// Everything a model call needs; the system prompt holds only portfolio content.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub model_id: String,
    pub system: String,
    pub messages: Vec<ModelMessage>,
    pub max_tokens: u32,
    pub temperature: f32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelReply {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[async_trait]
pub trait ChatModel: Send + Sync {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, PortError>;
    /// Streams text deltas into `deltas` as they arrive and returns the whole reply.
    async fn converse_stream(
        &self,
        request: &ModelRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<ModelReply, PortError>;
}

/// Raw setting values by name (e.g. `max_tokens`), as a parameter store holds them.
#[async_trait]
pub trait SettingsSource: Send + Sync {
    /// Where the values come from, for error messages (e.g. `ssm:/cfx/prod/`).
    fn describe(&self) -> String;
    async fn fetch(&self) -> Result<BTreeMap<String, String>, PortError>;
}

#[async_trait]
pub trait CertificateSigner: Send + Sync {
    /// A time-limited GET URL for `key` in `bucket`.
    async fn presign(
        &self,
        bucket: &str,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, PortError>;
}
