//! The domain: everything EVE decides, behind ports, with no HTTP or AWS types.

pub mod budget;
pub mod certificates;
pub mod chat;
pub mod guards;
pub mod history;
pub mod knowledge;
pub mod metrics;
pub mod offline;
pub mod ports;
pub mod prompt;
pub mod readiness;
pub mod settings;
pub mod sized_lru;
pub mod to_the_end;

/// The guarded value, also after a panic elsewhere poisoned the lock: every value kept behind
/// one stays whole between statements.
pub(crate) fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
