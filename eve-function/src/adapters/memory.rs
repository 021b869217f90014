//! The in-memory conversation store (with its counters), for local and offline runs (no table configured).

use std::collections::HashMap;
#[cfg(test)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::core::ports::{ConversationStore, PortError, RateWindow, Turn};

pub(crate) fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
    hits: Mutex<HashMap<(String, u64), u32>>,
    /// The next this-many writes fail, to exercise retries (tests only).
    #[cfg(test)]
    failing_writes: AtomicU32,
}

impl MemoryStore {
    #[cfg(test)]
    pub fn fail_next_writes(&self, count: u32) {
        self.failing_writes.store(count, Ordering::SeqCst);
    }

    /// The stage's token counter for `day`, reservations included.
    pub fn tokens(&self, stage: &str, day: &str) -> u64 {
        locked(&self.tokens)
            .get(&(stage.to_string(), day.to_string()))
            .copied()
            .unwrap_or(0)
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
    async fn append(&self, turns: &[Turn]) -> Result<(), PortError> {
        #[cfg(test)]
        if self
            .failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::new("memory", "injected write failure"));
        }
        let mut stored = locked(&self.turns);
        for turn in turns {
            let session = stored.entry(turn.session_id.clone()).or_default();
            // A put replaces the turn with the same key, as in DynamoDB.
            session.retain(|t| {
                (t.at_ms, t.role, &t.request_id) != (turn.at_ms, turn.role, &turn.request_id)
            });
            session.push(turn.clone());
            session.sort_by_key(|t| t.at_ms);
        }
        Ok(())
    }

    async fn recent(&self, session_id: &str, limit: usize) -> Result<Vec<Turn>, PortError> {
        let turns = self.turns(session_id);
        Ok(turns[turns.len().saturating_sub(limit)..].to_vec())
    }

    async fn count_request(&self, window: &RateWindow) -> Result<bool, PortError> {
        let mut hits = locked(&self.hits);
        let count = hits.entry((window.key.clone(), window.window)).or_default();
        if *count >= window.limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }

    async fn reserve_tokens(
        &self,
        stage: &str,
        day: &str,
        tokens: u64,
        budget: u64,
    ) -> Result<Option<u64>, PortError> {
        let mut counters = locked(&self.tokens);
        let total = counters
            .entry((stage.to_string(), day.to_string()))
            .or_default();
        if *total >= budget {
            return Ok(None);
        }
        *total += tokens;
        Ok(Some(*total))
    }

    async fn adjust_tokens(&self, stage: &str, day: &str, tokens: i64) -> Result<(), PortError> {
        let mut counters = locked(&self.tokens);
        let total = counters
            .entry((stage.to_string(), day.to_string()))
            .or_default();
        *total = total.saturating_add_signed(tokens);
        Ok(())
    }

    async fn ping(&self) -> Result<(), PortError> {
        Ok(())
    }
}
