//! Request guards: message and session-id limits, and fixed-window rate limits per key.
//!
//! The limiter is in-process (per Lambda instance or server), which bounds bursts from one
//! client cheaply; the daily token budget in the conversation store is the global cost cap.

use std::collections::HashMap;
use std::sync::Mutex;

use super::locked;

/// Longest accepted visitor message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// Why a request was refused before any work was done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("message must not be empty")]
    EmptyMessage,
    #[error("message is longer than {MAX_MESSAGE_CHARS} characters")]
    MessageTooLong,
    #[error("session_id must be 8-64 letters, digits, '-' or '_'")]
    InvalidSessionId,
}

/// Characters that show nothing: zero-width spaces and joiners, the word joiner and other
/// invisible operators, the byte-order mark, the soft hyphen and direction marks.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

pub fn check_message(message: &str) -> Result<&str, GuardError> {
    let trimmed = message.trim_matches(is_invisible);
    if trimmed.is_empty() {
        Err(GuardError::EmptyMessage)
    } else if trimmed.chars().count() > MAX_MESSAGE_CHARS {
        Err(GuardError::MessageTooLong)
    } else {
        Ok(trimmed)
    }
}

pub fn check_session_id(id: &str) -> Result<&str, GuardError> {
    let valid = (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id)
    } else {
        Err(GuardError::InvalidSessionId)
    }
}

/// Counts requests per key in one-minute windows. Only the current minute's counts are kept:
/// they are dropped together when a new minute starts, so a request costs the same however many
/// keys were seen (pruning by scanning them made a flood of new keys cost each request more).
#[derive(Default)]
pub struct RateLimiter {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    minute: u64,
    counts: HashMap<String, u32>,
}

impl RateLimiter {
    /// Records one request for `key` in `minute` and says whether it is within `per_minute`.
    /// A request stamped with an earlier minute than one already seen (threads read the clock
    /// in one order and get here in another) counts in the current window.
    pub fn allow(&self, key: &str, per_minute: u32, minute: u64) -> bool {
        let mut window = locked(&self.window);
        // The last minute's counts are freed after the lock is released.
        let ended = (minute > window.minute).then(|| {
            std::mem::replace(
                &mut *window,
                Window {
                    minute,
                    counts: HashMap::new(),
                },
            )
        });
        let count = match window.counts.get_mut(key) {
            Some(count) => count,
            None => window.counts.entry(key.to_string()).or_insert(0),
        };
        *count = count.saturating_add(1);
        let allowed = *count <= per_minute;
        drop(window);
        drop(ended);
        allowed
    }

    /// Keys counted in the current window.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        locked(&self.window).counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_trimmed_and_bounded() {
        assert_eq!(check_message("  hi  "), Ok("hi"));
        assert_eq!(check_message(" \n\t "), Err(GuardError::EmptyMessage));
        assert_eq!(
            check_message("\u{200B}\u{200D}\u{FEFF}\u{2060} \u{200B}"),
            Err(GuardError::EmptyMessage)
        );
        assert_eq!(check_message("\u{200B}hi\u{200B}"), Ok("hi"));
        assert_eq!(
            check_message(&"é".repeat(MAX_MESSAGE_CHARS)).map(str::len),
            Ok(MAX_MESSAGE_CHARS * 2)
        );
        assert_eq!(
            check_message(&"a".repeat(MAX_MESSAGE_CHARS + 1)),
            Err(GuardError::MessageTooLong)
        );
    }

    #[test]
    fn session_ids_are_restricted() {
        assert!(check_session_id("3f2a9c1e-0000-4000-8000-000000000000").is_ok());
        for bad in [
            "short",
            "../../etc/passwd",
            "a b c d e f g",
            &"x".repeat(65),
        ] {
            assert_eq!(
                check_session_id(bad),
                Err(GuardError::InvalidSessionId),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_apply_per_key_and_reset_each_minute() {
        let limiter = RateLimiter::default();
        assert!((0..3).all(|_| limiter.allow("a", 3, 100)));
        assert!(!limiter.allow("a", 3, 100));
        assert!(limiter.allow("b", 3, 100), "other keys are unaffected");
        assert!(
            limiter.allow("a", 3, 101),
            "a new minute starts a new window"
        );
    }

    #[test]
    fn only_the_current_minutes_keys_are_kept() {
        let limiter = RateLimiter::default();
        for key in ["a", "b", "c"] {
            assert!(limiter.allow(key, 1, 100));
        }
        assert!(limiter.allow("d", 1, 101));
        assert_eq!(
            limiter.tracked(),
            1,
            "the previous minute's keys are dropped"
        );
        assert!(
            !limiter.allow("d", 1, 100),
            "a late stamp counts in the current window"
        );
        assert_eq!(limiter.tracked(), 1);
    }
}
