//! The stack schema. Defaults live here so environments only state their differences.

use std::collections::BTreeMap;
use std::path::PathBuf;

use config_diagnostics::short_number;
use eve_contract::settings as contract;
use serde::Deserialize;

/// One environment's stack, as read from `stacks/<name>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// The stack file's name (`prod` for `stacks/prod.toml`); output goes to `out/<name>/`.
    #[serde(skip)]
    pub name: String,
    /// Application name: prefixes resource names and the SSM path `/<app>/<env>/`.
    #[serde(default = "default_app")]
    pub app: String,
    /// Environment name: `dev`, `prod`, `local`...; also the API Gateway stage name.
    pub env: String,
    /// AWS region of everything except the CloudFront certificate (always us-east-1).
    pub region: String,
    /// Apex domain; `www.<domain>` is served too.
    pub domain: String,
    /// Portfolio content file, relative to the stack file; certificate objects come from it.
    #[serde(default = "default_content")]
    pub content: PathBuf,
    /// `content` resolved against the stack file's directory.
    #[serde(skip)]
    pub content_path: PathBuf,
    /// Certificate object keys from the content file: the only objects EVE may read.
    #[serde(skip)]
    pub certificate_keys: Vec<String>,
    /// Extra provider `default_tags`, beside the stack's own (`OWN_TAGS`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub aws: Aws,
    #[serde(default)]
    pub state: State,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub buckets: Buckets,
    #[serde(default)]
    pub cdn: Cdn,
    #[serde(default)]
    pub lambda: Lambda,
    #[serde(default)]
    pub api: Api,
    #[serde(default)]
    pub table: Table,
    #[serde(default)]
    pub eve: Eve,
    #[serde(default)]
    pub alarms: Alarms,
    /// Cross-region recovery; off unless the section names a region.
    #[serde(default)]
    pub dr: Option<super::resilience::Dr>,
    #[serde(default)]
    pub waf: super::resilience::Waf,
    #[serde(default)]
    pub network: super::resilience::Network,
    /// What a month of visitors does, for `infra-synth cost`; defaults when absent.
    #[serde(default)]
    pub traffic: super::cost::Traffic,
    /// The monthly ceiling `validate` enforces; none when absent.
    #[serde(default)]
    pub cost: super::cost::Cost,
    /// eve-server on Kubernetes (`synth --target kubernetes`); defaults when absent.
    #[serde(default)]
    pub kubernetes: super::kubernetes::Kubernetes,
    /// The file as read, so problems found later (the checks over the built tree) can still
    /// name its line and key.
    #[serde(skip)]
    pub source: Option<std::sync::Arc<config_diagnostics::TomlSource>>,
}

/// Where the AWS API lives; an endpoint points every service at a local emulator (moto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    /// E.g. `http://127.0.0.1:5000`. When set, the provider uses it for every service, with
    /// static test credentials and no account or metadata lookups.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Emulator stacks only (needs `endpoint`): resource address → attributes the emulator
    /// accepts but does not read back, so Terraform ignores their drift
    /// (`lifecycle.ignore_changes`) and a second plan is empty.
    #[serde(default)]
    pub ignore_changes: BTreeMap<String, Vec<String>>,
}

/// Terraform state storage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    #[serde(default)]
    pub backend: Backend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// S3 with `use_lockfile`; bucket/key/region come from `terraform init -backend-config`.
    #[default]
    S3,
    /// Local state file, for throwaway emulator stacks.
    Local,
}

/// Toggles for parts an emulator cannot provide; real stacks keep every default (`true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// The CloudFront response headers policy (CSP, HSTS, ...). moto does not implement it.
    #[serde(default = "yes")]
    pub response_headers_policy: bool,
    /// DNS validation records and the wait for ACM to issue. Off: the certificate is used
    /// unvalidated (an emulator issues it at once).
    #[serde(default = "yes")]
    pub certificate_validation: bool,
    /// The statement in every bucket policy that denies requests without TLS. moto evaluates
    /// a Deny whose condition does not hold as a denial, so on moto it blocks every upload.
    #[serde(default = "yes")]
    pub tls_only_bucket_policies: bool,
    /// CloudFront's origin group that fails the site over to its `[dr]` replica. moto drops
    /// origin groups, then refuses the behaviour that targets one.
    #[serde(default = "yes")]
    pub origin_failover: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            response_headers_policy: true,
            certificate_validation: true,
            tls_only_bucket_policies: true,
            origin_failover: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    #[serde(default)]
    pub zone: ZoneSource,
    /// The hosted zone holding `domain` (e.g. `example.com` for `dev.example.com`);
    /// default: `domain` itself.
    #[serde(default)]
    pub zone_name: Option<String>,
}

