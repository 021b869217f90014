//! The in-memory conversation store (with its counters), for local and offline runs (no table configured).

use std::collections::{BTreeMap, HashMap};
#[cfg(test)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::core::locked;
use crate::core::ports::{
    BudgetState, ConversationStore, Count, PortError, Previous, RateWindow, TokenReservation, Turn,
};
use crate::core::sized_lru::SizedLru;

/// One day's token counter and the reservations it holds, by request id.
#[derive(Default)]
struct DayBudget {
    tokens: u64,
    held: BTreeMap<String, TokenReservation>,
}

/// A session's exchanges (question, reply) in the order of the key DynamoDB sorts them by: when
/// the question was asked, then its request id. A sorted vector, grown one at a time, as most
/// sessions hold a few (a map's node holds room for eleven).
type Exchanges = Vec<(String, [Turn; 2])>;

/// What an exchange takes in memory: its key and both turns.
fn exchange_bytes(key: &str, question: &Turn, reply: &Turn) -> usize {
    std::mem::size_of::<String>() + key.len() + question.bytes() + reply.bytes()
}

/// Memory the conversations may take. Past it the sessions written least recently go, as a
/// table's TTL would expire them, so a server left running without a table stays bounded.
const CONVERSATION_BYTES: usize = 64 << 20;

/// Rate-limit counts are looked over for expired ones each time their number doubles.
const COUNTS_CHECKED_FROM: usize = 1024;

/// One key's rate-limit count, as its DynamoDB item keeps it: the window's requests, the
/// request counted last, and when it may go.
struct KeyCount {
    window: u64,
    requests: Vec<String>,
    latest: Option<String>,
    expires_at: u64,
}

#[derive(Default)]
struct Counts {
    by_key: HashMap<String, KeyCount>,
    /// How many were kept when expired counts were last removed.
    kept: usize,
}

/// Conversations and token counters in process memory.
pub struct MemoryStore {
    conversations: Mutex<SizedLru<Exchanges>>,
    budgets: Mutex<HashMap<(String, String), DayBudget>>,
    counts: Mutex<Counts>,
    /// The next this-many writes fail, to exercise retries (tests only).
    #[cfg(test)]
    failing_writes: AtomicU32,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            conversations: Mutex::new(SizedLru::new(CONVERSATION_BYTES)),
            budgets: Mutex::default(),
            counts: Mutex::default(),
            #[cfg(test)]
            failing_writes: AtomicU32::new(0),
        }
    }
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
        locked(&self.conversations)
            .peek(session_id)
            .map(|exchanges| {
                exchanges
                    .iter()
                    .flat_map(|(_, turns)| turns)
                    .cloned()
                    .collect()
            })
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
        let mut conversations = locked(&self.conversations);
        let (mut exchanges, mut bytes) =
            conversations.pop(&question.session_id).unwrap_or_default();
        // A put replaces the exchange with the same key, as in DynamoDB.
        let key = eve_contract::store::exchange_sort_key(question.at_ms, &question.request_id);
        bytes += exchange_bytes(&key, question, reply);
        let exchange = (key, [question.clone(), reply.clone()]);
        match exchanges.binary_search_by(|(stored, _)| stored.cmp(&exchange.0)) {
            Ok(at) => {
                let (key, [q, r]) = std::mem::replace(&mut exchanges[at], exchange);
                bytes -= exchange_bytes(&key, &q, &r);
            }
            Err(at) => {
                exchanges.reserve_exact(1);
                exchanges.insert(at, exchange);
            }
        }
        conversations.put(question.session_id.clone(), exchanges, bytes);
        Ok(())
    }

    async fn withdraw_exchange(&self, question: &Turn) -> Result<(), PortError> {
        let mut conversations = locked(&self.conversations);
        let Some((mut exchanges, mut bytes)) = conversations.pop(&question.session_id) else {
            return Ok(());
        };
        let key = eve_contract::store::exchange_sort_key(question.at_ms, &question.request_id);
        if let Ok(at) = exchanges.binary_search_by(|(stored, _)| stored.cmp(&key)) {
            let (key, [q, r]) = exchanges.remove(at);
            bytes -= exchange_bytes(&key, &q, &r);
        }
        if !exchanges.is_empty() {
            conversations.put(question.session_id.clone(), exchanges, bytes);
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
        let mut counts = locked(&self.counts);
        if counts.by_key.len() >= (counts.kept * 2).max(COUNTS_CHECKED_FROM) {
            let now_s = crate::core::chat::unix_ms() / 1000;
            counts.by_key.retain(|_, count| count.expires_at > now_s);
            counts.kept = counts.by_key.len();
        }
        let count = counts
            .by_key
            .entry(window.key.clone())
            .or_insert_with(|| KeyCount {
                window: window.window,
                requests: Vec::new(),
                latest: None,
                expires_at: 0,
            });
        // A new window starts empty; a request stamped with an earlier one counts in it.
        if window.window > count.window {
            count.window = window.window;
            count.requests.clear();
        }
        count.expires_at = count.expires_at.max(window.expires_at);
        // As in DynamoDB: a repeated count holds once, and what came before it is not known.
        if count.requests.iter().any(|counted| counted == request_id) {
            return Ok(Count {
                counted: true,
                previous: Previous::Unknown,
            });
        }
        let previous = match &count.latest {
            Some(request) => Previous::Request(request.clone()),
            None => Previous::Nothing,
        };
        if count.requests.len() >= window.limit as usize {
            return Ok(Count {
                counted: false,
                previous,
            });
        }
        count.requests.push(request_id.to_string());
        count.latest = Some(request_id.to_string());
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

    /// A server left running without a table kept every conversation and every rate-limit
    /// count it was ever sent (40 000 chats: 17 MB to 253 MB). Conversations are now bounded in
    /// bytes, the least recently written going first, and counts go once expired.
    #[tokio::test]
    async fn a_long_running_store_stays_bounded() {
        let store = MemoryStore::default();
        let text = "x".repeat(2000);
        let sessions = CONVERSATION_BYTES / (2 * text.len()) + 1000;
        for session in 0..sessions {
            let turn = |role| Turn::new(format!("session-{session}"), 1, role, "r", text.as_str());
            store
                .append_exchange(&turn(Role::User), &turn(Role::Assistant))
                .await
                .expect("stored");
        }
        assert!(store.turns("session-0").is_empty(), "the oldest went");
        assert_eq!(store.turns(&format!("session-{}", sessions - 1)).len(), 2);
        assert!(locked(&store.conversations).bytes() <= CONVERSATION_BYTES);

        let window = |key: &str, expires_at| RateWindow {
            key: key.into(),
            window: 1,
            limit: 10,
            expires_at,
        };
        let far = crate::core::chat::unix_ms() / 1000 + 3600;
        store
            .count_request(&window("expired", 1), "r1")
            .await
            .expect("counted");
        for key in 0..2 * COUNTS_CHECKED_FROM {
            store
                .count_request(&window(&format!("key-{key}"), far), "r")
                .await
                .expect("counted");
        }
        let again = store
            .count_request(&window("expired", far), "r2")
            .await
            .expect("counted");
        assert_eq!(again.previous, Previous::Nothing, "the expired count went");
    }

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
