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

/// A session's exchanges (question, reply) by the key DynamoDB sorts them by: when the question
/// was asked, then its request id.
type Exchanges = BTreeMap<String, [Turn; 2]>;

/// Conversations and token counters in process memory.
#[derive(Default)]
pub struct MemoryStore {
    turns: Mutex<HashMap<String, Exchanges>>,
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
            .map(|exchanges| exchanges.values().flatten().cloned().collect())
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
        // A put replaces the exchange with the same key, as in DynamoDB.
        locked(&self.turns)
            .entry(question.session_id.clone())
            .or_default()
            .insert(
                eve_contract::store::exchange_sort_key(question.at_ms, &question.request_id),
                [question.clone(), reply.clone()],
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ports::Role;

    /// Two questions of one session in the same millisecond: each reply is stamped a
    /// millisecond later, so sorting turns by their own time put the second question between
    /// the first and its reply. Exchanges sort by question time, then request, as in DynamoDB.
    #[tokio::test]
    async fn exchanges_keep_their_order_within_a_millisecond() {
        let store = MemoryStore::default();
        for request in ["request-1", "request-2"] {
            let turn = |at_ms, role| Turn::new("session-1", at_ms, role, request, request);
            store
                .append_exchange(&turn(1_000, Role::User), &turn(1_001, Role::Assistant))
                .await
                .expect("stored");
        }
        let order: Vec<(Role, String)> = store
            .recent("session-1", 10)
            .await
            .expect("read")
            .into_iter()
            .map(|t| (t.role, t.request_id))
            .collect();
        assert_eq!(
            order,
            [
                (Role::User, "request-1".into()),
                (Role::Assistant, "request-1".into()),
                (Role::User, "request-2".into()),
                (Role::Assistant, "request-2".into()),
            ]
        );
    }
}
