//! Deployable assets with content-only hashes: the Lambda zip and the rendered site.
//!
//! A hash that changes when nothing changed makes every plan dirty, so the zip has sorted
//! entries, a fixed timestamp and fixed modes, and the site digest covers paths and bytes only.
//! The binary itself is built with every machine-specific path mapped to a fixed name, so two
//! checkouts on two machines build the same bytes: a plan bundle made on one applies on another.

use std::io::{Cursor, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use child_tether::Signal;
use sha2::{Digest, Sha256};

use crate::console::pass_on_output;
use crate::constructs::CodeAsset;
use crate::digest::sha256_hex;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// One file to put in a zip.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Unix mode bits, e.g. `0o755` for the Lambda `bootstrap` executable.
    pub mode: u32,
}

/// A zip whose bytes depend only on the entries' names, contents and modes.
pub fn deterministic_zip(mut entries: Vec<ZipEntry>) -> Result<Vec<u8>> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for entry in &entries {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::DEFAULT)
            .unix_permissions(entry.mode);
        writer
            .start_file(entry.name.as_str(), options)
            .with_context(|| format!("cannot add {} to the zip", entry.name))?;
        writer.write_all(&entry.bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// A digest of a directory tree from relative paths and file contents only (not times or modes),
/// so re-rendering identical content gives the identical digest.
pub fn tree_digest(root: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for file in relative_files(root)? {
        let bytes = std::fs::read(root.join(&file))
            .with_context(|| format!("cannot read {}", root.join(&file).display()))?;
        hasher.update(file.as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(&bytes));
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every regular file under `root` as a `/`-separated relative path, sorted.
pub fn relative_files(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot walk {}", root.display()))?;
        if entry.file_type().is_file() {
            let relative = entry
                .path()
                .strip_prefix(root)
                .context("walked outside the root")?;
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    files.sort();
    Ok(files)
}

/// The packaged Lambda function.
#[derive(Debug, Clone)]
pub struct LambdaPackage {
    pub zip_path: PathBuf,
    pub sha256: String,
    /// How it was built, e.g. the glibc caveat of a native build.
    pub note: String,
}

/// Builds a function's code asset (its package's Lambda `bootstrap` binary) and zips it
/// deterministically into `out_dir/<package>.zip`. Uses `cargo lambda` (zig cross-linking,
/// portable glibc baseline) when it is installed, else the native toolchain for the
/// architecture's Rust target.
pub fn build_lambda(
    workspace: &Path,
    asset: &CodeAsset,
    cargo_profile: &str,
    out_dir: &Path,
) -> Result<LambdaPackage> {
    require_workspace(
        workspace,
        &format!(
            "`{}` cannot be built there: run from the repository root, or pass --workspace",
            asset.package
        ),
    )?;
    let arch = asset.architecture;
    let target = arch.rust_target();
    let target_dir = cargo_target_dir(workspace);
    let profile_dir = if cargo_profile == "dev" {
        "debug"
    } else {
        cargo_profile
    };
    let environment = reproducible_env(workspace, &target_dir)?;
    let build = |args: &[&str]| run_cargo_with(workspace, args, &environment);
    let (binary, note) = if has_cargo_lambda() {
        build(&[
            "lambda",
            "build",
            "--profile",
            cargo_profile,
            arch.cargo_lambda_flag(),
            "-p",
            asset.package,
            "--bin",
            asset.binary,
        ])?;
        (
            target_dir
                .join("lambda")
                .join(asset.binary)
                .join("bootstrap"),
            "built with cargo-lambda (zig linker; runs on provided.al2023)".to_owned(),
        )
    } else {
        ensure_rust_target(target)?;
        let mut cargo_args = vec![
            "build",
            "--profile",
            cargo_profile,
            "-p",
            asset.package,
            "--bin",
            asset.binary,
        ];
        // For the host's own target, build without --target so the workspace's existing
        // build cache is reused; the binary is the same.
        let native = host_target().as_deref() == Some(target);
        if !native {
            cargo_args.extend(["--target", target]);
        }
        build(&cargo_args)?;
        let binary_dir = if native {
            target_dir.join(profile_dir)
        } else {
            target_dir.join(target).join(profile_dir)
        };
        (
            binary_dir.join(asset.binary),
            format!(
                "built with the native toolchain for {target}: the binary needs this host's glibc \
                 ({}) or older at runtime; provided.al2023 ships glibc 2.34 — install cargo-lambda \
                 (`pip install cargo-lambda ziglang`) for a portable build",
                host_glibc().unwrap_or_else(|| "unknown".into())
            ),
        )
    };
    let bytes =
        std::fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let zip = deterministic_zip(vec![ZipEntry {
        name: "bootstrap".into(),
        bytes,
        mode: 0o755,
    }])?;
    let zip_path = out_dir.join(format!("{}.zip", asset.package));
    crate::files::write_atomically(&zip_path, &zip)?;
    Ok(LambdaPackage {
        zip_path,
        sha256: sha256_hex(&zip),
        note,
    })
}

/// Where cargo puts builds for `workspace` (honours `CARGO_TARGET_DIR`).
pub fn cargo_target_dir(workspace: &Path) -> PathBuf {
    target_dir_in(workspace, std::env::var_os("CARGO_TARGET_DIR"))
}

/// cargo runs inside `workspace`, so it reads a relative `CARGO_TARGET_DIR` from there, not
/// from where infra-synth was started.
fn target_dir_in(workspace: &Path, configured: Option<std::ffi::OsString>) -> PathBuf {
    workspace.join(configured.map_or_else(|| PathBuf::from("target"), PathBuf::from))
}

fn has_cargo_lambda() -> bool {
    Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Fails with the exact `rustup target add` line when the target's standard library is absent.
fn ensure_rust_target(target: &str) -> Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .context("cannot run rustc")?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let installed = output.status.success()
        && std::fs::read_dir(&libdir).is_ok_and(|mut entries| entries.next().is_some());
    if !installed {
        bail!(
            "the Rust target `{target}` is not installed; run `rustup target add {target}`, \
             or install cargo-lambda (`pip install cargo-lambda ziglang`) to cross-compile"
        );
    }
    Ok(())
}

/// The machine-specific directories of a build (cargo's home, the toolchain, the checkout, the
/// target dir) and the fixed name each is written as in the binary, so panic locations, C
/// `__FILE__`s and debug info name `/cargo`, `/rustc-sysroot`, `/workspace` and `/target` on
/// every machine. Both spellings of a directory reached through a symlink are mapped; the more
/// specific maps come last, because the compilers apply the last one that matches.
fn path_maps(workspace: &Path, target_dir: &Path) -> Result<Vec<(PathBuf, &'static str)>> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let absolute = |path: &Path| {
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
    };
    let mut maps = Vec::new();
    for (from, to) in [
        (cargo_home, "/cargo"),
        (sysroot, "/rustc-sysroot"),
        (Some(absolute(workspace)?), "/workspace"),
        (Some(absolute(target_dir)?), "/target"),
    ] {
        let Some(from) = from else { continue };
        if let Ok(real) = from.canonicalize() {
            if real != from {
                maps.push((real, to));
            }
        }
        maps.push((from, to));
    }
    Ok(maps)
}

/// The environment that makes the build path-independent: the flags already set for rustc
/// (`CARGO_ENCODED_RUSTFLAGS`, else `RUSTFLAGS`) and for C (`CFLAGS`, `CXXFLAGS`, which the `cc`
/// crate reads for `ring` and `aws-lc`) plus one prefix map per [`path_maps`] entry.
fn reproducible_env(workspace: &Path, target_dir: &Path) -> Result<Vec<(&'static str, String)>> {
    const SEPARATOR: &str = "\x1f";
    let maps = path_maps(workspace, target_dir)?;
    let mut rust: Vec<String> = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(encoded) => encoded
            .split(SEPARATOR)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => std::env::var("RUSTFLAGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    rust.extend(
        maps.iter()
            .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display())),
    );
    let c_maps: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
        .collect();
    let c_flags = |name: &str| {
        let mut flags = std::env::var(name).unwrap_or_default();
        for map in &c_maps {
            flags.push(' ');
            flags.push_str(map);
        }
        flags.trim().to_owned()
    };
    Ok(vec![
        ("CARGO_ENCODED_RUSTFLAGS", rust.join(SEPARATOR)),
        ("CFLAGS", c_flags("CFLAGS")),
        ("CXXFLAGS", c_flags("CXXFLAGS")),
    ])
}

/// Fails unless `workspace` is a Cargo workspace, with why it matters (`consequence`): cargo's
/// own "could not find Cargo.toml" says nothing of the flag that would fix it.
pub fn require_workspace(workspace: &Path, consequence: &str) -> Result<()> {
    if workspace.join("Cargo.toml").is_file() {
        return Ok(());
    }
    let shown = std::path::absolute(workspace).unwrap_or_else(|_| workspace.to_path_buf());
    bail!("{} holds no Cargo.toml, so {consequence}", shown.display())
}

/// Runs cargo in `workspace` with its output copied to our stderr (our stdout stays a summary).
pub fn run_cargo(workspace: &Path, args: &[&str]) -> Result<()> {
    run_cargo_with(workspace, args, &[])
}

/// [`run_cargo`] with extra environment variables.
fn run_cargo_with(workspace: &Path, args: &[&str], envs: &[(&str, String)]) -> Result<()> {
    let mut command = Command::new("cargo");
    command
        .args(args)
        .current_dir(workspace)
        .envs(envs.iter().map(|(k, v)| (*k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its output reaches a terminal through us: keep the colours it would have shown there.
    if std::io::stderr().is_terminal() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        command.env("CARGO_TERM_COLOR", "always");
    }
    // A build left running after infra-synth died would hold cargo's lock on the target dir.
    let status = child_tether::spawn(command, Signal::TERM)
        .and_then(|mut cargo| {
            pass_on_output(&mut cargo, |_| {});
            cargo.wait()
        })
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo {}` {}", args.join(" "), super::exit::ended(status));
    }
    Ok(())
}

/// The host's Rust target triple (`host:` of `rustc -vV`).
fn host_target() -> Option<String> {
    let output = Command::new("rustc").arg("-vV").output().ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
}

fn host_glibc() -> Option<String> {
    let output = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::testing::{fake_tool, rerun_with_stderr_unread, RERUN_DIR};

    /// With `--workspace ../repo` and `CARGO_TARGET_DIR=build`, cargo built into
    /// `../repo/build` and infra-synth looked for the binary in `./build`.
    #[test]
    fn a_relative_target_dir_is_the_workspaces() {
        let workspace = Path::new("../repo");
        assert_eq!(
            target_dir_in(workspace, Some("build".into())),
            Path::new("../repo/build")
        );
        assert_eq!(
            target_dir_in(workspace, Some("/cache/target".into())),
            Path::new("/cache/target")
        );
        assert_eq!(target_dir_in(workspace, None), Path::new("../repo/target"));
    }

    /// cargo's output reaches our stderr through us: given our stderr itself, it failed the
    /// build (exit 101) once that stream's reader had gone (`infra-synth plan 2>&1 | head`).
    #[test]
    fn cargo_outlives_a_reader_that_went_away() {
        if let Some(dir) = std::env::var_os(RERUN_DIR) {
            run_cargo(Path::new(&dir), &["build"]).expect("built");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        fake_tool(dir.path(), "cargo");
        let mut path = std::ffi::OsString::from(dir.path());
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let status = rerun_with_stderr_unread(
            "deploy::package::tests::cargo_outlives_a_reader_that_went_away",
            dir.path(),
            &[("PATH", path)],
        );
        assert!(status.success(), "{status:?}");
        assert!(
            dir.path().join("done").exists(),
            "cargo was killed before it finished"
        );
    }

    #[test]
    fn zip_bytes_ignore_entry_order() {
        let a = ZipEntry {
            name: "a.txt".into(),
            bytes: b"alpha".to_vec(),
            mode: 0o644,
        };
        let b = ZipEntry {
            name: "bootstrap".into(),
            bytes: b"\x7fELF".to_vec(),
            mode: 0o755,
        };
        let first = deterministic_zip(vec![a.clone(), b.clone()]).expect("zip");
        let second = deterministic_zip(vec![b, a]).expect("zip");
        assert_eq!(sha256_hex(&first), sha256_hex(&second));
    }

    #[test]
    fn zip_bytes_follow_content_and_mode() {
        let entry = |bytes: &[u8], mode| ZipEntry {
            name: "bootstrap".into(),
            bytes: bytes.to_vec(),
            mode,
        };
        let base = deterministic_zip(vec![entry(b"one", 0o755)]).expect("zip");
        assert_ne!(
            base,
            deterministic_zip(vec![entry(b"two", 0o755)]).expect("zip")
        );
        assert_ne!(
            base,
            deterministic_zip(vec![entry(b"one", 0o644)]).expect("zip")
        );
    }

    #[test]
    fn missing_rust_target_names_the_rustup_command() {
        // Only x86_64 is installed on these machines; a target nobody installs proves the message.
        let err = ensure_rust_target("riscv64gc-unknown-linux-gnu").expect_err("not installed");
        assert!(
            err.to_string()
                .contains("rustup target add riscv64gc-unknown-linux-gnu"),
            "{err}"
        );
        ensure_rust_target("x86_64-unknown-linux-gnu").expect("host target is installed");
    }
}
