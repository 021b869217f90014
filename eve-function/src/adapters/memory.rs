//! The in-memory conversation store (with its counters), for local and offline runs (no table configured).

use std::collections::{BTreeMap, BTreeSet, HashMap};
#[cfg(test)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::core::locked;
use crate::core::ports::{
    BudgetState, ConversationStore, Count, PortError, Previous, RateWindow, TokenReservation, Turn,
};

/// One day's token counter and the reservations it holds, by request id.
#[derive(Default)]
struct DayBudget {
    tokens: u64,
    held: BTreeMap<String, TokenReservation>,
}

/// Conversations and token counters in process memory.
#[derive(Default)]
pub struct MemoryStore {
    turns: Mutex<HashMap<String, Vec<Turn>>>,
    budgets: Mutex<HashMap<(String, String), DayBudget>>,
    /// The requests counted in each window.
    hits: Mutex<HashMap<(String, u64), BTreeSet<String>>>,
    /// The request counted last under each key.
    latest: Mutex<HashMap<String, String>>,
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
        locked(&self.budgets)
            .get(&(stage.to_string(), day.to_string()))
            .map_or(0, |budget| budget.tokens)
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
    async fn append_exchange(&self, question: &Turn, reply: &Turn) -> Result<(), PortError> {
        #[cfg(test)]
        if self
            .failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::new("memory", "injected write failure"));
        }
        let mut stored = locked(&self.turns);
        for turn in [question, reply] {
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

    async fn count_request(
        &self,
        window: &RateWindow,
        request_id: &str,
    ) -> Result<Count, PortError> {
        let mut hits = locked(&self.hits);
        let counted = hits.entry((window.key.clone(), window.window)).or_default();
        // As in DynamoDB: a repeated count holds once, and what came before it is not known.
        if counted.contains(request_id) {
            return Ok(Count {
                counted: true,
                previous: Previous::Unknown,
            });
        }
        let mut latest = locked(&self.latest);
        let previous = match latest.get(&window.key) {
            Some(request) => Previous::Request(request.clone()),
            None => Previous::Nothing,
        };
        if counted.len() >= window.limit as usize {
            return Ok(Count {
                counted: false,
                previous,
            });
        }
        counted.insert(request_id.to_string());
        latest.insert(window.key.clone(), request_id.to_string());
        Ok(Count {
            counted: true,
            previous,
        })
    }

    async fn reserve_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        budget: u64,
    ) -> Result<BudgetState, PortError> {
        let mut budgets = locked(&self.budgets);
        let day = budgets
            .entry((stage.to_string(), reservation.day.clone()))
            .or_default();
        let reserved = day.held.contains_key(&reservation.request_id) || day.tokens < budget;
        if reserved && !day.held.contains_key(&reservation.request_id) {
            day.tokens += reservation.tokens;
            day.held
                .insert(reservation.request_id.clone(), reservation.clone());
        }
        Ok(BudgetState {
            reserved,
            spent: day.tokens,
            held: if reserved {
                Vec::new()
            } else {
                day.held.values().cloned().collect()
            },
        })
    }

    async fn settle_tokens(
        &self,
        stage: &str,
        reservation: &TokenReservation,
        used: u64,
    ) -> Result<(), PortError> {
        let mut budgets = locked(&self.budgets);
        if let Some(day) = budgets.get_mut(&(stage.to_string(), reservation.day.clone())) {
            if day.held.remove(&reservation.request_id).is_some() {
                day.tokens = day.tokens.saturating_sub(reservation.tokens) + used;
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), PortError> {
        Ok(())
    }
}
