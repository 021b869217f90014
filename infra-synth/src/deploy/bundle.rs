//! A plan bundle: one file holding a saved Terraform plan, the fingerprint of everything it was
//! planned from and the summary a reviewer read, so that another machine applies exactly it.
//!
//! The bundle is a zip of `terraform.tfplan`, `fingerprint.json`, `summary.txt` and, once the
//! plan was proven on the emulator, `rehearsal.json`. Entries are written in a fixed order with a
//! fixed timestamp, so equal plans give equal bundles.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use serde::{Deserialize, Serialize};

use super::state::Fingerprint;
use crate::files::write_atomically;

const PLAN_ENTRY: &str = "terraform.tfplan";
const FINGERPRINT_ENTRY: &str = "fingerprint.json";
const SUMMARY_ENTRY: &str = "summary.txt";
const REHEARSAL_ENTRY: &str = "rehearsal.json";
/// Past any plan of a stack this size by far; a bundle file, or an entry that unpacks, to more
/// is not one `plan` wrote (a zip bomb unpacks to gigabytes from a few kilobytes), and is
/// refused before it fills memory.
const MOST_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

/// One check of a rehearsal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RehearsalStep {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    pub seconds: u64,
}

/// A rehearsal of one plan: the plan's fingerprint and every step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RehearsalRecord {
    /// The fingerprint of the plan rehearsed; `apply` trusts the record only when it matches.
    pub fingerprint: Fingerprint,
    pub steps: Vec<RehearsalStep>,
}

impl RehearsalRecord {
    pub fn passed(&self) -> bool {
        all_passed(&self.steps)
    }
}

/// A rehearsal passed when it ran and no step failed.
pub fn all_passed(steps: &[RehearsalStep]) -> bool {
    !steps.is_empty() && steps.iter().all(|step| step.passed)
}

/// A saved plan and what it was planned from.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanBundle {
    pub fingerprint: Fingerprint,
    /// The per-resource summary and cost change, as `plan` printed them.
    pub summary: String,
    /// Terraform's binary plan file.
    pub tfplan: Vec<u8>,
    /// The rehearsal that proved this plan on the emulator, once one passed or failed.
    pub rehearsal: Option<RehearsalRecord>,
}

impl PlanBundle {
    /// Writes the bundle through a temporary file, so a reader never sees half of one.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::DEFAULT)
            .unix_permissions(0o644);
        let mut entries = vec![
            (
                FINGERPRINT_ENTRY,
                serde_json::to_vec_pretty(&self.fingerprint)?,
            ),
            (SUMMARY_ENTRY, self.summary.as_bytes().to_vec()),
            (PLAN_ENTRY, self.tfplan.clone()),
        ];
        if let Some(rehearsal) = &self.rehearsal {
            entries.push((REHEARSAL_ENTRY, serde_json::to_vec_pretty(rehearsal)?));
        }
        for (name, bytes) in entries {
            writer.start_file(name, options)?;
            writer.write_all(&bytes)?;
        }
        let bytes = writer.finish()?.into_inner();
        write_atomically(path, &bytes)
    }

    /// Reads a bundle, naming the file and the entry when it is not one.
    pub fn read(path: &Path) -> Result<PlanBundle> {
        Self::read_at_most(path, MOST_ENTRY_BYTES)
    }

    /// [`Self::read`], refusing an entry that unpacks to more than `most_entry_bytes`.
    fn read_at_most(path: &Path, most_entry_bytes: u64) -> Result<PlanBundle> {
        // Read whole: a FIFO would block the read and a device never end it.
        let bytes = config_diagnostics::check_readable(path, MOST_ENTRY_BYTES)
            .and_then(|()| std::fs::read(path))
            .with_context(|| {
                format!(
                    "cannot read the plan bundle {}; run `infra-synth plan` to make one",
                    path.display()
                )
            })?;
        let not_a_bundle = || {
            format!(
                "{} is not a plan bundle written by `infra-synth plan`",
                path.display()
            )
        };
        let mut archive = ZipArchive::new(Cursor::new(bytes)).with_context(not_a_bundle)?;
        let mut entry = |name: &str| -> Result<Option<Vec<u8>>> {
            let file = match archive.by_name(name) {
                Ok(file) => file,
                Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                Err(error) => return Err(error).with_context(not_a_bundle),
            };
            let mut bytes = Vec::new();
            file.take(most_entry_bytes + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("{}: cannot read `{name}`", path.display()))?;
            if bytes.len() as u64 > most_entry_bytes {
                bail!(
                    "{}: `{name}` unpacks to more than {} MiB",
                    not_a_bundle(),
                    most_entry_bytes / (1024 * 1024)
                );
            }
            Ok(Some(bytes))
        };
        let required = |bytes: Option<Vec<u8>>, name: &str| {
            bytes.with_context(|| format!("{}: the bundle has no `{name}`", not_a_bundle()))
        };
        let fingerprint = required(entry(FINGERPRINT_ENTRY)?, FINGERPRINT_ENTRY)?;
        let summary = required(entry(SUMMARY_ENTRY)?, SUMMARY_ENTRY)?;
        let tfplan = required(entry(PLAN_ENTRY)?, PLAN_ENTRY)?;
        let rehearsal = entry(REHEARSAL_ENTRY)?;
        let bundle = PlanBundle {
            fingerprint: entry_json(path, &fingerprint, FINGERPRINT_ENTRY)?,
            summary: String::from_utf8(summary)
                .with_context(|| format!("{}: `{SUMMARY_ENTRY}` is not UTF-8", path.display()))?,
            tfplan,
            rehearsal: rehearsal
                .map(|bytes| entry_json(path, &bytes, REHEARSAL_ENTRY))
                .transpose()?,
        };
        if bundle.tfplan.is_empty() {
            bail!("{}: the saved Terraform plan is empty", not_a_bundle());
        }
        Ok(bundle)
    }
}

