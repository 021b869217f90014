//! EVE's settings: one lookup for every value — `EVE_<NAME>` from the environment, else the
//! parameter store, else the default. Names, defaults and bounds come from
//! [`eve_contract::settings`], the definition infra-synth validates stacks against.
//! Parameter-store values are cached for a TTL and refreshed behind the request that finds them
//! stale; a failed refresh keeps the last good settings.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use config_diagnostics::Printable;
use eve_contract::settings::{self as contract, Decimal, Flag, Integer, List, Text};
pub use eve_contract::settings::{env_name, MAX_PRESIGN_SECONDS, OFFLINE_MODEL_ID};

use super::ports::{PortError, SettingsSource};

/// How long parameter-store values are reused before they are fetched again.
pub const SETTINGS_TTL: Duration = Duration::from_secs(60);

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
                .text(&contract::MODEL_ID)
                .unwrap_or_else(|| OFFLINE_MODEL_ID.into()),
            max_tokens: r.integer(&contract::MAX_TOKENS),
            temperature: r.decimal(&contract::TEMPERATURE) as f32,
            history_turns: r.integer(&contract::HISTORY_TURNS),
            table_name: r.text(&contract::TABLE_NAME),
            conversation_ttl_days: r.integer(&contract::CONVERSATION_TTL_DAYS),
            certificates_bucket: r.text(&contract::CERTIFICATES_BUCKET),
            presign_seconds: r.integer(&contract::PRESIGN_SECONDS),
            allowed_origins: r.list(&contract::ALLOWED_ORIGINS),
            daily_token_budget: r.integer(&contract::DAILY_TOKEN_BUDGET),
            session_rate_per_minute: r.integer(&contract::SESSION_RATE_PER_MINUTE),
            ip_rate_per_minute: r.integer(&contract::IP_RATE_PER_MINUTE),
            log_user_messages: r.flag(&contract::LOG_USER_MESSAGES),
            content_path: r.text(&contract::CONTENT_PATH),
            model_timeout_ms: r.integer(&contract::MODEL_TIMEOUT_MS),
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

    /// The parsed value, or the default with the problem recorded.
    fn parsed<T>(
        &mut self,
        name: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        let Some((value, origin)) = self.raw(name) else {
            return default;
        };
        parse(&value).unwrap_or_else(|allowed| {
            let problem = format!("{origin} = `{value}`: {allowed}");
            // One line per problem in the log, whatever the value holds.
            self.problems.push(Printable(&problem).to_string());
            default
        })
    }

    fn text(&mut self, setting: &Text) -> Option<String> {
        let default = setting.default.map(String::from);
        self.parsed(setting.name, default, |raw| setting.parse(raw).map(Some))
    }

    /// A bounded integer in the type EVE uses; the contract's bounds fit every such type.
    fn integer<T: TryFrom<u64> + Default>(&mut self, setting: &Integer) -> T {
        let value = self.parsed(setting.name, setting.default, |raw| setting.parse(raw));
        T::try_from(value).unwrap_or_default()
    }

    fn decimal(&mut self, setting: &Decimal) -> f64 {
        self.parsed(setting.name, setting.default, |raw| setting.parse(raw))
    }

    fn flag(&mut self, setting: &Flag) -> bool {
        self.parsed(setting.name, setting.default, |raw| setting.parse(raw))
    }

    fn list(&mut self, setting: &List) -> Vec<String> {
        self.parsed(setting.name, Vec::new(), |raw| setting.parse(raw))
    }
}

/// The settings in use and when their parameter-store values were fetched.
type Cached = Arc<RwLock<(Arc<Settings>, Instant)>>;

