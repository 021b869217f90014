//! A moto server on a loopback port it picks itself: the emulator `infra-synth rehearse` deploys
//! to, and the one the deploy tests, EVE's tests and EVE's benchmark use. One launcher, so every
//! caller finds moto the same way and serves it the same way.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Environment variable naming the `moto_server` script (its interpreter sits beside it).
pub const MOTO_ENV: &str = "CFX_MOTO_SERVER";
/// Where `.ci/install` puts moto.
const CI_MOTO: &str = ".cache/cloudforgex/venv/bin/moto_server";

/// Serves moto's application on a port it binds itself and prints, so no other process's
/// server can be mistaken for this one.
const MOTO_SERVE: &str = include_str!("moto_serve.py");

/// How moto answers requests that arrive together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// One at a time. Threaded, some of moto's backends rebuild lists without a lock (two
    /// concurrent Route 53 record deletions can lose one, which Terraform's parallel applies
    /// trigger), and concurrent UpdateItems on one item can lose an `ADD`, which DynamoDB's
    /// atomic updates never do.
    Serial,
    /// On threads, as moto's own `moto_server` does.
    Threaded,
}

impl Serving {
    fn argument(self) -> &'static str {
        match self {
            Serving::Serial => "serial",
            Serving::Threaded => "threaded",
        }
    }
}

/// How long moto may take to import its backends and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; stopped when dropped, or when its owner is killed outright.
pub struct Moto {
    pub endpoint: String,
    /// moto's stderr: one line per request, and the traceback of any request it failed.
    pub log: PathBuf,
    child: Child,
}

/// Lines of moto's log shown when a thread panics with moto running.
const LOG_TAIL_LINES: usize = 80;

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed test (or a bug) usually shows as an error moto answered; its traceback is
        // in the log.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            println!(
                "--- the last {} lines of moto's log {}\n{}",
                tail.len(),
                self.log.display(),
                tail.join("\n")
            );
        }
    }
}

/// The `moto_server` script: `CFX_MOTO_SERVER`, else on PATH, else where `.ci/install` puts it.
pub fn find_moto() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(MOTO_ENV) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(CI_MOTO))
            .filter(|p| p.is_file())
    })
}

impl Moto {
    /// Starts moto from `moto_server`'s installation and waits until it listens; its stderr
    /// (one line per request, and the traceback of any request it failed) goes to `log`.
    pub fn start(moto_server: &Path, serving: Serving, log: &Path) -> Result<Moto> {
        let bin = moto_server
            .parent()
            .context("moto_server has no directory")?;
        let python = ["python", "python3"]
            .iter()
            .map(|name| bin.join(name))
            .find(|p| p.is_file())
            .with_context(|| format!("no python beside {}", moto_server.display()))?;
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create moto's log {}", log.display()))?;
        let mut command = Command::new(python);
        command
            .args(["-c", MOTO_SERVE, serving.argument()])
            // The stacks attach AWS managed policies (X-Ray, API Gateway logging).
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        // A moto whose owner was killed outright would serve on, holding its port and memory.
        let mut child = child_tether::spawn(command, child_tether::Signal::TERM)
            .context("cannot start moto")?;
        let stdout = child.stdout.take().context("moto's stdout")?;
        let address = first_line(stdout, START_TIMEOUT).and_then(|line| {
            match line.strip_prefix("moto listening on ") {
                Some(endpoint) => Ok(endpoint.to_string()),
                None => Err(format!("it printed {line:?} instead of its address")),
            }
        });
        match address {
            Ok(endpoint) => Ok(Moto {
                endpoint,
                log: log.to_path_buf(),
                child,
            }),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("moto did not start: {why}; see {}", log.display())
            }
        }
    }
}

/// The first line `stdout` prints within `timeout`, without its line break: where a server
/// that binds its own port (moto, eve-server) says it listens. The rest is drained, so the
/// child never blocks on a full pipe.
pub fn first_line(stdout: ChildStdout, timeout: Duration) -> Result<String, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        lines.for_each(drop);
    });
    match receiver.recv_timeout(timeout) {
        Ok(Some(Ok(line))) => Ok(line),
        Ok(Some(Err(error))) => Err(format!("cannot read its output: {error}")),
        Ok(None) => Err("it exited".into()),
        Err(_) => Err(format!("it printed nothing within {} s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// An installation whose Python fails at once, as one without moto's server extras does.
    fn broken_installation(dir: &Path) -> PathBuf {
        let python = dir.join("python");
        std::fs::write(
            &python,
            "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'werkzeug'\" >&2\nexit 1\n",
        )
        .expect("write python");
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let moto_server = dir.join("moto_server");
        std::fs::write(&moto_server, "").expect("write moto_server");
        moto_server
    }

    #[test]
    fn a_moto_that_cannot_start_is_reported_with_its_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("moto.log");
        let Err(error) = Moto::start(&broken_installation(dir.path()), Serving::Serial, &log)
        else {
            panic!("a Python that exits started moto");
        };
        let message = format!("{error:#}");
        assert!(
            message.contains("moto did not start: it exited"),
            "{message}"
        );
        assert!(message.contains(&log.display().to_string()), "{message}");
        let logged = std::fs::read_to_string(&log).expect("log");
        assert!(logged.contains("No module named 'werkzeug'"), "{logged}");
    }

    /// Two servers started together, one of each serving, are two servers, each answering
    /// and logging its own requests only.
    #[test]
    fn each_moto_serves_and_logs_on_its_own_port() {
        let Some(moto_server) = find_moto() else {
            println!("SKIP: each_moto_serves_and_logs_on_its_own_port needs moto_server");
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let start = |name: &str, serving| {
            let moto_server = moto_server.clone();
            let log = dir.path().join(name);
            std::thread::spawn(move || {
                Moto::start(&moto_server, serving, &log).expect("start moto")
            })
        };
        let (serial, threaded) = (
            start("serial.log", Serving::Serial),
            start("threaded.log", Serving::Threaded),
        );
        let servers = [
            serial.join().expect("serial"),
            threaded.join().expect("threaded"),
        ];
        assert_ne!(servers[0].endpoint, servers[1].endpoint);
        let logged = |moto: &Moto| std::fs::read_to_string(&moto.log).expect("log");
        for (asked, path) in [
            (&servers[0], "/moto-api/?serial"),
            (&servers[1], "/moto-api/?threaded"),
        ] {
            let address = asked.endpoint.trim_start_matches("http://");
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            std::io::Write::write_all(&mut stream, request.as_bytes()).expect("send");
            let mut reply = String::new();
            std::io::Read::read_to_string(&mut stream, &mut reply).expect("reply");
            let status = reply.lines().next().unwrap_or_default();
            assert!(status.ends_with(" 200 OK"), "{path}: {status}");
            for moto in &servers {
                let log = logged(moto);
                assert_eq!(
                    log.contains(path),
                    std::ptr::eq(moto, asked),
                    "{path} in {}: {log}",
                    moto.log.display()
                );
            }
        }
    }
}
