//! EVE's settings: names, types, defaults and bounds.
//!
//! EVE resolves each setting from `EVE_<NAME>`, else the parameter store
//! (`<EVE_SSM_PATH><name>`), else the default here; `infra-synth validate` checks the values a
//! stack would write with the same [`Setting::check`] EVE applies at start-up, so a stack that
//! validates is one EVE starts with. The human-readable table is `docs/eve-settings.md`.

/// A whole number within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer {
    pub name: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

/// A decimal number within bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decimal {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
}

/// `true/false`, `1/0` or `yes/no`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub default: bool,
}

/// Text held to `rule`; `default` `None` means the feature it names is off when unset.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub name: &'static str,
    pub default: Option<&'static str>,
    /// Whether EVE accepts a value; the error says what it accepts.
    pub rule: fn(&str) -> Result<(), String>,
}

/// A comma-separated list (blank entries dropped), each entry held to `entry`.
#[derive(Debug, Clone, Copy)]
pub struct List {
    pub name: &'static str,
    /// Whether EVE accepts one entry; the error says what it accepts.
    pub entry: fn(&str) -> Result<(), String>,
}

impl Integer {
    /// The value EVE would use for `raw`, or what it accepts instead.
    pub fn parse(&self, raw: &str) -> Result<u64, String> {
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (self.min..=self.max).contains(n))
            .ok_or_else(|| format!("expected a number from {} to {}", self.min, self.max))
    }
}

impl Decimal {
    pub fn parse(&self, raw: &str) -> Result<f64, String> {
        raw.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| (self.min..=self.max).contains(n))
            .ok_or_else(|| format!("expected a number from {} to {}", self.min, self.max))
    }
}

impl Flag {
    pub fn parse(&self, raw: &str) -> Result<bool, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err("expected true or false".into()),
        }
    }
}

/// Setting names are unique (a test holds them so): a list is its name.
impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// As a list, a text setting is its name.
impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Text {
    /// The value EVE would use for `raw`, or what it accepts instead.
    pub fn parse(&self, raw: &str) -> Result<String, String> {
        let value = raw.trim();
        (self.rule)(value).map(|()| value.to_string())
    }
}

/// The rule of text EVE only passes on (names of resources, paths).
fn any_text(_: &str) -> Result<(), String> {
    Ok(())
}

/// DynamoDB's table names: any other would fail every store call, each answer unstored.
fn check_table_name(name: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if (3..=255).contains(&name.len()) && name.bytes().all(allowed) {
        Ok(())
    } else {
        Err("expected a DynamoDB table name: 3 to 255 of a-z, A-Z, 0-9, '_', '-' and '.'".into())
    }
}

/// An S3 bucket name, whose objects EVE links to.
fn check_bucket_name(name: &str) -> Result<(), String> {
    crate::aws::check_bucket_name(name).map_err(|why| format!("not an S3 bucket name: {why}"))
}

/// Whether a model id names a cross-region inference profile (`eu.anthropic...`): its
/// geography comes first.
pub fn is_inference_profile(model_id: &str) -> bool {
    model_id.split_once('.').is_some_and(|(geo, _)| {
        ["us", "eu", "apac", "us-gov", "global", "ca", "jp", "au"].contains(&geo)
    })
}

/// `offline`, `<provider>.<model>` or `<geo>.<provider>.<model>`, the model with an optional
/// `:version`: any other id would send every question to a model Bedrock does not have, and
/// every visitor an offline answer.
pub fn check_model_id(id: &str) -> Result<(), String> {
    if id == OFFLINE_MODEL_ID {
        return Ok(());
    }
    let (name, version) = match id.split_once(':') {
        Some((name, version)) => (name, Some(version)),
        None => (id, None),
    };
    let parts: Vec<&str> = name.split('.').collect();
    let provider_at = usize::from(is_inference_profile(id));
    let provider_ok = parts
        .get(provider_at)
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    let model = &parts[(provider_at + 1).min(parts.len())..];
    let model_ok = !model.is_empty()
        && model.iter().all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    let version_ok =
        version.is_none_or(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()));
    if provider_ok && model_ok && version_ok {
        Ok(())
    } else {
        Err(format!(
            "expected `{OFFLINE_MODEL_ID}`, a Bedrock model id `<provider>.<model>` (e.g. \
             anthropic.claude-3-haiku-20240307-v1:0) or an inference profile \
             `<geo>.<provider>.<model>`"
        ))
    }
}

