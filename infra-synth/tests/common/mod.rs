//! Helpers shared by infra-synth's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use infra_synth::config;
use infra_synth::emit::terraform::Synthesis;
use infra_synth::synth::synthesize;

/// This crate's directory in the checkout the test runs in. Read when it runs, not when it was
/// built (`env!`): a target dir shared between checkouts reuses a test binary built in another
/// one, which would then read that checkout's files, or none.
fn crate_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

pub fn repo_root() -> PathBuf {
    crate_dir()
        .parent()
        .expect("crate sits in the repo")
        .to_path_buf()
}

pub fn repo_stacks() -> PathBuf {
    repo_root().join("stacks")
}

pub fn fixtures() -> PathBuf {
    crate_dir().join("tests/fixtures")
}

/// Loads and synthesizes one stack, failing the test with every diagnostic if invalid.
pub fn synth(stacks_dir: &Path, name: &str) -> Synthesis {
    let stack = config::load(stacks_dir, name).unwrap_or_else(|d| panic!("{name}: {d}"));
    synthesize(&stack).expect("synthesize")
}

/// The path of `program` if it runs, else prints the one SKIP line and returns `None`.
pub fn tool(test: &str, program: &str, version_arg: &str) -> Option<PathBuf> {
    let runs = Command::new(program)
        .arg(version_arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if runs {
        Some(PathBuf::from(program))
    } else {
        println!("SKIP: {test} needs {program}");
        None
    }
}

/// The binary under test.
pub fn infra_synth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_infra-synth"))
}

/// Real `terraform validate` with the offline provider mirror.
pub struct Validator {
    terraform: PathBuf,
    cli_config: tempfile::NamedTempFile,
}

impl Validator {
    const TERRAFORM: &'static str = "/usr/local/bin/terraform";
    const PLUGIN_DIR: &'static str = "/opt/tf-plugins";

    /// Terraform and the plugin mirror, or `None` after one SKIP line naming what is missing.
    pub fn find(test: &str) -> Option<Validator> {
        let terraform = tool(test, Self::TERRAFORM, "version")?;
        if !Path::new(Self::PLUGIN_DIR).is_dir() {
            println!(
                "SKIP: {test} needs the provider mirror at {}",
                Self::PLUGIN_DIR
            );
            return None;
        }
        // An empty CLI config: no user settings leak in, and no "missing .terraformrc" warning.
        let cli_config = tempfile::NamedTempFile::new().expect("cli config");
        Some(Validator {
            terraform,
            cli_config,
        })
    }

    /// `terraform init -backend=false` and `validate -json` in `dir`: valid, no warnings.
    pub fn validate(&self, name: &str, dir: &Path) {
        let run = |args: &[&str]| {
            let output = Command::new(&self.terraform)
                .args(args)
                .current_dir(dir)
                .env("TF_IN_AUTOMATION", "1")
                .env("CHECKPOINT_DISABLE", "1")
                .env("TF_CLI_CONFIG_FILE", self.cli_config.path())
                .output()
                .expect("terraform runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                output.status.success(),
                "{name}: terraform {args:?} failed:\n{text}"
            );
            text
        };
        let plugin_dir = format!("-plugin-dir={}", Self::PLUGIN_DIR);
        run(&[
            "init",
            "-backend=false",
            "-input=false",
            "-no-color",
            &plugin_dir,
        ]);
        let validated = run(&["validate", "-no-color", "-json"]);
        let report: serde_json::Value = serde_json::from_str(&validated)
            .unwrap_or_else(|e| panic!("{name}: validate -json is not JSON ({e}):\n{validated}"));
        assert_eq!(report["valid"], true, "{name}: {validated}");
        assert_eq!(report["error_count"], 0, "{name}: {validated}");
        assert_eq!(report["warning_count"], 0, "{name}: {validated}");
    }
}
