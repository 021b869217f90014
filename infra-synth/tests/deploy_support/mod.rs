//! Shared by the deploy and e2e tests: a moto server whose log shows when a test fails, running the
//! `infra-synth` binary, and the SKIP convention for missing tools.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The workspace root (tests run the CLI from there, like a developer would).
pub fn workspace() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Prints the one SKIP line and tells the caller to return.
pub fn skip(test: &str, tool: &str) {
    println!("SKIP: {test} needs {tool}");
}

/// Finds a tool on PATH or at one of `candidates`.
pub fn find_tool(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| candidates.iter().map(PathBuf::from).find(|p| p.is_file()))
}

pub fn terraform_available() -> bool {
    find_tool("terraform", &[]).is_some()
}

/// The provider mirror for offline init, when this machine has one.
pub fn plugin_dir() -> Option<String> {
    std::env::var("CFX_TF_PLUGIN_DIR").ok().or_else(|| {
        Path::new("/opt/tf-plugins")
            .is_dir()
            .then(|| "/opt/tf-plugins".into())
    })
}

/// Whether process `pid` runs: it exists and has not finished (a zombie waits only to be
/// reaped).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        !state.starts_with('Z')
    })
}

/// The processes `parent` started from any of its threads (infra-synth starts them from one
/// of its own, `child-tether`'s).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
        return Vec::new(); // it has exited
    };
    tasks
        .filter_map(Result::ok)
        .map(|task| std::fs::read_to_string(task.path().join("children")).unwrap_or_default())
        .collect::<Vec<String>>()
        .join(" ")
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// A child process killed when the guard drops, even when the test panics.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The moto server `rehearse` starts, for one test. When the test fails, the end of moto's log
/// (its requests, and the traceback of any it failed) is printed with the test's output.
pub struct Moto {
    server: local_moto::Moto,
    _log_dir: tempfile::TempDir,
}

impl Moto {
    /// Terraform and a moto server for `test`, or None after the one SKIP line naming what is
    /// missing.
    pub fn with_terraform(test: &str) -> Option<Moto> {
        if !terraform_available() {
            skip(test, "terraform");
            return None;
        }
        let moto = Moto::start();
        if moto.is_none() {
            skip(test, "moto_server");
        }
        moto
    }

    /// None when moto is not installed.
    pub fn start() -> Option<Moto> {
        let moto_server = local_moto::find_moto()?;
        let log_dir = tempfile::tempdir().expect("tempdir");
        let server = local_moto::Moto::start(
            &moto_server,
            local_moto::Serving::Serial,
            &log_dir.path().join("moto.log"),
        )
        .expect("start moto");
        Some(Moto {
            server,
            _log_dir: log_dir,
        })
    }
}

impl std::ops::Deref for Moto {
    type Target = local_moto::Moto;

    fn deref(&self) -> &local_moto::Moto {
        &self.server
    }
}

/// Runs `infra-synth ARGS` from the workspace root with emulator credentials; stdout and
/// stderr are captured and echoed so a failing test shows what happened.
pub fn infra_synth(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(args)
        .current_dir(workspace())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("CFX_AWS_ENDPOINT")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run infra-synth");
    println!(
        "$ infra-synth {}\n--- exit {:?}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Reads lines from a child's stdout until one starts with `prefix`; returns the rest of it.
pub fn wait_for_line(child: &mut Child, prefix: &str, timeout: Duration) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = prefix.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(&wanted) {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("no `{prefix}` line within {timeout:?}"))
}

/// eve-server for tests that serve with it: `CFX_EVE_SERVER` when set (`.ci/test` points it at
/// the binary its `cargo test --workspace` build made, so no second feature set is compiled),
/// else built from the workspace the way `infra-synth dev` builds it.
pub fn eve_server() -> PathBuf {
    if let Some(binary) = std::env::var_os("CFX_EVE_SERVER") {
        return binary.into();
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "eve-function", "--bin", "eve-server"])
        .current_dir(workspace())
        .status()
        .expect("cargo");
    assert!(status.success(), "eve-server builds");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("debug/eve-server")
}