/// Whether the Route 53 hosted zone for `domain` already exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneSource {
    /// Look up an existing public zone (registrar already delegates to it).
    #[default]
    Lookup,
    /// Create the zone in this stack.
    Create,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// Bucket name prefix (bucket names are global); default `<app>-<env>`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Days before access logs expire.
    #[serde(default = "default_log_expiry_days")]
    pub log_expiry_days: u32,
    /// Let `destroy` delete non-empty buckets (throwaway stacks only).
    #[serde(default)]
    pub force_destroy: bool,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            prefix: None,
            log_expiry_days: default_log_expiry_days(),
            force_destroy: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cdn {
    #[serde(default)]
    pub price_class: PriceClass,
}

/// CloudFront price classes (which edge locations serve the site).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum PriceClass {
    #[default]
    #[serde(rename = "PriceClass_100")]
    Edge100,
    #[serde(rename = "PriceClass_200")]
    Edge200,
    #[serde(rename = "PriceClass_All")]
    EdgeAll,
}

impl PriceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceClass::Edge100 => "PriceClass_100",
            PriceClass::Edge200 => "PriceClass_200",
            PriceClass::EdgeAll => "PriceClass_All",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lambda {
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// Must stay below API Gateway's 29 s integration limit.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u32,
    #[serde(default)]
    pub architecture: Architecture,
    /// EVE's two functions together (API and streaming, split about evenly; at least 2): the
    /// bound on their cost, since no API limit fronts the streaming function's URL.
    #[serde(default = "default_reserved_concurrency")]
    pub reserved_concurrency: u32,
    #[serde(default = "default_log_retention_days")]
    pub log_retention_days: u32,
}

impl Default for Lambda {
    fn default() -> Self {
        Lambda {
            memory_mb: default_memory_mb(),
            timeout_s: default_timeout_s(),
            architecture: Architecture::default(),
            reserved_concurrency: default_reserved_concurrency(),
            log_retention_days: default_log_retention_days(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    #[default]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Architecture {
    /// Lambda's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }

    /// The glibc Rust target that matches Lambda's `provided.al2023` on this architecture.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-gnu",
            Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// cargo-lambda's flag for it.
    pub fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Architecture::X86_64 => "--x86-64",
            Architecture::Arm64 => "--arm64",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Steady-state requests per second, per stage and in the usage plan.
    #[serde(default = "default_rate_limit")]
    pub throttle_rate_limit: f64,
    #[serde(default = "default_burst_limit")]
    pub throttle_burst_limit: u32,
    /// Requests per day through the usage plan.
    #[serde(default = "default_daily_quota")]
    pub daily_quota: u32,
    #[serde(default = "default_log_retention_days")]
    pub log_retention_days: u32,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            throttle_rate_limit: default_rate_limit(),
            throttle_burst_limit: default_burst_limit(),
            daily_quota: default_daily_quota(),
            log_retention_days: default_log_retention_days(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Refuse `terraform destroy` of the conversations table.
    #[serde(default)]
    pub deletion_protection: bool,
}

/// EVE's settings (the contract in `docs/eve-settings.md`); table and bucket names are derived.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eve {
    /// Bedrock model or inference-profile id, or `offline`.
    #[serde(default = "default_model_id")]
    pub model_id: String,
    /// Regions whose foundation model may serve EVE's calls (their ARNs are granted): required
    /// for an inference profile, which routes to several, and refused for any other model,
    /// which is called in the stack region only.
    #[serde(default)]
    pub model_regions: Vec<String>,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    #[serde(default = "default_history_turns")]
    pub history_turns: u32,
    #[serde(default = "default_ttl_days")]
    pub conversation_ttl_days: i64,
    #[serde(default = "default_presign_seconds")]
    pub presign_seconds: u32,
    /// Exact-match CORS origins; https only (http for localhost).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_daily_token_budget")]
    pub daily_token_budget: u64,
    #[serde(default = "default_session_rate")]
    pub session_rate_per_minute: u32,
    #[serde(default = "default_ip_rate")]
    pub ip_rate_per_minute: u32,
    #[serde(default)]
    pub log_user_messages: bool,
    /// Whole model call including retries; must end before the function times out.
    #[serde(default = "default_model_timeout_ms")]
    pub model_timeout_ms: u32,
}

impl Default for Eve {
    fn default() -> Self {
        Eve {
            model_id: default_model_id(),
            model_regions: Vec::new(),
            max_tokens: default_max_tokens(),
            temperature: default_temperature(),
            history_turns: default_history_turns(),
            conversation_ttl_days: default_ttl_days(),
            presign_seconds: default_presign_seconds(),
            allowed_origins: Vec::new(),
            daily_token_budget: default_daily_token_budget(),
            session_rate_per_minute: default_session_rate(),
            ip_rate_per_minute: default_ip_rate(),
            log_user_messages: false,
            model_timeout_ms: default_model_timeout_ms(),
        }
    }
}

/// Thresholds of the five alarms; rates are percentages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarms {
    /// Email subscribed to the alarm topic (confirmation needed once).
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "default_duration_ms")]
    pub lambda_duration_ms: f64,
    #[serde(default = "one")]
    pub lambda_error_rate_percent: f64,
    #[serde(default = "five")]
    pub api_4xx_rate_percent: f64,
    #[serde(default = "one")]
    pub api_5xx_rate_percent: f64,
    #[serde(default)]
    pub dynamodb_throttled_requests: f64,
    /// EVE's model calls that failed in a period (each became an offline answer).
    #[serde(default = "five")]
    pub eve_model_errors: f64,
    /// The share of EVE's answers given offline: how a Bedrock outage shows, with status 200.
    #[serde(default = "default_offline_share")]
    pub eve_offline_share_percent: f64,
    /// The share of the day's token budget spent or reserved.
    #[serde(default = "default_budget_used")]
    pub eve_budget_used_percent: f64,
    #[serde(default = "default_period_seconds")]
    pub period_seconds: u32,
}

