//! The conversations table's shape, which the stack creates, EVE writes and `dr drill` reads.
//!
//! Turns: `pk` = session id, `sk` = `<at_ms, 16 digits>#<role>`, so a query returns them in
//! time order and a key condition `sk < turns_before(t)` selects the turns written before `t`.
//! Other items (counters) have a `pk` with a `#`, which a session id never has.

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// Each item's expiry, epoch seconds (DynamoDB's TTL attribute).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The sort key of a turn written at `at_ms` by `role` for chat request `request_id`: the
/// request's id keeps two requests of one session in the same millisecond from overwriting
/// each other's turns.
pub fn turn_sort_key(at_ms: u64, role: &str, request_id: &str) -> String {
    format!("{at_ms:016}#{role}#{request_id}")
}

/// The smallest sort key of any turn written at or after `at_ms`.
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
        let early = turn_sort_key(999, "user", "b");
        let late = turn_sort_key(1_000, "assistant", "a");
        assert!(early < late);
        assert_ne!(early, turn_sort_key(999, "user", "c"));
        assert!(early < turns_before(1_000));
        assert!(late >= turns_before(1_000));
        assert!(is_session("3f1c-…") && !is_session("budget#prod"));
    }
}
