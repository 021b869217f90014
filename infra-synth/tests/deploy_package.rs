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
    let args = ["package", "--stack", "local", "--out-dir", out_dir];
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
            "--out-dir",
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

/// A copy of the workspace (what git tracks or would) under `dir`.
fn checkout(dir: &Path) {
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(deploy_support::workspace())
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files");
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let file = String::from_utf8_lossy(file).into_owned();
        let from = deploy_support::workspace().join(&file);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = dir.join(&file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&from, &to).expect("copy");
    }
}

/// What both machines build with: a profile of its own, defined here, that is `release` at
/// opt-level 0. Like the shipped `lambda` profile it keeps panic locations (cargo's home, the
/// target dir) and the C `__FILE__`s of `ring` and `aws-lc` and has no debug info, and a cold
/// build of it takes minutes, not the quarter hour of `lambda`'s fat LTO. Its own name keeps
/// its artifacts apart from `release`'s in the shared target dir, which benchmarks build.
const FAST_PROFILE: &str = "package-check";
const FAST_PROFILE_ENV: [(&str, &str); 5] = [
    ("CARGO_PROFILE_PACKAGE_CHECK_INHERITS", "release"),
    ("CARGO_PROFILE_PACKAGE_CHECK_OPT_LEVEL", "0"),
    ("CARGO_PROFILE_PACKAGE_CHECK_CODEGEN_UNITS", "16"),
    ("CARGO_PROFILE_PACKAGE_CHECK_LTO", "false"),
    ("CARGO_NET_OFFLINE", "true"),
];

/// Two machines, as far as paths go: this workspace with its own target dir (kept between CI
/// runs, so warm there) and a checkout at another depth with its own target dir and cargo's home
/// spelled differently (a symlinked registry). The Lambda zips must be the same bytes.
#[test]
fn two_checkouts_on_two_paths_build_the_same_zip() {
    if deploy_support::find_tool("git", &[]).is_none() {
        return skip("two_checkouts_on_two_paths_build_the_same_zip", "git");
    }
    let root = tempfile::tempdir().expect("tempdir");
    let here = root.path().join("here");
    let args = [
        "package",
        "--stack",
        "local",
        "--cargo-profile",
        FAST_PROFILE,
        "--out-dir",
    ];
    let built_here = infra_synth(
        &[&args[..], &[here.to_str().expect("utf-8")]].concat(),
        &FAST_PROFILE_ENV,
    );
    assert!(built_here.status.success(), "{}", stderr(&built_here));
    let zip_here = std::fs::read(here.join("local/dist/eve-function.zip")).expect("zip");

    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("HOME")).join(".cargo"));
    let other_home = root.path().join("elsewhere/cargo-home");
    std::fs::create_dir_all(&other_home).expect("mkdir");
    std::os::unix::fs::symlink(cargo_home.join("registry"), other_home.join("registry"))
        .expect("symlink the registry");
    let elsewhere = root.path().join("b/deeper/checkout");
    checkout(&elsewhere);
    let built_elsewhere = std::process::Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(args)
        .arg(elsewhere.join("out"))
        .arg("--workspace")
        .arg(&elsewhere)
        .arg("--stacks-dir")
        .arg(elsewhere.join("stacks"))
        .current_dir(&elsewhere)
        .env("CARGO_HOME", &other_home)
        .env("CARGO_TARGET_DIR", elsewhere.join("target"))
        .envs(FAST_PROFILE_ENV)
        .output()
        .expect("run package");
    assert!(
        built_elsewhere.status.success(),
        "package in {}: {}",
        elsewhere.display(),
        stderr(&built_elsewhere)
    );
    let zip_elsewhere =
        std::fs::read(elsewhere.join("out/local/dist/eve-function.zip")).expect("zip");
    assert_eq!(
        infra_synth::digest::sha256_hex(&zip_here),
        infra_synth::digest::sha256_hex(&zip_elsewhere),
        "the same sources build the same zip wherever they are checked out"
    );
}
