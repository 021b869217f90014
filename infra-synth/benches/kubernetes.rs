//! How long the Kubernetes manifests of the prod stack take to render (9 typed objects → YAML),
//! and the whole `synth --target kubernetes` process as CI runs it.
//!
//! `cargo bench -p infra-synth --bench kubernetes`

use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};

fn stacks_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../stacks")
}

fn render(c: &mut Criterion) {
    let stack = infra_synth::config::load(&stacks_dir(), "prod").expect("valid prod stack");
    c.bench_function("kubernetes render prod (in-process)", |b| {
        b.iter(|| infra_synth::emit::kubernetes::render(&stack).expect("render"))
    });
}

fn whole_process(c: &mut Criterion) {
    let stacks = stacks_dir();
    let out = tempfile::tempdir().expect("tempdir");
    c.bench_function("synth --target kubernetes prod (whole process)", |b| {
        b.iter(|| {
            let status = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
                .args([
                    "synth",
                    "--target",
                    "kubernetes",
                    "--stack",
                    "prod",
                    "--stacks-dir",
                ])
                .arg(&stacks)
                .arg("--out")
                .arg(out.path())
                .stdout(std::process::Stdio::null())
                .status()
                .expect("spawn infra-synth");
            assert!(status.success());
        })
    });
}

criterion_group!(benches, render, whole_process);
criterion_main!(benches);