/// Serves the current settings, refetching parameter-store values after [`SETTINGS_TTL`].
pub struct SettingsProvider {
    env: Arc<BTreeMap<String, String>>,
    source: Option<Arc<dyn SettingsSource>>,
    ttl: Duration,
    cached: Cached,
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl SettingsProvider {
    /// Loads settings once; a source that cannot be read or invalid values are startup errors.
    pub async fn load(
        env: BTreeMap<String, String>,
        source: Option<Arc<dyn SettingsSource>>,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let (stored, label) = fetch_stored(source.as_deref()).await?;
        // Said once, at start: a misspelt name would otherwise be a setting that does nothing.
        let unknown_variables = env
            .keys()
            .filter_map(|name| contract::unknown_variable(name));
        let unknown_parameters = stored.keys().filter_map(|name| {
            contract::unknown_parameter(name).map(|why| format!("{label}: {why}"))
        });
        for why in unknown_variables.chain(unknown_parameters) {
            tracing::warn!("{why}");
        }
        let settings = Settings::resolve(&env, &stored, &label)?;
        Ok(Self {
            env: Arc::new(env),
            source,
            ttl,
            cached: Arc::new(RwLock::new((Arc::new(settings), Instant::now()))),
            refreshing: Default::default(),
        })
    }

    /// Settings from the environment alone (tests, local runs).
    pub fn fixed(settings: Settings) -> Self {
        Self {
            env: Default::default(),
            source: None,
            ttl: Duration::MAX,
            cached: Arc::new(RwLock::new((Arc::new(settings), Instant::now()))),
            refreshing: Default::default(),
        }
    }

    /// The settings held. Once they are older than the TTL, one refresh starts behind this
    /// request, which (like every other until the refresh lands) is answered on them: no visitor
    /// waits on the parameter store, however slow it is.
    pub fn current(&self) -> Arc<Settings> {
        let (settings, fetched) = snapshot(&self.cached);
        let Some(source) = &self.source else {
            return settings;
        };
        if fetched.elapsed() < self.ttl {
            return settings;
        }
        let Ok(refreshing) = Arc::clone(&self.refreshing).try_lock_owned() else {
            return settings;
        };
        let (env, source, cached) = (
            Arc::clone(&self.env),
            Arc::clone(source),
            Arc::clone(&self.cached),
        );
        tokio::spawn(async move {
            let fresh = match fetch_and_resolve(&env, Some(source.as_ref())).await {
                Ok(fresh) => Arc::new(fresh),
                Err(error) => {
                    tracing::warn!(%error, "settings refresh failed; keeping the previous values");
                    snapshot(&cached).0
                }
            };
            store(&cached, (fresh, Instant::now()));
            drop(refreshing);
        });
        settings
    }

    /// Readiness: the parameter store answers (trivially true without one).
    pub async fn check(&self) -> Result<(), PortError> {
        match self.source.as_deref() {
            Some(source) => source.fetch().await.map(drop),
            None => Ok(()),
        }
    }
}

fn snapshot(cached: &Cached) -> (Arc<Settings>, Instant) {
    match cached.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn store(cached: &Cached, value: (Arc<Settings>, Instant)) {
    match cached.write() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

/// The parameter store's values and the label that names where they came from.
async fn fetch_stored(
    source: Option<&dyn SettingsSource>,
) -> anyhow::Result<(BTreeMap<String, String>, String)> {
    match source {
        Some(source) => Ok((
            source.fetch().await.map_err(|e| {
                anyhow::anyhow!("cannot read settings from {}: {e}", source.describe())
            })?,
            source.describe(),
        )),
        None => Ok((BTreeMap::new(), String::new())),
    }
}

async fn fetch_and_resolve(
    env: &BTreeMap<String, String>,
    source: Option<&dyn SettingsSource>,
) -> anyhow::Result<Settings> {
    let (stored, label) = fetch_stored(source).await?;
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
        let stored = map(&[
            ("presign_seconds", "900"),
            ("allowed_origins", "https://a.example,a.example"),
        ]);
        let env = map(&[
            ("EVE_TEMPERATURE", "hot"),
            ("EVE_LOG_USER_MESSAGES", "maybe"),
            // Not a model Bedrock has: every answer would be offline.
            ("EVE_MODEL_ID", "gpt-4o"),
            // Nor is a table DynamoDB could have: no answer would be stored.
            ("EVE_TABLE_NAME", "my conversations"),
        ]);
        let err = Settings::resolve(&env, &stored, "/cfx/prod/").expect_err("invalid");
        assert_eq!(err.0.len(), 6, "{err}");
        assert!(
            err.to_string()
                .contains("env EVE_MODEL_ID = `gpt-4o`: expected `offline`, a Bedrock model id"),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("/cfx/prod/presign_seconds = `900`"), "{text}");
        assert!(text.contains("env EVE_TEMPERATURE = `hot`"), "{text}");
        assert!(text.contains("env EVE_LOG_USER_MESSAGES"), "{text}");
        // An origin CORS could never match is a mistake to report, not a list to serve.
        assert!(
            text.contains("`a.example` must be an https:// origin"),
            "{text}"
        );
    }

    /// A value with a newline split its problem over two log lines, and a terminal's escape
    /// sequence reached whoever read the log on a terminal.
    #[test]
    fn a_value_quoted_in_a_problem_cannot_break_its_line_or_drive_a_terminal() {
        let env = map(&[("EVE_MODEL_ID", "x\nINFO forged\u{1b}[2J")]);
        let err = Settings::resolve(&env, &map(&[]), "").expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("env EVE_MODEL_ID = `x\\nINFO forged\\u{1b}[2J`"),
            "{text}"
        );
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }

    /// A parameter store whose first fetch answers at once and whose later ones each wait for a
    /// permit; fetch `n` gives `max_tokens = 100 + n`, and fetch 2 an invalid value.
    struct GatedSource {
        fetches: std::sync::atomic::AtomicU64,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait::async_trait]
    impl SettingsSource for GatedSource {
        fn describe(&self) -> String {
            "gated:/".into()
        }

        async fn fetch(&self) -> Result<BTreeMap<String, String>, PortError> {
            let n = self
                .fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n > 0 {
                if let Ok(permit) = self.gate.acquire().await {
                    permit.forget();
                }
            }
            let max_tokens = if n == 2 {
                "many".into()
            } else {
                (100 + n).to_string()
            };
            Ok(map(&[("max_tokens", &max_tokens)]))
        }
    }

    /// A stale cache is refreshed behind the request that found it, which is answered on the
    /// values it has: the refresh used to run inside that request, so every minute one visitor
    /// waited on the parameter store, up to its 6 s timeout when the store hung.
    #[tokio::test]
    async fn a_refresh_does_not_hold_up_the_request_that_starts_it() {
        let source = Arc::new(GatedSource {
            fetches: Default::default(),
            gate: tokio::sync::Semaphore::new(0),
        });
        let ttl = Duration::from_millis(20);
        let provider = SettingsProvider::load(BTreeMap::new(), Some(source.clone()), ttl)
            .await
            .expect("loaded");
        let max_tokens = || provider.current().max_tokens;
        assert_eq!(max_tokens(), 100);
        tokio::time::sleep(ttl * 2).await;
        // The store hangs: the request is answered at once, on the values held.
        assert_eq!(max_tokens(), 100);
        // When the store answers, the next requests get its values.
        source.gate.add_permits(1);
        let fresh = async {
            while max_tokens() != 101 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        assert!(
            tokio::time::timeout(Duration::from_secs(2), fresh)
                .await
                .is_ok(),
            "the refreshed values never arrived"
        );
        // A refresh whose values are invalid keeps the last good ones until a valid one lands.
        source.gate.add_permits(2);
        let after_invalid = async {
            loop {
                tokio::time::sleep(ttl).await;
                match max_tokens() {
                    101 => continue,
                    103 => break,
                    other => panic!("the invalid refresh gave max_tokens {other}"),
                }
            }
        };
        assert!(
            tokio::time::timeout(Duration::from_secs(2), after_invalid)
                .await
                .is_ok(),
            "the refresh after the invalid one never arrived"
        );
    }
}
