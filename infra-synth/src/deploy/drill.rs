//! The restore test the design's recovery table asks for (`infra-synth dr drill`): restore the
//! conversations table to a point in time into a scratch table and compare sessions, check the
//! buckets' replication and, where the backend reports replication status, that a probe
//! object reaches the replica. Everything it creates is deleted again, also on failure.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, Select, SseSpecification, SseType};
use eve_contract::store;
use serde::Serialize;

use aws_sdk_s3::error::ProvideErrorMetadata;

use super::aws::{sdk_error, AwsTarget};
use super::workflow::step;
use crate::config::{resilience::Dr, Stack};

/// How the drill runs.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// Sessions whose conversation items are counted in both tables.
    pub sample: usize,
    /// How long a restore may take before the drill gives up (real restores take minutes).
    pub restore_timeout: Duration,
    /// How long to wait for a probe object in the replica (the RTC bound is 15 minutes).
    pub replication_wait: Duration,
}

#[derive(Debug, Serialize)]
pub struct DrillReport {
    pub stack: String,
    pub region: String,
    pub recovery_region: String,
    pub restore: Restore,
    pub sessions: Vec<SessionCount>,
    pub replication: Vec<Replication>,
    /// What the drill deleted again.
    pub cleaned_up: Vec<String>,
    pub passed: bool,
}

#[derive(Debug, Serialize)]
pub struct Restore {
    pub source_table: String,
    pub scratch_table: String,
    /// The point restored to (ms since the epoch), as the table reported it.
    pub restored_to_ms: u64,
    pub restore_seconds: f64,
}

/// Turns of one session written before the restore point, in the table and in its restore.
#[derive(Debug, Serialize)]
pub struct SessionCount {
    pub session: String,
    pub source: u64,
    pub restored: u64,
}

impl SessionCount {
    pub fn matches(&self) -> bool {
        self.source == self.restored
    }
}

