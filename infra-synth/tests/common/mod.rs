//! Helpers shared by infra-synth's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use infra_synth::config;
use infra_synth::emit::terraform::Synthesis;
use infra_synth::synth::synthesize;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate sits in the repo")
        .to_path_buf()
}

pub fn repo_stacks() -> PathBuf {
    repo_root().join("stacks")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
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