impl List {
    /// The entries of `raw`, or the first one EVE refuses and why.
    pub fn parse(&self, raw: &str) -> Result<Vec<String>, String> {
        if let Some((_, why)) = self.refused(raw).into_iter().next() {
            return Err(why);
        }
        Ok(Self::positions(raw).map(|(_, e)| e.to_string()).collect())
    }

    /// Every entry of `raw` EVE refuses: its position in the list (blank entries counted) and
    /// why.
    pub fn refused(&self, raw: &str) -> Vec<(usize, String)> {
        Self::positions(raw)
            .filter_map(|(i, entry)| {
                (self.entry)(entry)
                    .err()
                    .map(|allowed| (i, format!("`{entry}` {allowed}")))
            })
            .collect()
    }

    /// The non-blank entries with their positions.
    fn positions(raw: &str) -> impl Iterator<Item = (usize, &str)> {
        raw.split(',')
            .map(str::trim)
            .enumerate()
            .filter(|(_, entry)| !entry.is_empty())
    }
}

/// https anywhere; http only for a loopback host (local runs and emulators).
pub fn is_secure_url(url: &str) -> bool {
    let host_of = |rest: &str| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    host
                } else {
                    authority
                }
            })
            .to_string()
    };
    if let Some(rest) = url.strip_prefix("https://") {
        !host_of(rest).is_empty()
    } else if let Some(rest) = url.strip_prefix("http://") {
        matches!(host_of(rest).as_str(), "localhost" | "127.0.0.1" | "[::1]")
    } else {
        false
    }
}

/// An origin as browsers send it, `scheme://host[:port]` with nothing after, over https (http
/// only for a loopback host): what CORS compares the `Origin` header with.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let bare = origin
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['/', '?', '#']));
    if bare && is_secure_url(origin) {
        Ok(())
    } else {
        Err(
            "must be an https:// origin without a path (http:// only for localhost or \
             127.0.0.1)"
                .into(),
        )
    }
}

/// Any setting, for code that treats them alike (validation, documentation, the ConfigMap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting {
    Integer(Integer),
    Decimal(Decimal),
    Flag(Flag),
    Text(Text),
    List(List),
}