#[derive(Debug, Serialize)]
pub struct Replication {
    pub bucket: String,
    pub replica: String,
    pub configured: bool,
    pub delete_markers: bool,
    pub time_control: bool,
    pub probe: Probe,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Probe {
    Replicated {
        seconds: f64,
    },
    /// The backend never reported a replication status for the probe (an emulator).
    NotObservable {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

impl Probe {
    fn ok(&self) -> bool {
        !matches!(self, Probe::Failed { .. })
    }
}

/// Runs the drill against the deployed stack.
pub async fn run(stack: &Stack, target: &AwsTarget, options: &DrillOptions) -> Result<DrillReport> {
    let Some(dr) = &stack.dr else {
        bail!(
            "stack `{}` has no [dr] section, so there is no recovery region to drill",
            stack.name
        );
    };
    let config = target.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let mut cleaned_up = Vec::new();
    let table = stack.table_name();
    let scratch = format!("{table}-drill-{}", now_ms());
    let restored = restore(&dynamodb, stack, &table, &scratch, options).await;
    // Whatever happened, a scratch table that exists is deleted.
    if dynamodb
        .delete_table()
        .table_name(&scratch)
        .send()
        .await
        .is_ok()
    {
        cleaned_up.push(format!("table {scratch}"));
    }
    let (restore, sessions) = restored?;
    let replication = check_replication(stack, dr, target, options, &mut cleaned_up).await?;
    // Delete-marker replication is reported, not required: without it a replica keeps what
    // was deleted, which loses nothing.
    let passed = sessions.iter().any(|s| s.source > 0)
        && sessions.iter().all(SessionCount::matches)
        && replication.iter().all(|r| r.configured && r.probe.ok());
    Ok(DrillReport {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        recovery_region: dr.region.clone(),
        restore,
        sessions,
        replication,
        cleaned_up,
        passed,
    })
}

async fn restore(
    dynamodb: &aws_sdk_dynamodb::Client,
    stack: &Stack,
    table: &str,
    scratch: &str,
    options: &DrillOptions,
) -> Result<(Restore, Vec<SessionCount>)> {
    let backups = dynamodb
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            if e.code() == Some("TableNotFoundException") {
                anyhow::anyhow!(
                    "table {table} does not exist; has stack `{}` been applied, with these \
                     credentials, account and region?",
                    stack.name
                )
            } else {
                sdk_error(e).context(format!("reading the backups of table {table}"))
            }
        })?;
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description());
    let enabled = pitr
        .and_then(|p| p.point_in_time_recovery_status())
        .is_some_and(|s| s.as_str() == "ENABLED");
    if !enabled {
        bail!(
            "table {table} has no point-in-time recovery; the stack turns it on, so apply it first"
        );
    }
    let started = Instant::now();
    let requested_ms = now_ms();
    dynamodb
        .restore_table_to_point_in_time()
        .source_table_name(table)
        .target_table_name(scratch)
        .use_latest_restorable_time(true)
        .billing_mode_override(BillingMode::PayPerRequest)
        .sse_specification_override(
            SseSpecification::builder()
                .enabled(true)
                .sse_type(SseType::Kms)
                .kms_master_key_id(format!("alias/{}", stack.prefix()))
                .build(),
        )
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("restoring {table} into {scratch}"))?;
    let restored_at = wait_until_active(dynamodb, scratch, options.restore_timeout).await?;
    // Every turn written before the point the restore reflects must be in it. The latest
    // restorable time trails writes by minutes on AWS; without a reported point, the request
    // time bounds what the restore can hold.
    let restored_to_ms = restored_at
        .or_else(|| pitr.and_then(|p| p.latest_restorable_date_time()).copied())
        .and_then(|t| u64::try_from(t.to_millis().ok()?).ok())
        .unwrap_or(requested_ms);
    let restore = Restore {
        source_table: table.to_string(),
        scratch_table: scratch.to_string(),
        restored_to_ms,
        restore_seconds: started.elapsed().as_secs_f64(),
    };
    let mut sessions = Vec::new();
    for session in sample_sessions(dynamodb, table, options.sample).await? {
        let source = count_items(dynamodb, table, &session, restored_to_ms).await?;
        let restored = count_items(dynamodb, scratch, &session, restored_to_ms).await?;
        sessions.push(SessionCount {
            session,
            source,
            restored,
        });
    }
    Ok((restore, sessions))
}

