//! The conversations table's shape, which the stack creates, EVE writes and `dr drill` reads.
//!
//! Exchanges (a question and its reply, one item): `pk` = session id, `sk` =
//! `<asked at ms, 16 digits>#<request id>`, so a query returns them in time order and a key
//! condition `sk < turns_before(t)` selects those asked before `t`. Items written before
//! exchanges held one turn each (`<at_ms>#<role>#<request id>`); they sort the same way.
//! Other items (counters) have a `pk` with a `#`, which a session id never has.

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// Each item's expiry, epoch seconds (DynamoDB's TTL attribute).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// An exchange's question, as the visitor sent it.
pub const QUESTION_ATTRIBUTE: &str = "question";
/// An exchange's reply, as the visitor was shown it.
pub const REPLY_ATTRIBUTE: &str = "reply";

/// The sort key of the exchange of chat request `request_id`, asked at `at_ms`: the request's
/// id keeps two requests of one session in the same millisecond from overwriting each other.
pub fn exchange_sort_key(at_ms: u64, request_id: &str) -> String {
    format!("{at_ms:016}#{request_id}")
}

/// The smallest sort key of any exchange asked (or turn written) at or after `at_ms`.
pub fn turns_before(at_ms: u64) -> String {
    format!("{at_ms:016}")
}

/// Whether a partition key names a session (not a counter).
pub fn is_session(pk: &str) -> bool {
    !pk.contains('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_keys_sort_by_time_and_bound_below() {
        let early = exchange_sort_key(999, "b");
        let late = exchange_sort_key(1_000, "a");
        assert!(early < late);
        assert_ne!(early, exchange_sort_key(999, "c"));
        assert!(early < turns_before(1_000));
        assert!(late >= turns_before(1_000));
        assert!(is_session("3f1c-…") && !is_session("budget#prod"));
    }
}