/// A JSON entry of the bundle at `path`. Where it goes wrong is said in our words: serde's own
/// text names the Rust type it wanted.
fn entry_json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8], name: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|error| {
        anyhow::anyhow!(
            "{}: `{name}` is corrupt at line {}, column {}: it is not what `infra-synth plan` \
             writes",
            path.display(),
            error.line(),
            error.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> PlanBundle {
        PlanBundle {
            fingerprint: Fingerprint {
                stack: "local".into(),
                config_sha256: "c".into(),
                lambda_package_sha256: "l".into(),
                site_sha256: "s".into(),
                provider_lock_sha256: "p".into(),
                destroy: false,
            },
            summary: "+ aws_s3_bucket.site\n".into(),
            tfplan: b"PK plan".to_vec(),
            rehearsal: None,
        }
    }

    #[test]
    fn a_bundle_round_trips_and_equal_plans_give_equal_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.cfxplan"), dir.path().join("b.cfxplan"));
        bundle().write(&a).expect("write");
        bundle().write(&b).expect("write");
        assert_eq!(std::fs::read(&a).ok(), std::fs::read(&b).ok());
        assert_eq!(PlanBundle::read(&a).expect("read"), bundle());
    }

    #[test]
    fn an_entry_that_unpacks_past_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bomb.cfxplan");
        bundle().write(&path).expect("write");
        let error = format!(
            "{:#}",
            PlanBundle::read_at_most(&path, 4).expect_err("refused")
        );
        assert!(
            error.contains("bomb.cfxplan is not a plan bundle")
                && error.contains("unpacks to more than"),
            "{error}"
        );
        assert!(PlanBundle::read_at_most(&path, 1024).is_ok());
    }

    #[test]
    fn a_path_that_is_not_a_regular_file_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("plan.cfxplan");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // On a thread: reading a FIFO nobody writes to would never return.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(
                PlanBundle::read(&fifo)
                    .map(|_| ())
                    .map_err(|e| format!("{e:#}")),
            );
        });
        let read = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the read returns at once");
        let error = read.expect_err("refused");
        assert!(error.contains("not a regular file"), "{error}");
    }

    /// What is wrong is said at its line and column in our words: serde's own text names the
    /// Rust type it wanted (`expected struct Fingerprint`).
    #[test]
    fn a_corrupt_entry_is_named_with_where_it_goes_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.cfxplan");
        let mut writer = ZipWriter::new(std::fs::File::create(&path).expect("create"));
        for (name, body) in [
            (FINGERPRINT_ENTRY, "null"),
            (SUMMARY_ENTRY, "+ aws_s3_bucket.site"),
            (PLAN_ENTRY, "PK plan"),
        ] {
            writer
                .start_file(name, SimpleFileOptions::default())
                .expect("entry");
            std::io::Write::write_all(&mut writer, body.as_bytes()).expect("write");
        }
        writer.finish().expect("finish");
        let error = format!("{:#}", PlanBundle::read(&path).expect_err("refused"));
        assert_eq!(
            error,
            format!(
                "{}: `fingerprint.json` is corrupt at line 1, column 4: it is not what \
                 `infra-synth plan` writes",
                path.display()
            )
        );
    }

    #[test]
    fn a_file_that_is_not_a_bundle_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.cfxplan");
        std::fs::write(&path, "not a zip").expect("write");
        let error = format!("{:#}", PlanBundle::read(&path).expect_err("refused"));
        assert!(
            error.contains("plan.cfxplan is not a plan bundle"),
            "{error}"
        );
        let missing = format!(
            "{:#}",
            PlanBundle::read(&dir.path().join("none")).expect_err("refused")
        );
        assert!(missing.contains("run `infra-synth plan`"), "{missing}");
    }
}