/// Waits for the restored table; returns the point in time it was restored to.
async fn wait_until_active(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    timeout: Duration,
) -> Result<Option<aws_sdk_dynamodb::primitives::DateTime>> {
    let started = Instant::now();
    loop {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(sdk_error)?;
        let status = described
            .table()
            .and_then(|t| t.table_status().map(|s| s.as_str().to_string()));
        if status.as_deref() == Some("ACTIVE") {
            return Ok(described
                .table()
                .and_then(|t| t.restore_summary())
                .map(|r| *r.restore_date_time()));
        }
        if started.elapsed() > timeout {
            bail!(
                "the restore of {table} was not active after {} s (status {})",
                timeout.as_secs(),
                status.unwrap_or_else(|| "unknown".into())
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Up to `sample` session ids, in the order a scan meets them.
async fn sample_sessions(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    sample: usize,
) -> Result<Vec<String>> {
    let mut sessions = BTreeSet::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .projection_expression("#pk")
            .expression_attribute_names("#pk", store::PARTITION_KEY)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("sampling sessions of {table}"))?;
        for item in page.items() {
            if let Some(AttributeValue::S(pk)) = item.get(store::PARTITION_KEY) {
                if store::is_session(pk) && sessions.len() < sample {
                    sessions.insert(pk.clone());
                }
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() || sessions.len() >= sample {
            return Ok(sessions.into_iter().collect());
        }
    }
}

/// Items of `session` in `table` (exchanges, or single turns from before them) written
/// before `before_ms`.
async fn count_items(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    session: &str,
    before_ms: u64,
) -> Result<u64> {
    let mut count = 0;
    let mut start = None;
    loop {
        let page = dynamodb
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :session AND #sk < :before")
            .expression_attribute_names("#pk", store::PARTITION_KEY)
            .expression_attribute_names("#sk", store::SORT_KEY)
            .expression_attribute_values(":session", AttributeValue::S(session.to_string()))
            .expression_attribute_values(
                ":before",
                AttributeValue::S(store::turns_before(before_ms)),
            )
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("counting the items of a session in {table}"))?;
        count += u64::try_from(page.count()).unwrap_or(0);
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(count);
        }
    }
}

async fn check_replication(
    stack: &Stack,
    dr: &Dr,
    target: &AwsTarget,
    options: &DrillOptions,
    cleaned_up: &mut Vec<String>,
) -> Result<Vec<Replication>> {
    let primary = target.s3().await;
    let recovery = AwsTarget {
        region: dr.region.clone(),
        endpoint_url: target.endpoint_url.clone(),
    }
    .s3()
    .await;
    // Named in a probe's reason, so a report read later says which backend could not be followed.
    let backend = match &target.endpoint_url {
        Some(url) => format!("the endpoint {url}"),
        None => format!("S3 in {}", target.region),
    };
    let mut checks = Vec::new();
    for (bucket, replica) in [
        (
            stack.site_bucket_name(),
            stack.replica_bucket_name("site", &dr.region),
        ),
        (
            stack.certificates_bucket_name(),
            stack.replica_bucket_name("certificates", &dr.region),
        ),
    ] {
        // No configuration at all is a finding of the drill, not an error running it.
        let configuration = match primary
            .get_bucket_replication()
            .bucket(&bucket)
            .send()
            .await
        {
            Ok(output) => output.replication_configuration().cloned(),
            Err(error) if error.code() == Some("ReplicationConfigurationNotFoundError") => None,
            Err(error) => {
                return Err(sdk_error(error))
                    .with_context(|| format!("reading the replication of bucket {bucket}"))
            }
        };
        let rule = configuration.as_ref().and_then(|c| {
            c.rules().iter().find(|rule| {
                rule.status().as_str() == "Enabled"
                    && rule
                        .destination()
                        .is_some_and(|d| d.bucket() == format!("arn:aws:s3:::{replica}"))
            })
        });
        let probe = match rule {
            Some(_) => {
                probe(
                    &primary, &recovery, &bucket, &replica, &backend, options, cleaned_up,
                )
                .await
            }
            None => Probe::Failed {
                reason: format!("no enabled rule replicates to {replica}"),
            },
        };
        checks.push(Replication {
            configured: rule.is_some(),
            delete_markers: rule
                .and_then(|r| r.delete_marker_replication())
                .and_then(|d| d.status())
                .is_some_and(|s| s.as_str() == "Enabled"),
            time_control: rule
                .and_then(|r| r.destination())
                .and_then(|d| d.replication_time())
                .is_some_and(|t| t.status().as_str() == "Enabled"),
            bucket,
            replica,
            probe,
        });
    }
    Ok(checks)
}

/// Writes a probe object and waits for it in the replica, when `backend` reports the object's
/// replication status; deletes every version of it on both sides.
async fn probe(
    primary: &aws_sdk_s3::Client,
    recovery: &aws_sdk_s3::Client,
    bucket: &str,
    replica: &str,
    backend: &str,
    options: &DrillOptions,
    cleaned_up: &mut Vec<String>,
) -> Probe {
    let key = format!("dr-drill/{}-{}.txt", now_ms(), std::process::id());
    let started = Instant::now();
    let put = primary
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(b"infra-synth dr drill probe".to_vec().into())
        .send()
        .await;
    if let Err(error) = put {
        return Probe::Failed {
            reason: format!("writing the probe: {}", sdk_error(error)),
        };
    }
    let status = primary
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .ok()
        .and_then(|head| head.replication_status().map(|s| s.as_str().to_string()));
    let probe = match status {
        None => Probe::NotObservable {
            reason: format!("{backend} reports no replication status for new objects"),
        },
        Some(_) => loop {
            let arrived = recovery
                .head_object()
                .bucket(replica)
                .key(&key)
                .send()
                .await
                .is_ok();
            if arrived {
                break Probe::Replicated {
                    seconds: started.elapsed().as_secs_f64(),
                };
            }
            if started.elapsed() > options.replication_wait {
                break Probe::Failed {
                    reason: format!(
                        "the probe was not in {replica} after {} s",
                        options.replication_wait.as_secs()
                    ),
                };
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        },
    };
    for (client, name) in [(primary, bucket), (recovery, replica)] {
        if delete_all_versions(client, name, &key).await > 0 {
            cleaned_up.push(format!("s3://{name}/{key}"));
        }
    }
    probe
}

/// Deletes every version and delete marker of `key`; returns how many it deleted.
async fn delete_all_versions(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> usize {
    let Ok(listing) = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
    else {
        return 0;
    };
    let versions = listing
        .versions()
        .iter()
        .filter_map(|v| Some((v.key()?, v.version_id())))
        .chain(
            listing
                .delete_markers()
                .iter()
                .filter_map(|m| Some((m.key()?, m.version_id()))),
        )
        .filter(|(found, _)| *found == key);
    let mut deleted = 0;
    for (found, version) in versions {
        let request = client
            .delete_object()
            .bucket(bucket)
            .key(found)
            .set_version_id(version.map(str::to_string));
        if request.send().await.is_ok() {
            deleted += 1;
        }
    }
    deleted
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`run`] under a spinner on stderr (a real restore takes minutes).
pub fn run_with_progress(
    stack: &Stack,
    target: &AwsTarget,
    options: &DrillOptions,
) -> Result<DrillReport> {
    step(
        &format!(
            "running the recovery drill of stack `{}` (restore, compare, replication)",
            stack.name
        ),
        || super::aws::block_on(run(stack, target, options))?,
    )
}

impl fmt::Display for DrillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "DR drill of stack `{}` ({} -> {})",
            self.stack, self.region, self.recovery_region
        )?;
        let r = &self.restore;
        let point = aws_sdk_dynamodb::primitives::DateTime::from_millis(
            i64::try_from(r.restored_to_ms).unwrap_or(i64::MAX),
        )
        .fmt(aws_sdk_dynamodb::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{} ms", r.restored_to_ms));
        writeln!(
            f,
            "  restore   {} -> {} in {:.1} s (to {point})",
            r.source_table, r.scratch_table, r.restore_seconds
        )?;
        if !self.sessions.iter().any(|s| s.source > 0) {
            writeln!(
                f,
                "  sessions  no conversation items before the restore point to compare (chat once first)"
            )?;
        }
        for s in &self.sessions {
            writeln!(
                f,
                "  session   {}  {} items, {} restored  {}",
                s.session,
                s.source,
                s.restored,
                if s.matches() { "ok" } else { "MISSING ITEMS" }
            )?;
        }
        for r in &self.replication {
            let probe = match &r.probe {
                Probe::Replicated { seconds } => format!("probe replicated in {seconds:.1} s"),
                Probe::NotObservable { reason } => format!("probe not observable: {reason}"),
                Probe::Failed { reason } => format!("probe FAILED: {reason}"),
            };
            writeln!(
                f,
                "  replicate {} -> {}  {}, delete markers {}, time control {}; {probe}",
                r.bucket,
                r.replica,
                if r.configured {
                    "configured"
                } else {
                    "NOT CONFIGURED"
                },
                on_off(r.delete_markers),
                on_off(r.time_control),
            )?;
        }
        for item in &self.cleaned_up {
            writeln!(f, "  deleted   {item}")?;
        }
        write!(f, "{}", if self.passed { "PASSED" } else { "FAILED" })
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}
