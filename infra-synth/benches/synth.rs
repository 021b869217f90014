//! How long `synth --stack prod` takes, for Terraform and for Kubernetes: in-process, and as
//! the whole spawned process a user or CI runs. Target: under 6 ms wall for the process.
//! `SYNTH_BASELINE=<an older infra-synth binary>` times it side by side in the same run.
//!
//! `cargo bench -p infra-synth --bench synth`

use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};

fn stacks_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../stacks")
}

fn in_process(c: &mut Criterion) {
    let stacks = stacks_dir();
    c.bench_function("synth prod (in-process: load, validate, synthesize)", |b| {
        b.iter(|| {
            let stack = infra_synth::config::load(&stacks, "prod").expect("valid prod stack");
            infra_synth::synth::synthesize(&stack).expect("synthesize")
        })
    });
    let stack = infra_synth::config::load(&stacks, "prod").expect("valid prod stack");
    c.bench_function("kubernetes render prod (in-process)", |b| {
        b.iter(|| infra_synth::emit::kubernetes::render(&stack).expect("render"))
    });
}

fn whole_process(c: &mut Criterion) {
    let stacks = stacks_dir();
    let out = tempfile::tempdir().expect("tempdir");
    let current = PathBuf::from(env!("CARGO_BIN_EXE_infra-synth"));
    let baseline = std::env::var_os("SYNTH_BASELINE").map(PathBuf::from);
    let binaries = std::iter::once(("", current)).chain(baseline.map(|b| (" [baseline]", b)));
    for ((name, target), (label, binary)) in [
        ("synth prod (whole process, writes files)", "terraform"),
        (
            "synth --target kubernetes prod (whole process)",
            "kubernetes",
        ),
    ]
    .into_iter()
    .flat_map(|case| binaries.clone().map(move |bin| (case, bin)))
    {
        c.bench_function(&format!("{name}{label}"), |b| {
            b.iter(|| {
                let status = Command::new(&binary)
                    .args([
                        "synth",
                        "--target",
                        target,
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
}

criterion_group!(benches, in_process, whole_process);
criterion_main!(benches);
