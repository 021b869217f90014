//! In-memory implementations of every port: the store for local and offline runs, and doubles
//! for tests (a scripted model, a fixed settings map, a signer that builds local URLs).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::core::ports::{
    CertificateSigner, ChatModel, ConversationStore, ModelReply, ModelRequest, PortError,
    SettingsSource, Turn,
};

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Conversations and token counters in process memory.
#[derive(Default)]
pub struct MemoryStore {
    turns: Mutex<HashMap<String, Vec<Turn>>>,
    tokens: Mutex<HashMap<(String, String), u64>>,
    /// The next this-many writes fail, to exercise retries.
    failing_writes: AtomicU32,
}

impl MemoryStore {
    pub fn fail_next_writes(&self, count: u32) {
        self.failing_writes.store(count, Ordering::SeqCst);
    }

    pub fn turns(&self, session_id: &str) -> Vec<Turn> {
        locked(&self.turns)
            .get(session_id)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn append(&self, turn: &Turn) -> Result<(), PortError> {
        let failing = self
            .failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(PortError::new("memory", "injected write failure"));
        }
        let mut turns = locked(&self.turns);
        let session = turns.entry(turn.session_id.clone()).or_default();
        session.push(turn.clone());
        session.sort_by_key(|t| t.at_ms);
        Ok(())
    }

    async fn recent(&self, session_id: &str, limit: usize) -> Result<Vec<Turn>, PortError> {
        let turns = self.turns(session_id);
        Ok(turns[turns.len().saturating_sub(limit)..].to_vec())
    }

    async fn add_tokens(&self, stage: &str, day: &str, tokens: u64) -> Result<u64, PortError> {
        let mut counters = locked(&self.tokens);
        let total = counters
            .entry((stage.to_string(), day.to_string()))
            .or_default();
        *total += tokens;
        Ok(*total)
    }

    async fn tokens_used(&self, stage: &str, day: &str) -> Result<u64, PortError> {
        Ok(locked(&self.tokens)
            .get(&(stage.to_string(), day.to_string()))
            .copied()
            .unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), PortError> {
        Ok(())
    }
}

/// A model double: replies from a script (then echoes), records every request.
#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<Result<ModelReply, PortError>>>,
    requests: Mutex<Vec<ModelRequest>>,
    delay: Duration,
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
        for word in reply.text.split_inclusive(' ') {
            let _ = deltas.send(word.to_string()).await;
        }
        Ok(reply)
    }
}

/// A fixed parameter map, standing in for SSM.
pub struct MemorySettings(pub BTreeMap<String, String>);

#[async_trait]
impl SettingsSource for MemorySettings {
    fn describe(&self) -> String {
        "memory:".into()
    }

    async fn fetch(&self) -> Result<BTreeMap<String, String>, PortError> {
        Ok(self.0.clone())
    }
}

/// Builds `memory://bucket/key?expires_in=N` links, so tests can see what would be signed.
pub struct MemorySigner;

#[async_trait]
impl CertificateSigner for MemorySigner {
    async fn presign(
        &self,
        bucket: &str,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, PortError> {
        Ok(format!(
            "memory://{bucket}/{key}?expires_in={}",
            expires_in.as_secs()
        ))
    }
}