impl Setting {
    pub fn name(&self) -> &'static str {
        match self {
            Setting::Integer(s) => s.name,
            Setting::Decimal(s) => s.name,
            Setting::Flag(s) => s.name,
            Setting::Text(s) => s.name,
            Setting::List(s) => s.name,
        }
    }

    /// Whether EVE accepts `raw`; the error says what it accepts. Blank means unset.
    pub fn check(&self, raw: &str) -> Result<(), String> {
        if raw.trim().is_empty() {
            return Ok(());
        }
        match self {
            Setting::Integer(s) => s.parse(raw).map(drop),
            Setting::Decimal(s) => s.parse(raw).map(drop),
            Setting::Flag(s) => s.parse(raw).map(drop),
            Setting::List(s) => s.parse(raw).map(drop),
            Setting::Text(s) => s.parse(raw).map(drop),
        }
    }

    /// Looks a setting up by name.
    pub fn named(name: &str) -> Option<Setting> {
        ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// The environment variable that overrides setting `name`.
pub fn env_name(name: &str) -> String {
    format!("EVE_{}", name.to_ascii_uppercase())
}

/// Not a setting but where settings live: the parameter store path, e.g. `/cloudforgex/prod/`.
pub const SSM_PATH_VAR: &str = "EVE_SSM_PATH";
/// Not a setting: the stage EVE's metrics and token budget are kept under.
pub const STAGE_VAR: &str = "EVE_STAGE";

/// Why EVE ignores the `EVE_` variable `name`: it is none of its own (a setting's, or
/// [`SSM_PATH_VAR`], [`STAGE_VAR`]); with the one it most likely misspells. `None` for its own.
pub fn unknown_variable(name: &str) -> Option<String> {
    let known = ALL
        .iter()
        .map(|s| env_name(s.name()))
        .chain([SSM_PATH_VAR.to_string(), STAGE_VAR.to_string()]);
    unknown(name, known, "EVE_", "variable")
}

/// Why EVE ignores the parameter `name` under its store path: no setting has that name.
pub fn unknown_parameter(name: &str) -> Option<String> {
    unknown(
        name,
        ALL.iter().map(|s| s.name().to_string()),
        "",
        "setting",
    )
}

/// `None` when `name` is one of `known`; else why it is ignored, with the known name it is
/// likely a typo of (compared without the `prefix` they all share).
fn unknown(
    name: &str,
    known: impl Iterator<Item = String>,
    prefix: &str,
    kind: &str,
) -> Option<String> {
    let bare = |name: &str| name.strip_prefix(prefix).unwrap_or(name).to_lowercase();
    let mut nearest: Option<(f64, String)> = None;
    for candidate in known {
        if candidate == name {
            return None;
        }
        let likeness = strsim::jaro_winkler(&bare(&candidate), &bare(name));
        if nearest.as_ref().is_none_or(|(best, _)| likeness > *best) {
            nearest = Some((likeness, candidate));
        }
    }
    let mut why = format!("`{name}` is not an EVE {kind}, so it is ignored");
    // Close enough to be a typo (Jaro-Winkler, the measure cargo's suggestions use).
    if let Some((_, candidate)) = nearest.filter(|(likeness, _)| *likeness > 0.8) {
        why.push_str(&format!("; did you mean `{candidate}`?"));
    }
    Some(why)
}

/// The model id that means "no model: answer with the offline responder".
pub const OFFLINE_MODEL_ID: &str = "offline";

/// S3 presigned URLs never live longer than this, whatever the settings say.
pub const MAX_PRESIGN_SECONDS: u64 = 300;

pub const MODEL_ID: Text = Text {
    name: "model_id",
    default: Some(OFFLINE_MODEL_ID),
    rule: check_model_id,
};
pub const MAX_TOKENS: Integer = Integer {
    name: "max_tokens",
    default: 600,
    min: 1,
    max: 8192,
};
pub const TEMPERATURE: Decimal = Decimal {
    name: "temperature",
    default: 0.3,
    min: 0.0,
    max: 1.0,
};
pub const HISTORY_TURNS: Integer = Integer {
    name: "history_turns",
    default: 6,
    min: 0,
    max: 50,
};
pub const TABLE_NAME: Text = Text {
    name: "table_name",
    default: None,
    rule: check_table_name,
};
pub const CONVERSATION_TTL_DAYS: Integer = Integer {
    name: "conversation_ttl_days",
    default: 30,
    min: 1,
    max: 3650,
};
pub const CERTIFICATES_BUCKET: Text = Text {
    name: "certificates_bucket",
    default: None,
    rule: check_bucket_name,
};
pub const PRESIGN_SECONDS: Integer = Integer {
    name: "presign_seconds",
    default: MAX_PRESIGN_SECONDS,
    min: 1,
    max: MAX_PRESIGN_SECONDS,
};
pub const ALLOWED_ORIGINS: List = List {
    name: "allowed_origins",
    entry: check_origin,
};
pub const DAILY_TOKEN_BUDGET: Integer = Integer {
    name: "daily_token_budget",
    default: 200_000,
    min: 0,
    max: u64::MAX,
};
pub const SESSION_RATE_PER_MINUTE: Integer = Integer {
    name: "session_rate_per_minute",
    default: 10,
    min: 1,
    max: 1_000_000,
};
pub const IP_RATE_PER_MINUTE: Integer = Integer {
    name: "ip_rate_per_minute",
    default: 30,
    min: 1,
    max: 1_000_000,
};
pub const LOG_USER_MESSAGES: Flag = Flag {
    name: "log_user_messages",
    default: false,
};
pub const CONTENT_PATH: Text = Text {
    name: "content_path",
    default: None,
    rule: any_text,
};
/// The whole model call including retries, so a request ends inside API Gateway's 29 s.
pub const MODEL_TIMEOUT_MS: Integer = Integer {
    name: "model_timeout_ms",
    default: 20_000,
    min: 100,
    max: 25_000,
};

/// Every setting, in the order of `docs/eve-settings.md`.
pub const ALL: &[Setting] = &[
    Setting::Text(MODEL_ID),
    Setting::Integer(MAX_TOKENS),
    Setting::Decimal(TEMPERATURE),
    Setting::Integer(HISTORY_TURNS),
    Setting::Text(TABLE_NAME),
    Setting::Integer(CONVERSATION_TTL_DAYS),
    Setting::Text(CERTIFICATES_BUCKET),
    Setting::Integer(PRESIGN_SECONDS),
    Setting::List(ALLOWED_ORIGINS),
    Setting::Integer(DAILY_TOKEN_BUDGET),
    Setting::Integer(SESSION_RATE_PER_MINUTE),
    Setting::Integer(IP_RATE_PER_MINUTE),
    Setting::Flag(LOG_USER_MESSAGES),
    Setting::Text(CONTENT_PATH),
    Setting::Integer(MODEL_TIMEOUT_MS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_errors_say_what_is_allowed() {
        assert_eq!(CONVERSATION_TTL_DAYS.parse("3650"), Ok(3650));
        assert_eq!(
            CONVERSATION_TTL_DAYS.parse("5000"),
            Err("expected a number from 1 to 3650".into())
        );
        assert!(MAX_TOKENS.parse("-1").is_err());
        assert!(TEMPERATURE.parse("1.5").is_err());
        assert_eq!(LOG_USER_MESSAGES.parse("YES"), Ok(true));
        assert!(
            Setting::Integer(MAX_TOKENS).check("  ").is_ok(),
            "blank is unset"
        );
    }

    #[test]
    fn origins_are_bare_and_https_but_for_loopback() {
        let origins = Setting::List(ALLOWED_ORIGINS);
        assert!(origins
            .check("https://example.com, http://localhost:8080,http://127.0.0.1:5000")
            .is_ok());
        for refused in [
            "garbage",
            "http://example.com",
            "https://example.com/",
            "https://example.com/path",
            "ftp://example.com",
            "https://",
        ] {
            let error = origins
                .check(&format!("https://ok.example,{refused}"))
                .expect_err(refused);
            assert!(
                error.starts_with(&format!("`{refused}` must be")),
                "{error}"
            );
        }
        assert!(is_secure_url("https://example.com/path"));
        assert!(!is_secure_url("http://10.0.0.5:5000"));
    }

    #[test]
    fn model_ids() {
        for ok in [
            "offline",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "amazon.nova-lite-v1:0",
            "meta.llama3-1-8b-instruct-v1:0",
        ] {
            assert_eq!(Setting::Text(MODEL_ID).check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "claude",
            "gpt-4o",
            "anthropic.*",
            "Anthropic.Claude",
            "eu.",
            "a.b:",
        ] {
            assert!(Setting::Text(MODEL_ID).check(bad).is_err(), "{bad}");
        }
        assert!(is_inference_profile(
            "eu.anthropic.claude-3-haiku-20240307-v1:0"
        ));
        assert!(!is_inference_profile("anthropic.claude.x"));
    }

    #[test]
    fn resource_names_have_their_service_shape() {
        let table = Setting::Text(TABLE_NAME);
        assert!(table.check("cloudforgex-prod-conversations").is_ok());
        for bad in ["ab", "my table", "t/able"] {
            assert!(table.check(bad).is_err(), "{bad}");
        }
        let bucket = Setting::Text(CERTIFICATES_BUCKET);
        assert!(bucket.check("cloudforgex-prod-certificates").is_ok());
        for bad in ["Certs", "-certs", "certs-", "s3://certs", "ab"] {
            assert!(bucket.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(
                ALL[i + 1..].iter().all(|b| b.name() != a.name()),
                "{}",
                a.name()
            );
            assert_eq!(Setting::named(a.name()), Some(*a));
        }
        assert_eq!(env_name("max_tokens"), "EVE_MAX_TOKENS");
    }

    #[test]
    fn names_eve_does_not_read_are_named_with_the_nearest_it_does() {
        assert_eq!(unknown_variable("EVE_MAX_TOKENS"), None);
        assert_eq!(unknown_variable(SSM_PATH_VAR), None);
        assert_eq!(unknown_parameter("history_turns"), None);
        assert_eq!(
            unknown_variable("EVE_MAX_TOKEN").as_deref(),
            Some("`EVE_MAX_TOKEN` is not an EVE variable, so it is ignored; did you mean `EVE_MAX_TOKENS`?")
        );
        assert_eq!(
            unknown_parameter("histroy_turns").as_deref(),
            Some("`histroy_turns` is not an EVE setting, so it is ignored; did you mean `history_turns`?")
        );
        assert_eq!(
            unknown_variable("EVE_COLOUR").as_deref(),
            Some("`EVE_COLOUR` is not an EVE variable, so it is ignored")
        );
    }
}
