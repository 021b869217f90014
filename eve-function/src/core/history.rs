//! Each session's recent turns as this instance last stored them, so that the next answer in
//! the session need not read them back from the store.
//!
//! Another instance may have answered the session since, so an entry is trusted only when the
//! store's count of the new request names, as the request counted before it, the one whose
//! exchange the entry ends with. The count is a write every request makes anyway: the check
//! costs no round trip, and when it fails the turns are read as before.
//!
//! A session whose last two requests were both answered here is presumed to stay: its next
//! answer may start from the entry while the store is still counting the request, and is
//! discarded if the count then shows the entry stale.

use std::sync::Mutex;

use super::locked;
use super::ports::{Previous, Turn};
use super::sized_lru::SizedLru;

/// Memory the cache's turns may take over all sessions; the least recently used go first.
/// Bounded in bytes, not sessions, as `history_turns` may be up to 50 exchanges of
/// 2000-character messages, and many sessions of short ones must not grow it either.
const CAPACITY_BYTES: usize = 4 << 20;

/// One session's latest turns, oldest first, up to and including request `through`'s exchange.
struct Entry {
    through: String,
    turns: Vec<Turn>,
    /// The request before `through` was answered here too (or there was none).
    stayed: bool,
}

pub struct HistoryCache {
    sessions: Mutex<SizedLru<Entry>>,
}

impl Default for HistoryCache {
    fn default() -> Self {
        Self {
            sessions: Mutex::new(SizedLru::new(CAPACITY_BYTES)),
        }
    }
}

impl HistoryCache {
    /// Whether an entry for the session is here to be checked (else the turns are read from
    /// the store in the same round trip as the count).
    pub fn holds(&self, session_id: &str) -> bool {
        locked(&self.sessions).contains(session_id)
    }

    /// The session's latest `limit` turns, if this instance stored the exchange of
    /// `previous`, the request counted before the one being answered.
    pub fn latest(&self, session_id: &str, previous: &Previous, limit: usize) -> Option<Vec<Turn>> {
        let Previous::Request(previous) = previous else {
            return None;
        };
        let mut sessions = locked(&self.sessions);
        let entry = sessions.get(session_id)?;
        (&entry.through == previous).then(|| tail(&entry.turns, limit).to_vec())
    }

    /// The request the session's entry ends with and its latest `limit` turns, when the session
    /// stayed here: what its next answer may start from before the store has counted it.
    pub fn presumed(&self, session_id: &str, limit: usize) -> Option<(String, Vec<Turn>)> {
        let mut sessions = locked(&self.sessions);
        let entry = sessions.get(session_id).filter(|entry| entry.stayed)?;
        Some((entry.through.clone(), tail(&entry.turns, limit).to_vec()))
    }

    /// The store counted requests of the session that this instance did not: it did not stay.
    pub fn moved(&self, session_id: &str) {
        if let Some(entry) = locked(&self.sessions).peek_mut(session_id) {
            entry.stayed = false;
        }
    }

    /// After request `through`'s exchange was stored: `history` is the complete history before
    /// it (or None when that is not known), `exchange` its question and reply; `stayed` when
    /// `history` was this instance's (the entry the count showed current, or a new session's).
    pub fn record(
        &self,
        session_id: &str,
        through: &str,
        history: Option<Vec<Turn>>,
        exchange: &[Turn],
        limit: usize,
        stayed: bool,
    ) {
        let mut sessions = locked(&self.sessions);
        sessions.pop(session_id);
        let Some(mut turns) = history.filter(|_| limit > 0) else {
            return;
        };
        turns.extend_from_slice(exchange);
        turns.drain(..turns.len().saturating_sub(limit));
        let bytes = turns.iter().map(Turn::bytes).sum();
        sessions.put(
            session_id.to_string(),
            Entry {
                through: through.to_string(),
                turns,
                stayed,
            },
            bytes,
        );
    }
}

fn tail(turns: &[Turn], limit: usize) -> &[Turn] {
    &turns[turns.len().saturating_sub(limit)..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ports::Role;

    fn exchange(request: &str, text_len: usize) -> Vec<Turn> {
        [Role::User, Role::Assistant]
            .map(|role| Turn::new("s", 1, role, request, "x".repeat(text_len)))
            .to_vec()
    }

    #[test]
    fn an_entry_answers_only_for_the_request_it_ends_with() {
        let cache = HistoryCache::default();
        cache.record("s", "r1", Some(Vec::new()), &exchange("r1", 4), 10, false);
        let previous = |r: &str| Previous::Request(r.into());
        assert_eq!(
            cache.latest("s", &previous("r1"), 10).map(|t| t.len()),
            Some(2)
        );
        // Another instance answered r2 since: the entry is stale.
        assert_eq!(cache.latest("s", &previous("r2"), 10), None);
        assert_eq!(cache.latest("s", &Previous::Unknown, 10), None);
        assert_eq!(cache.latest("s", &Previous::Nothing, 10), None);
        // An unknown history forgets the session.
        cache.record("s", "r3", None, &exchange("r3", 4), 10, true);
        assert!(!cache.holds("s"));
    }

    #[test]
    fn only_a_session_that_stayed_is_presumed_current() {
        let cache = HistoryCache::default();
        cache.record("s", "r1", Some(Vec::new()), &exchange("r1", 4), 10, false);
        assert_eq!(cache.presumed("s", 10), None, "read from the store");
        cache.record(
            "s",
            "r2",
            Some(exchange("r1", 4)),
            &exchange("r2", 4),
            3,
            true,
        );
        let (through, turns) = cache.presumed("s", 3).expect("stayed");
        assert_eq!((through.as_str(), turns.len()), ("r2", 3));
        assert_eq!(cache.presumed("other", 3), None);
    }

    #[test]
    fn entries_keep_the_latest_turns_within_the_byte_budget() {
        let cache = HistoryCache::default();
        let history = exchange("r0", 1);
        cache.record("s", "r1", Some(history), &exchange("r1", 1), 3, false);
        let kept = cache.latest("s", &Previous::Request("r1".into()), 3);
        assert_eq!(
            kept.map(|t| t.iter().map(|t| t.request_id.clone()).collect::<Vec<_>>()),
            Some(vec!["r0".to_string(), "r1".into(), "r1".into()])
        );
        // Sessions of 1 MiB each: the oldest go once more than the budget is held.
        for session in 0..8 {
            cache.record(
                &format!("big-{session}"),
                "r",
                Some(Vec::new()),
                &exchange("r", 1 << 19),
                10,
                false,
            );
        }
        assert!(!cache.holds("s") && !cache.holds("big-0"));
        assert!(cache.holds("big-7"));
        assert!(locked(&cache.sessions).bytes() <= CAPACITY_BYTES);
    }

    #[test]
    fn many_sessions_of_short_turns_stay_within_the_budget() {
        let cache = HistoryCache::default();
        for session in 0..50_000 {
            cache.record(
                &format!("s{session}"),
                "r",
                Some(Vec::new()),
                &exchange("r", 1),
                10,
                false,
            );
        }
        let sessions = locked(&cache.sessions);
        assert!(sessions.bytes() <= CAPACITY_BYTES);
        assert!(sessions.len() < 50_000, "{} kept", sessions.len());
    }
}
