//! Local deploy state under `out/<stack>/`: Terraform's working files, the default plan bundle,
//! and the local copy of the last successful apply's manifest.
//!
//! `apply` refuses a plan whose fingerprint no longer matches the current config, assets and
//! provider lock, because applying it would deploy something nobody reviewed. The applied
//! manifest is replaced atomically and only after Terraform succeeded, so a failed apply leaves
//! it as it was.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::files::write_atomically;

/// What a plan was computed from; any difference makes the saved plan stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub stack: String,
    /// sha256 of the synthesized `main.tf.json`.
    pub config_sha256: String,
    pub lambda_package_sha256: String,
    pub site_sha256: String,
    /// sha256 of `.terraform.lock.hcl` after init: the provider versions and their hashes.
    pub provider_lock_sha256: String,
    /// True for a plan made by `destroy`.
    pub destroy: bool,
}

impl Fingerprint {
    /// Human-readable differences between the planned (`self`) and the current fingerprint.
    pub fn stale_reasons(&self, current: &Fingerprint) -> Vec<String> {
        let mut reasons = Vec::new();
        let mut compare = |what: &str, planned: &str, now: &str| {
            if planned != now {
                reasons.push(format!("{what} changed since the plan ({planned} → {now})"));
            }
        };
        compare("stack", &self.stack, &current.stack);
        compare("configuration", &self.config_sha256, &current.config_sha256);
        compare(
            "Lambda package",
            &self.lambda_package_sha256,
            &current.lambda_package_sha256,
        );
        compare("site", &self.site_sha256, &current.site_sha256);
        compare(
            "provider lock (.terraform.lock.hcl)",
            &self.provider_lock_sha256,
            &current.provider_lock_sha256,
        );
        if self.destroy != current.destroy {
            reasons.push("the plan is a destroy plan".to_owned());
        }
        reasons
    }
}

/// The deploy files of one stack.
#[derive(Debug, Clone)]
pub struct DeployDir {
    root: PathBuf,
}

/// This process's hold on a stack's working directory, released when the last clone is dropped
/// (or the process ends, however it ends).
#[derive(Debug, Clone)]
pub struct DirLock {
    _file: Arc<File>,
}

impl DeployDir {
    pub fn new(out_dir: &Path, stack: &str) -> Self {
        Self {
            root: out_dir.join(stack),
        }
    }

    /// Takes the working directory for this process, or says that another has it. Two commands
    /// in one stack's directory at once (a plan re-initialising Terraform there under an apply,
    /// two plans writing one plan file) would each work on the other's half-written files. The
    /// lock is `<out-dir>/<stack>.lock`, beside the directory, so nothing done inside removes it.
    pub fn lock(&self) -> Result<DirLock> {
        let path = self.root.with_extension("lock");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock {
                _file: Arc::new(file),
            }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another infra-synth is working in {} (it holds {}); run one command per stack \
                 and out-dir at a time",
                self.root.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(error)) => {
                Err(error).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }

    /// Terraform's working directory (where synth writes `main.tf.json`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Packaged assets: `eve-function.zip` and the rendered `site/`.
    pub fn dist(&self) -> PathBuf {
        self.root.join("dist")
    }

    pub fn plan_file(&self) -> PathBuf {
        self.root.join("cfx.tfplan")
    }

    /// Where `plan` saves its bundle unless told otherwise.
    pub fn bundle_file(&self) -> PathBuf {
        self.root.join("plan.cfxplan")
    }

    /// The provider lock `terraform init` writes.
    pub fn provider_lock(&self) -> PathBuf {
        self.root.join(".terraform.lock.hcl")
    }

    pub fn applied_file(&self) -> PathBuf {
        // Not `*.tf.json`: Terraform would load it beside main.tf.json as duplicate config.
        self.root.join("last-applied.json")
    }

    /// Forgets the saved plan once it has been applied (a plan can only be applied once).
    pub fn discard_plan(&self) -> Result<()> {
        for path in [self.plan_file(), self.bundle_file()] {
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// Records `main_tf_json` as what is now deployed.
    pub fn record_applied(&self, main_tf_json: &str) -> Result<()> {
        write_atomically(&self.applied_file(), main_tf_json.as_bytes())
    }

    /// Removes the applied manifest after a destroy: nothing is deployed any more.
    pub fn forget_applied(&self) -> Result<()> {
        let path = self.applied_file();
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }

    /// The last applied `main.tf.json`, if anything was applied from this machine.
    pub fn applied(&self) -> Result<Option<String>> {
        let path = self.applied_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// sha256 of a synthesized configuration.
pub fn config_sha256(main_tf_json: &str) -> String {
    sha256_hex(main_tf_json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> Fingerprint {
        Fingerprint {
            stack: "local".into(),
            config_sha256: "c1".into(),
            lambda_package_sha256: "l1".into(),
            site_sha256: "s1".into(),
            provider_lock_sha256: "p1".into(),
            destroy: false,
        }
    }

    #[test]
    fn a_changed_asset_makes_the_plan_stale() {
        let planned = fingerprint();
        assert!(planned.stale_reasons(&fingerprint()).is_empty());
        let current = Fingerprint {
            lambda_package_sha256: "l2".into(),
            ..fingerprint()
        };
        assert_eq!(
            planned.stale_reasons(&current),
            vec!["Lambda package changed since the plan (l1 → l2)"]
        );
    }
}
