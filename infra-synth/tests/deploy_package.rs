//! `package`: two builds of unchanged sources give identical hashes and bytes; a missing Rust
//! target is named with the command that installs it.

mod deploy_support;

use std::path::Path;

use deploy_support::{infra_synth, skip, stderr, stdout};

/// `(lambda sha256, site sha256)` from `package` output.
fn hashes(out: &str) -> (String, String) {
    let hash_of = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split("sha256 ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {prefix} hash in:\n{out}"))
            .to_owned()
    };
    (hash_of("lambda "), hash_of("site "))
}

/// Sets every file's mtime to now, so only content can keep the hashes equal.
fn touch_all(dir: &Path) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let file = std::fs::File::options()
                .append(true)
                .open(entry.path())
                .expect("open");
            file.set_modified(std::time::SystemTime::now())
                .expect("set mtime");
        }
    }
}

#[test]
fn two_packages_of_unchanged_sources_have_the_same_hashes() {
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().to_str().expect("utf-8");
    let args = ["package", "--stack", "local", "--out", out_dir];
    let first = infra_synth(&args, &[]);
    assert!(first.status.success());
    let zip = out.path().join("local/dist/eve-function.zip");
    let first_zip = std::fs::read(&zip).expect("zip written");
    touch_all(out.path());

    let second = infra_synth(&args, &[]);
    assert!(second.status.success());
    assert_eq!(hashes(&stdout(&first)), hashes(&stdout(&second)));
    assert_eq!(
        first_zip,
        std::fs::read(&zip).expect("zip"),
        "byte-identical zip"
    );
    assert_eq!(
        hashes(&stdout(&first)).0,
        infra_synth::digest::sha256_hex(&first_zip),
        "the printed hash is the zip's"
    );
    // The default (`lambda`) profile is what ships; keep cold starts and uploads small.
    assert!(
        first_zip.len() < MAX_ZIP_BYTES,
        "the Lambda zip is {} bytes, over the 8 MB budget",
        first_zip.len()
    );
}

/// The size budget of the Lambda zip (issue 3).
const MAX_ZIP_BYTES: usize = 8 * 1024 * 1024;

#[test]
fn a_missing_rust_target_is_named_with_its_install_command() {
    // prod runs on arm64; these machines have only the x86_64 target.
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("aarch64-unknown-linux-gnu"))
        .unwrap_or(false);
    let has_cargo_lambda = std::process::Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed || has_cargo_lambda {
        return skip(
            "a_missing_rust_target_is_named_with_its_install_command",
            "a machine without the aarch64 target and without cargo-lambda",
        );
    }
    let out = tempfile::tempdir().expect("tempdir");
    let output = infra_synth(
        &[
            "package",
            "--stack",
            "prod",
            "--out",
            out.path().to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("rustup target add aarch64-unknown-linux-gnu"),
        "{}",
        stderr(&output)
    );
}
