//! Readiness: whether the dependencies answer, asked of them at most once per
//! [`RECHECK_AFTER`] however often it is asked.
//!
//! `/api/health/ready` is reachable by anyone who reaches the site. Each check reads the
//! parameter store and the table, so without this a client asking it a hundred times a second
//! made a hundred reads of each: enough to have SSM throttle the account (its `GetParametersByPath`
//! allows tens a second), after which every instance reported itself unready and the
//! orchestrator took them all out of service.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::ports::PortError;

/// What each dependency answered, by name.
pub type Checks = Vec<(&'static str, Result<(), PortError>)>;

/// How long one round of checks stands for every caller: well under the orchestrator's probe
/// period, so a dependency that recovers is seen at the next probe.
pub const RECHECK_AFTER: Duration = Duration::from_secs(2);

/// The last round of checks, and the lock that makes callers arriving during one wait for it
/// rather than start their own.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Checks)>>,
}

impl Readiness {
    /// The last round's answers while they stand, else those of a new round run by `check`.
    pub async fn checks<F, Round>(&self, check: F) -> Checks
    where
        F: FnOnce() -> Round,
        Round: Future<Output = Checks>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, checks)) = last.as_ref() {
            if at.elapsed() < RECHECK_AFTER {
                return checks.clone();
            }
        }
        let checks = check().await;
        *last = Some((Instant::now(), checks.clone()));
        checks
    }
}

/// What `check` answers, or a failure of `dependency` when it has not answered `within`.
pub async fn within(
    within: Duration,
    dependency: &'static str,
    check: impl Future<Output = Result<(), PortError>>,
) -> Result<(), PortError> {
    tokio::time::timeout(within, check)
        .await
        .unwrap_or_else(|_| {
            Err(PortError::new(
                dependency,
                format!("no answer within {within:?}"),
            ))
        })
}
