//! EVE's settings: one lookup for every value — `EVE_<NAME>` from the environment, else the
//! parameter store, else the default (contract: `docs/eve-settings.md`). Parameter-store values
//! are cached for a TTL; a failed refresh keeps the last good settings.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::ports::{PortError, SettingsSource};

/// How long parameter-store values are reused before they are fetched again.
pub const SETTINGS_TTL: Duration = Duration::from_secs(60);

/// S3 presigned URLs never live longer than this, whatever the settings say.
pub const MAX_PRESIGN_SECONDS: u64 = 300;

/// The model id that means "no model: answer with the offline responder".
pub const OFFLINE_MODEL_ID: &str = "offline";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub model_id: String,
    pub max_tokens: u32,
    pub temperature: f32,
    pub history_turns: usize,
    pub table_name: Option<String>,
    pub conversation_ttl_days: u64,
    pub certificates_bucket: Option<String>,
    pub presign_seconds: u64,
    pub allowed_origins: Vec<String>,
    pub daily_token_budget: u64,
    pub session_rate_per_minute: u32,
    pub ip_rate_per_minute: u32,
    pub log_user_messages: bool,
    pub content_path: Option<String>,
    pub model_timeout_ms: u64,
}

impl Settings {
    pub fn uses_model(&self) -> bool {
        self.model_id != OFFLINE_MODEL_ID
    }

    /// Resolves every setting; all invalid values are reported together.
    pub fn resolve(
        env: &BTreeMap<String, String>,
        stored: &BTreeMap<String, String>,
        stored_label: &str,
    ) -> Result<Self, SettingsError> {
        let mut r = Resolver {
            env,
            stored,
            stored_label,
            problems: Vec::new(),
        };
        let settings = Settings {
            model_id: r
                .text("model_id")
                .unwrap_or_else(|| OFFLINE_MODEL_ID.into()),
            max_tokens: r.number("max_tokens", 600, 1..=8192),
            temperature: r.number("temperature", 0.3, 0.0..=1.0),
            history_turns: r.number("history_turns", 6, 0..=50),
            table_name: r.text("table_name"),
            conversation_ttl_days: r.number("conversation_ttl_days", 30, 1..=3650),
            certificates_bucket: r.text("certificates_bucket"),
            presign_seconds: r.number(
                "presign_seconds",
                MAX_PRESIGN_SECONDS,
                1..=MAX_PRESIGN_SECONDS,
            ),
            allowed_origins: r.list("allowed_origins"),
            daily_token_budget: r.number("daily_token_budget", 200_000, 0..=u64::MAX),
            session_rate_per_minute: r.number("session_rate_per_minute", 10, 1..=1_000_000),
            ip_rate_per_minute: r.number("ip_rate_per_minute", 30, 1..=1_000_000),
            log_user_messages: r.flag("log_user_messages"),
            content_path: r.text("content_path"),
            model_timeout_ms: r.number("model_timeout_ms", 20_000, 100..=25_000),
        };
        if r.problems.is_empty() {
            Ok(settings)
        } else {
            Err(SettingsError(r.problems))
        }
    }
}

/// Every invalid setting, each naming where its value came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SettingsError(pub Vec<String>);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid EVE settings: {}", self.0.join("; "))
    }
}

/// The environment variable that overrides setting `name`.
pub fn env_name(name: &str) -> String {
    format!("EVE_{}", name.to_ascii_uppercase())
}

struct Resolver<'a> {
    env: &'a BTreeMap<String, String>,
    stored: &'a BTreeMap<String, String>,
    stored_label: &'a str,
    problems: Vec<String>,
}

