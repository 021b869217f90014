//! Request guards: message and session-id limits, and fixed-window rate limits per key.
//!
//! The limiter is in-process (per Lambda instance or server), which bounds bursts from one
//! client cheaply; the daily token budget in the conversation store is the global cost cap.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use portfolio::text::{shows_nothing, shows_something};

use super::locked;

/// Longest accepted visitor message, in characters: the contract's, which the site's input holds.
pub use eve_contract::routes::MAX_MESSAGE_CHARS;

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

/// Variation selectors and tags finish the emoji before them (❤️, a subdivision flag), so a
/// message keeps them at its end.
fn finishes_emoji(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0020}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
}

/// The message without what shows nothing at its ends, and with its line breaks as `\n` and
/// no other control character (a NUL, a terminal escape) inside, none of which a visitor types
/// and all of which would reach the model, the store and the logs; refused when nothing that
/// shows is left.
pub fn check_message(message: &str) -> Result<Cow<'_, str>, GuardError> {
    let trimmed = message.trim_matches(|c| shows_nothing(c) && !finishes_emoji(c));
    if !shows_something(trimmed) {
        Err(GuardError::EmptyMessage)
    } else if trimmed.chars().count() > MAX_MESSAGE_CHARS {
        Err(GuardError::MessageTooLong)
    } else if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        Ok(Cow::Owned(
            trimmed
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .replace(|c: char| c.is_control() && !matches!(c, '\n' | '\t'), ""),
        ))
    } else {
        Ok(Cow::Borrowed(trimmed))
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

/// The key a client's requests are counted under. An IPv6 client is its /64, the block one
/// line or device is given (counted one address at a time, it could pass the limit by changing
/// address); an IPv4-mapped IPv6 address (a dual-stack socket) is its IPv4 address; anything
/// else is kept as it is.
pub fn client_key(ip: &str) -> Cow<'_, str> {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Cow::Owned(v4.to_string()),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                Cow::Owned(format!("{}/64", Ipv6Addr::from(prefix)))
            }
        },
        _ => Cow::Borrowed(ip),
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
    fn a_message_of_characters_that_show_nothing_is_empty() {
        for blank in [
            "\u{0}",
            "\u{1}\u{1b}\u{7f}\u{9f}",
            "\u{3164}\u{3164}",
            "\u{FE0F}",
            "\u{E0020}\u{E007F}",
            "\u{2800} \u{2800}",
            "\u{034F}\u{061C}\u{115F}\u{180E}",
            "\u{200B}\u{0}\u{FFA0}\u{1D173}",
        ] {
            assert_eq!(
                check_message(blank),
                Err(GuardError::EmptyMessage),
                "{blank:?}"
            );
        }
    }

    #[test]
    fn an_emoji_keeps_what_finishes_it() {
        let heart = "\u{2764}\u{FE0F}";
        assert_eq!(check_message(&format!("{heart}\u{0} ")), Ok(heart.into()));
        let scotland = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
        assert_eq!(
            check_message(&format!(" {scotland}\u{200B}")),
            Ok(scotland.into())
        );
    }

    #[test]
    fn messages_are_trimmed_and_bounded() {
        assert_eq!(check_message("  hi  "), Ok("hi".into()));
        assert_eq!(check_message(" \n\t "), Err(GuardError::EmptyMessage));
        assert_eq!(
            check_message("\u{200B}\u{200D}\u{FEFF}\u{2060} \u{200B}"),
            Err(GuardError::EmptyMessage)
        );
        assert_eq!(check_message("\u{200B}hi\u{200B}"), Ok("hi".into()));
        assert_eq!(check_message("\u{0}hi\u{1b}\u{7f}"), Ok("hi".into()));
        assert_eq!(
            check_message(&"é".repeat(MAX_MESSAGE_CHARS)).map(|m| m.len()),
            Ok(MAX_MESSAGE_CHARS * 2)
        );
        assert_eq!(
            check_message(&"a".repeat(MAX_MESSAGE_CHARS + 1)),
            Err(GuardError::MessageTooLong)
        );
    }

    #[test]
    fn control_characters_inside_a_message_are_dropped_and_line_breaks_kept() {
        assert_eq!(
            check_message("a\u{0}b\u{1b}[31mc\u{7f}d\u{85}e"),
            Ok("ab[31mcde".into())
        );
        assert_eq!(
            check_message("one\r\ntwo\rthree\n\tfour"),
            Ok("one\ntwo\nthree\n\tfour".into())
        );
        assert!(matches!(check_message("plain text"), Ok(Cow::Borrowed(_))));
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
