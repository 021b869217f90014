//! Wiring for both front doors: settings first, then the adapters they ask for. Anything AWS
//! is only touched when a setting needs it, so offline and local runs start in milliseconds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use portfolio::Content;
use tokio::sync::OnceCell;

use crate::adapters::bedrock::BedrockModel;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::memory::MemoryStore;
use crate::adapters::s3::S3Signer;
use crate::adapters::ssm::SsmSettings;
use crate::core::budget::Holding;
use crate::core::chat::{Dependencies, Eve};
use crate::core::knowledge::Knowledge;
use crate::core::ports::{CertificateSigner, ChatModel, ConversationStore, SettingsSource};
use crate::core::settings::{env_name, SettingsProvider, SETTINGS_TTL};
use eve_contract::settings::{SSM_PATH_VAR, STAGE_VAR};

/// The `EVE_*` variables of this process: the environment half of the settings lookup.
pub fn eve_environment() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("EVE_"))
        .collect()
}

/// Builds EVE from `env`. `offline` keeps every AWS service out (in-memory store, no model);
/// `budget` is how the front door's instances may hold the daily token budget.
pub async fn build(
    env: BTreeMap<String, String>,
    offline: bool,
    budget: Holding,
) -> anyhow::Result<Arc<Eve>> {
    let aws = AwsConfig::default();
    let source: Option<Arc<dyn SettingsSource>> = match env.get(SSM_PATH_VAR).filter(|_| !offline) {
        Some(path) => Some(Arc::new(SsmSettings::new(
            aws_sdk_ssm::Client::new(aws.get().await),
            path,
        ))),
        None => None,
    };
    let stage = env
        .get(STAGE_VAR)
        .cloned()
        .unwrap_or_else(|| "local".into());
    let settings = Arc::new(SettingsProvider::load(env, source, SETTINGS_TTL).await?);
    let current = settings.current();

    let content = match current.content_path.as_deref() {
        Some(path) => Content::load(Path::new(path))
            .map_err(content_problems)
            .with_context(|| {
                format!(
                    "the content file the `content_path` setting names ({} or the parameter \
                     store) does not load",
                    env_name(eve_contract::settings::CONTENT_PATH.name)
                )
            })?,
        None => Content::parse(
            portfolio::DEFAULT_CONTENT_PATH,
            crate::core::knowledge::EMBEDDED_CONTENT,
        )
        .map_err(content_problems)
        .context("the embedded content file is invalid")?,
    };
    let store: Arc<dyn ConversationStore> = match current.table_name.as_deref().filter(|_| !offline)
    {
        Some(table) => Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(aws.get().await),
            table,
        )),
        None => Arc::new(MemoryStore::default()),
    };
    let model: Option<Arc<dyn ChatModel>> = if current.uses_model() && !offline {
        Some(Arc::new(BedrockModel::new(bedrock_client(aws.get().await))))
    } else {
        None
    };
    let signer: Option<Arc<dyn CertificateSigner>> = match current.certificates_bucket {
        Some(_) if !offline => Some(Arc::new(S3Signer::new(s3_client(aws.get().await)))),
        _ => None,
    };
    tracing::info!(
        stage,
        model_id = current.model_id,
        store = if current.table_name.is_some() && !offline {
            "dynamodb"
        } else {
            "memory"
        },
        certificates = signer.is_some(),
        "EVE configured"
    );
    Ok(Arc::new(Eve::new(Dependencies {
        knowledge: Arc::new(Knowledge::new(content)),
        settings,
        store,
        model,
        signer,
        stage,
        budget,
    })))
}

/// The content file's problems as one error, a line each at file, line and key. (Their own
/// display prefixes each with `error:`, which the front doors add once themselves.)
fn content_problems(problems: config_diagnostics::Diagnostics) -> anyhow::Error {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("{}", lines.join("\n  "))
}

/// How often a watched content file is checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Reloads EVE's knowledge whenever the content file at `path` changes (development: edit the
/// file, ask EVE). A file that no longer loads is reported and the last good knowledge kept.
pub fn watch_content(eve: Arc<Eve>, path: PathBuf) {
    let stamp = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    // Stamped now, before the server announces itself: an edit made after that is seen.
    let mut seen = stamp(&path);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            let now = stamp(&path);
            if now == seen {
                continue;
            }
            seen = now;
            match Content::load(&path) {
                Ok(content) => {
                    eve.replace_knowledge(Knowledge::new(content));
                    tracing::info!(path = %path.display(), "content reloaded");
                }
                Err(diagnostics) => tracing::warn!(
                    path = %path.display(),
                    error = %diagnostics,
                    "content not reloaded; EVE keeps what it knew"
                ),
            }
        }
    });
}

/// The shared SDK configuration, loaded on first use. It honours `AWS_ENDPOINT_URL` (local
/// and moto runs) and keeps every storage call short so a request ends well inside 29 s.
/// Those timeouts and the request's deadline bound every call, so the SDK's stalled-stream
/// check (20 s without a byte) is off: it watched each body with a timer of its own, a fifth
/// of the server's CPU in `bench burst`.
#[derive(Default)]
struct AwsConfig(OnceCell<SdkConfig>);

impl AwsConfig {
    async fn get(&self) -> &SdkConfig {
        self.0
            .get_or_init(|| async {
                aws_config::defaults(BehaviorVersion::latest())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(2))
                            .operation_attempt_timeout(Duration::from_secs(3))
                            .operation_timeout(Duration::from_secs(6))
                            .build(),
                    )
                    .retry_config(RetryConfig::standard().with_max_attempts(3))
                    .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                    .load()
                    .await
            })
            .await
    }
}

/// Bedrock gets longer attempts than storage, and no operation timeout of its own: the core's
/// `model_timeout_ms` bounds the whole call. (A builder made from the shared configuration
/// keeps every timeout not set here, so the storage clients' 6 s would otherwise apply.)
fn bedrock_client(sdk: &SdkConfig) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(20))
                .disable_operation_timeout()
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

/// Path-style addressing when an endpoint override (moto, LocalStack) is in use.
fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// JSON logs on stderr (stdout carries the EMF metrics and the server's first line). A log
/// line that cannot be written is dropped: tracing-subscriber would report it with
/// `eprintln!`, which panics when stderr's reader has gone (a log shipper that died).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}
