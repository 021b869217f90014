//! Test doubles of the ports (compiled for tests only).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::memory::MemoryStore;
use crate::core::locked;
use crate::core::ports::{
    BudgetState, ChatModel, ConversationStore, Count, ModelReply, ModelRequest, PortError,
    RateWindow, TokenReservation, Turn,
};

/// A model double: replies from a script (then echoes), records every request.
#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<Result<ModelReply, PortError>>>,
    requests: Mutex<Vec<ModelRequest>>,
    delay: Duration,
    /// A stream that breaks after this many words (a cut connection, an exception event).
    break_after: Option<usize>,
}

impl ScriptedModel {
    pub fn new(script: Vec<Result<ModelReply, PortError>>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            ..Self::default()
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn with_stream_break_after(mut self, words: usize) -> Self {
        self.break_after = Some(words);
        self
    }

    pub fn requests(&self) -> Vec<ModelRequest> {
        locked(&self.requests).clone()
    }

    async fn next(&self, request: &ModelRequest) -> Result<ModelReply, PortError> {
        locked(&self.requests).push(request.clone());
        tokio::time::sleep(self.delay).await;
        let scripted = locked(&self.script).pop_front();
        scripted.unwrap_or_else(|| {
            let last = request
                .messages
                .last()
                .map(|m| m.text.as_str())
                .unwrap_or_default();
            Ok(ModelReply {
                text: format!("You asked: {last}"),
                input_tokens: 10,
                output_tokens: 5,
            })
        })
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, PortError> {
        self.next(request).await
    }

    async fn converse_stream(
        &self,
        request: &ModelRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<ModelReply, PortError> {
        let reply = self.next(request).await?;
        for (sent, word) in reply.text.split_inclusive(' ').enumerate() {
            if self.break_after == Some(sent) {
                return Err(PortError::new("bedrock", "the stream broke off"));
            }
            let _ = deltas.send(word.to_string()).await;
        }
        Ok(reply)
    }
}

/// A store that never answers: a DynamoDB that accepts connections and hangs.
pub struct HangingStore;

#[async_trait]
impl ConversationStore for HangingStore {
    async fn append_exchange(&self, _: &Turn, _: &Turn) -> Result<(), PortError> {
        std::future::pending().await
    }
    async fn withdraw_exchange(&self, _: &Turn) -> Result<(), PortError> {
        std::future::pending().await
    }
    async fn recent(&self, _: &str, _: usize) -> Result<Vec<Turn>, PortError> {
        std::future::pending().await
    }
    async fn count_request(&self, _: &RateWindow, _: &str) -> Result<Count, PortError> {
        std::future::pending().await
    }
    async fn reserve_tokens(
        &self,
        _: &str,
        _: &TokenReservation,
        _: u64,
    ) -> Result<BudgetState, PortError> {
        std::future::pending().await
    }
    async fn settle_tokens(&self, _: &str, _: &TokenReservation, _: u64) -> Result<(), PortError> {
        std::future::pending().await
    }
    async fn ping(&self) -> Result<(), PortError> {
        std::future::pending().await
    }
}

/// The in-memory store, one network round trip (`delay`) away.
pub struct DistantStore {
    pub store: MemoryStore,
    pub delay: Duration,
    /// How many times history was read.
    pub history_reads: AtomicU32,
    /// The next this-many counts fail, as a store that is down does.
    pub failing_counts: AtomicU32,
    /// How many times it was pinged.
    pub pings: AtomicU32,
}

impl DistantStore {
    pub fn new(delay: Duration) -> Self {
        Self {
            store: MemoryStore::default(),
            delay,
            history_reads: AtomicU32::new(0),
            failing_counts: AtomicU32::new(0),
            pings: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl ConversationStore for DistantStore {
    async fn append_exchange(&self, question: &Turn, reply: &Turn) -> Result<(), PortError> {
        tokio::time::sleep(self.delay).await;
        self.store.append_exchange(question, reply).await
    }
    async fn withdraw_exchange(&self, question: &Turn) -> Result<(), PortError> {
        tokio::time::sleep(self.delay).await;
        self.store.withdraw_exchange(question).await
    }
    async fn recent(&self, session_id: &str, limit: usize) -> Result<Vec<Turn>, PortError> {
        self.history_reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.store.recent(session_id, limit).await
    }
    async fn count_request(
        &self,
        window: &RateWindow,
        request_id: &str,
    ) -> Result<Count, PortError> {
        tokio::time::sleep(self.delay).await;
        let failing = self
            .failing_counts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(PortError::new("dynamodb", "the store is down"));
        }
        self.store.count_request(window, request_id).await
    }
    async fn reserve_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        budget: u64,
    ) -> Result<BudgetState, PortError> {
        tokio::time::sleep(self.delay).await;
        self.store.reserve_tokens(stage, reservation, budget).await
    }
    async fn settle_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        used: u64,
    ) -> Result<(), PortError> {
        tokio::time::sleep(self.delay).await;
        self.store.settle_tokens(stage, reservation, used).await
    }
    async fn ping(&self) -> Result<(), PortError> {
        self.pings.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(())
    }
}