impl Default for Alarms {
    fn default() -> Self {
        Alarms {
            email: None,
            lambda_duration_ms: default_duration_ms(),
            lambda_error_rate_percent: one(),
            api_4xx_rate_percent: five(),
            api_5xx_rate_percent: one(),
            dynamodb_throttled_requests: 0.0,
            eve_model_errors: five(),
            eve_offline_share_percent: default_offline_share(),
            eve_budget_used_percent: default_budget_used(),
            period_seconds: default_period_seconds(),
        }
    }
}

/// Buckets in the recovery region (`[dr]`): replicas of the site and certificates, and the
/// access logs of both.
pub const RECOVERY_BUCKETS: &[&str] = &["site", "certificates", "logs"];

/// One EVE setting as stored in SSM (and a Kubernetes ConfigMap as `EVE_<NAME>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EveSetting {
    pub name: &'static str,
    pub value: String,
    /// SecureString in SSM, a Secret rather than a ConfigMap in Kubernetes.
    pub secret: bool,
}

/// The tag every resource carries with `<app>-<env>`, which the `[cost]` budget selects.
pub const STACK_TAG: &str = "stack";
/// The tags the stack sets itself, from `app` and `env`; `[tags]` may not redefine them.
pub const OWN_TAGS: [&str; 3] = ["app", "env", STACK_TAG];

impl Stack {
    /// The provider's `default_tags`: the stack's own, and the file's `[tags]`.
    pub fn default_tags(&self) -> BTreeMap<String, String> {
        let own = [self.app.clone(), self.env.clone(), self.prefix()];
        OWN_TAGS
            .iter()
            .map(|key| key.to_string())
            .zip(own)
            .chain(self.tags.clone())
            .collect()
    }

    /// A problem at `key` of this stack's file (its line when the file was read).
    pub fn diagnostic(
        &self,
        key: &str,
        message: impl Into<String>,
    ) -> config_diagnostics::Diagnostic {
        match &self.source {
            Some(source) => source.diagnostic(key, message),
            None => config_diagnostics::Diagnostic::unlocated(
                format!("{}.toml", self.name),
                key,
                message,
            ),
        }
    }

    /// `<app>-<env>`: the prefix of every resource name.
    pub fn prefix(&self) -> String {
        name_prefix(&self.app, &self.env)
    }

