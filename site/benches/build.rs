//! How long `infra-synth site build` spends rendering: the whole site from parsed content to
//! files on disk, and content loading on its own.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use portfolio::render::{build, BuildOptions};
use portfolio::Content;

fn site_build(c: &mut Criterion) {
    let path =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("content/portfolio.toml");
    let content = Content::load(&path).expect("shipped content is valid");
    let opts = BuildOptions::new("https://alex.example.com").expect("valid base URL");
    let out = tempfile::tempdir().expect("tempdir");
    c.bench_function("content_load", |b| {
        b.iter(|| Content::load(&path).expect("valid"))
    });
    c.bench_function("site_build", |b| {
        b.iter(|| build(&content, &opts, out.path()).expect("builds"))
    });
}

criterion_group!(benches, site_build);
criterion_main!(benches);