impl Resolver<'_> {
    /// The raw value and where it came from; blank values count as unset.
    fn raw(&self, name: &str) -> Option<(String, String)> {
        let key = env_name(name);
        let from_env = self
            .env
            .get(&key)
            .map(|v| (v.trim().to_string(), format!("env {key}")));
        let from_store = || {
            self.stored
                .get(name)
                .map(|v| (v.trim().to_string(), format!("{}{name}", self.stored_label)))
        };
        from_env.or_else(from_store).filter(|(v, _)| !v.is_empty())
    }

    fn text(&mut self, name: &str) -> Option<String> {
        self.raw(name).map(|(v, _)| v)
    }

    fn number<T>(&mut self, name: &str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some((value, origin)) = self.raw(name) else {
            return default;
        };
        match value.parse::<T>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.problems.push(format!(
                    "{origin} = `{value}`: expected a number from {} to {}",
                    range.start(),
                    range.end()
                ));
                default
            }
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        let Some((value, origin)) = self.raw(name) else {
            return false;
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                self.problems
                    .push(format!("{origin} = `{value}`: expected true or false"));
                false
            }
        }
    }

    fn list(&mut self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|(v, _)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Serves the current settings, refetching parameter-store values after [`SETTINGS_TTL`].
pub struct SettingsProvider {
    env: BTreeMap<String, String>,
    source: Option<Arc<dyn SettingsSource>>,
    ttl: Duration,
    cached: RwLock<(Arc<Settings>, Instant)>,
    refreshing: tokio::sync::Mutex<()>,
}

impl SettingsProvider {
    /// Loads settings once; a source that cannot be read or invalid values are startup errors.
    pub async fn load(
        env: BTreeMap<String, String>,
        source: Option<Arc<dyn SettingsSource>>,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let settings = fetch_and_resolve(&env, source.as_deref()).await?;
        Ok(Self {
            env,
            source,
            ttl,
            cached: RwLock::new((Arc::new(settings), Instant::now())),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// Settings from the environment alone (tests, local runs).
    pub fn fixed(settings: Settings) -> Self {
        Self {
            env: BTreeMap::new(),
            source: None,
            ttl: Duration::MAX,
            cached: RwLock::new((Arc::new(settings), Instant::now())),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub async fn current(&self) -> Arc<Settings> {
        let (settings, fetched) = self.snapshot();
        let Some(source) = self.source.as_deref() else {
            return settings;
        };
        if fetched.elapsed() < self.ttl {
            return settings;
        }
        // One refresh at a time; concurrent requests keep using the previous values.
        let Ok(_guard) = self.refreshing.try_lock() else {
            return settings;
        };
        match fetch_and_resolve(&self.env, Some(source)).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.store((fresh.clone(), Instant::now()));
                fresh
            }
            Err(error) => {
                tracing::warn!(%error, "settings refresh failed; keeping the previous values");
                self.store((settings.clone(), Instant::now()));
                settings
            }
        }
    }

    /// Readiness: the parameter store answers (trivially true without one).
    pub async fn check(&self) -> Result<(), PortError> {
        match self.source.as_deref() {
            Some(source) => source.fetch().await.map(drop),
            None => Ok(()),
        }
    }

    fn snapshot(&self) -> (Arc<Settings>, Instant) {
        match self.cached.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, value: (Arc<Settings>, Instant)) {
        match self.cached.write() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
}

async fn fetch_and_resolve(
    env: &BTreeMap<String, String>,
    source: Option<&dyn SettingsSource>,
) -> anyhow::Result<Settings> {
    let (stored, label) = match source {
        Some(source) => (
            source.fetch().await.map_err(|e| {
                anyhow::anyhow!("cannot read settings from {}: {e}", source.describe())
            })?,
            source.describe(),
        ),
        None => (BTreeMap::new(), String::new()),
    };
    Ok(Settings::resolve(env, &stored, &label)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::resolve(&map(&[]), &map(&[]), "").expect("defaults are valid");
        assert_eq!(s.model_id, "offline");
        assert!(!s.uses_model());
        assert_eq!(
            (s.max_tokens, s.history_turns, s.presign_seconds),
            (600, 6, 300)
        );
        assert_eq!((s.session_rate_per_minute, s.ip_rate_per_minute), (10, 30));
        assert_eq!(s.daily_token_budget, 200_000);
        assert!(s.table_name.is_none() && s.allowed_origins.is_empty() && !s.log_user_messages);
    }

    #[test]
    fn environment_overrides_the_store() {
        let stored = map(&[
            ("max_tokens", "100"),
            ("allowed_origins", "https://a.example"),
        ]);
        let env = map(&[("EVE_MAX_TOKENS", "250")]);
        let s = Settings::resolve(&env, &stored, "/cfx/prod/").expect("valid");
        assert_eq!(s.max_tokens, 250);
        assert_eq!(s.allowed_origins, vec!["https://a.example"]);
    }

    #[test]
    fn every_bad_value_is_named_with_its_origin() {
        let stored = map(&[("presign_seconds", "900")]);
        let env = map(&[
            ("EVE_TEMPERATURE", "hot"),
            ("EVE_LOG_USER_MESSAGES", "maybe"),
        ]);
        let err = Settings::resolve(&env, &stored, "/cfx/prod/").expect_err("invalid");
        assert_eq!(err.0.len(), 3, "{err}");
        let text = err.to_string();
        assert!(text.contains("/cfx/prod/presign_seconds = `900`"), "{text}");
        assert!(text.contains("env EVE_TEMPERATURE = `hot`"), "{text}");
        assert!(text.contains("env EVE_LOG_USER_MESSAGES"), "{text}");
    }
}