    fn bucket_name(&self, role: &str) -> String {
        let prefix = self.buckets.prefix.clone().unwrap_or_else(|| self.prefix());
        format!("{prefix}-{role}")
    }

    pub fn site_bucket_name(&self) -> String {
        self.bucket_name("site")
    }

    pub fn certificates_bucket_name(&self) -> String {
        self.bucket_name("certificates")
    }

    pub fn logs_bucket_name(&self) -> String {
        self.bucket_name("logs")
    }

    /// A bucket's replica in the recovery region, e.g. `<prefix>-site-eu-west-2`.
    pub fn replica_bucket_name(&self, role: &str, region: &str) -> String {
        self.bucket_name(&format!("{role}-{region}"))
    }

    /// Default of the `artifact_bucket` variable (the deploy step creates and fills it).
    pub fn artifact_bucket_name(&self) -> String {
        self.bucket_name("artifacts")
    }

    pub fn table_name(&self) -> String {
        format!("{}-conversations", self.prefix())
    }

    /// ECR repository for the `eve-server` image (`docker.yml` pushes prod's).
    pub fn container_repository_name(&self) -> String {
        format!("{}/{}/eve-server", self.app, self.env)
    }

    pub fn function_name(&self) -> String {
        format!("{}-eve", self.prefix())
    }

    pub fn api_name(&self) -> String {
        format!("{}-api", self.prefix())
    }

    /// API Gateway stage; CloudFront forwards `/api/*` to `/<stage>/api/*`.
    pub fn stage_name(&self) -> &str {
        &self.env
    }

    /// `/<app>/<env>/`, the SSM path EVE reads (`EVE_SSM_PATH`).
    pub fn ssm_path(&self) -> String {
        format!("/{}/{}/", self.app, self.env)
    }

    /// The folder media named in the content (the profile photo) is read from: the content
    /// file's own.
    pub fn media_dir(&self) -> PathBuf {
        self.content_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    }

    /// The Route 53 zone the site's records go in.
    pub fn zone_name(&self) -> &str {
        self.dns.zone_name.as_deref().unwrap_or(&self.domain)
    }

    pub fn www_domain(&self) -> String {
        format!("www.{}", self.domain)
    }

    pub fn site_url(&self) -> String {
        format!("https://{}", self.domain)
    }

    /// The same stack pointed at an emulator endpoint (tests pick a free port).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.aws.endpoint = Some(url.into());
        self
    }

    /// This stack's model as it deploys to an emulator (a rehearsal): the emulator stack's
    /// switches for what the emulator cannot do (`emulator` is `local.toml`) applied on top,
    /// everything else as this stack has it, pointed at `endpoint`.
    pub fn with_emulator_switches(mut self, emulator: &Stack, endpoint: impl Into<String>) -> Self {
        let (ours, theirs) = (&mut self.features, &emulator.features);
        ours.response_headers_policy &= theirs.response_headers_policy;
        ours.certificate_validation &= theirs.certificate_validation;
        ours.tls_only_bucket_policies &= theirs.tls_only_bucket_policies;
        ours.origin_failover &= theirs.origin_failover;
        self.aws.ignore_changes = emulator.aws.ignore_changes.clone();
        self.state.backend = emulator.state.backend;
        self.dns.zone = emulator.dns.zone;
        // The emulator runs the code on this machine's architecture, and is thrown away after.
        self.lambda.architecture = emulator.lambda.architecture;
        self.buckets.force_destroy = true;
        self.table.deletion_protection = false;
        // No Budgets on the emulator (see local.toml): the ceiling stays a `validate` check.
        self.cost = emulator.cost.clone();
        self.with_endpoint(endpoint)
    }

    /// Regions whose foundation models EVE may invoke.
    pub fn model_regions(&self) -> Vec<String> {
        if self.eve.model_regions.is_empty() {
            vec![self.region.clone()]
        } else {
            self.eve.model_regions.clone()
        }
    }

    /// Every EVE setting this stack sets, named by the contract EVE reads them with: one
    /// source for SSM and the Kubernetes ConfigMap.
    pub fn eve_settings(&self) -> Vec<EveSetting> {
        let eve = &self.eve;
        let plain = |name: &'static str, value: String| EveSetting {
            name,
            value,
            secret: false,
        };
        vec![
            plain(contract::MODEL_ID.name, eve.model_id.clone()),
            plain(contract::MAX_TOKENS.name, eve.max_tokens.to_string()),
            plain(contract::TEMPERATURE.name, short_number(eve.temperature)),
            plain(contract::HISTORY_TURNS.name, eve.history_turns.to_string()),
            plain(contract::TABLE_NAME.name, self.table_name()),
            plain(
                contract::CONVERSATION_TTL_DAYS.name,
                eve.conversation_ttl_days.to_string(),
            ),
            plain(
                contract::CERTIFICATES_BUCKET.name,
                self.certificates_bucket_name(),
            ),
            plain(
                contract::PRESIGN_SECONDS.name,
                eve.presign_seconds.to_string(),
            ),
            plain(
                contract::ALLOWED_ORIGINS.name,
                eve.allowed_origins.join(","),
            ),
            plain(
                contract::DAILY_TOKEN_BUDGET.name,
                eve.daily_token_budget.to_string(),
            ),
            plain(
                contract::SESSION_RATE_PER_MINUTE.name,
                eve.session_rate_per_minute.to_string(),
            ),
            plain(
                contract::IP_RATE_PER_MINUTE.name,
                eve.ip_rate_per_minute.to_string(),
            ),
            plain(
                contract::LOG_USER_MESSAGES.name,
                eve.log_user_messages.to_string(),
            ),
            plain(
                contract::MODEL_TIMEOUT_MS.name,
                eve.model_timeout_ms.to_string(),
            ),
        ]
    }
}

fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}
fn five() -> f64 {
    5.0
}

/// `<app>-<env>`, the prefix of a stack's resource names; `<app>/<env>` keys its state.
fn name_prefix(app: &str, env: &str) -> String {
    format!("{app}-{env}")
}

/// The keys that name a stack's resources, read from any stack file without checking the rest:
/// enough to tell that two files would deploy the same resources.
#[derive(Debug, Deserialize)]
pub(super) struct StackNames {
    #[serde(default = "default_app")]
    app: String,
    env: String,
}

impl StackNames {
    pub(super) fn prefix(&self) -> String {
        name_prefix(&self.app, &self.env)
    }
}

fn default_app() -> String {
    "cloudforgex".into()
}
pub(super) fn default_content() -> PathBuf {
    PathBuf::from("../site/content/portfolio.toml")
}
fn default_log_expiry_days() -> u32 {
    90
}
fn default_memory_mb() -> u32 {
    512
}
/// Leaves EVE's 20 s model budget room to answer, and stays below API Gateway's 29 s.
fn default_timeout_s() -> u32 {
    25
}
fn default_model_timeout_ms() -> u32 {
    contract::MODEL_TIMEOUT_MS.default as u32
}
fn default_reserved_concurrency() -> u32 {
    10
}
/// A year: long enough to investigate an incident found late, and cheap at this volume.
fn default_log_retention_days() -> u32 {
    365
}
fn default_rate_limit() -> f64 {
    10.0
}
fn default_burst_limit() -> u32 {
    20
}
fn default_daily_quota() -> u32 {
    10_000
}
fn default_model_id() -> String {
    contract::OFFLINE_MODEL_ID.into()
}
fn default_max_tokens() -> u32 {
    contract::MAX_TOKENS.default as u32
}
fn default_temperature() -> f64 {
    contract::TEMPERATURE.default
}
fn default_history_turns() -> u32 {
    contract::HISTORY_TURNS.default as u32
}
fn default_ttl_days() -> i64 {
    contract::CONVERSATION_TTL_DAYS.default as i64
}
fn default_presign_seconds() -> u32 {
    contract::PRESIGN_SECONDS.default as u32
}
fn default_daily_token_budget() -> u64 {
    contract::DAILY_TOKEN_BUDGET.default
}
fn default_session_rate() -> u32 {
    contract::SESSION_RATE_PER_MINUTE.default as u32
}
fn default_ip_rate() -> u32 {
    contract::IP_RATE_PER_MINUTE.default as u32
}
fn default_offline_share() -> f64 {
    20.0
}
fn default_budget_used() -> f64 {
    80.0
}
fn default_duration_ms() -> f64 {
    3000.0
}
fn default_period_seconds() -> u32 {
    300
}
