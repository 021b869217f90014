//! What reporting many problems costs: `TomlSource::parse` of a file whose every line is a
//! problem (a key set twice), beside the same file with no problem in it. Each problem is
//! placed by a search over the file's line starts, so the cost grows with the file, not with
//! the file times its problems.
//!
//! Run: `cargo bench -p config-diagnostics --bench problems`.

use config_diagnostics::TomlSource;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// `lines` tables, each setting its key once (`clean`) or twice.
fn file(lines: usize, clean: bool) -> String {
    (0..lines)
        .map(|i| {
            let again = if clean { "" } else { "x = 2\n" };
            format!("[t{i}]\nx = 1\n{again}")
        })
        .collect()
}

fn problems(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    for lines in [1_000, 10_000, 100_000] {
        let clean = file(lines, true);
        let broken = file(lines, false);
        group.bench_with_input(BenchmarkId::new("clean", lines), &clean, |b, text| {
            b.iter(|| TomlSource::parse("clean.toml", text.as_str()).map(drop))
        });
        group.bench_with_input(
            BenchmarkId::new("a key set twice a table", lines),
            &broken,
            |b, text| {
                b.iter(|| {
                    let problems = TomlSource::parse("broken.toml", text.as_str()).map(drop);
                    assert_eq!(problems.err().map(|p| p.len()), Some(lines));
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, problems);
criterion_main!(benches);
