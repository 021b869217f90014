//! A moto server on a free loopback port: the emulator `rehearse` deploys to, and the one the
//! deploy tests use.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Environment variable naming the `moto_server` script (its interpreter sits beside it).
pub const MOTO_ENV: &str = "CFX_MOTO_SERVER";
/// Where `.ci/install` puts moto.
const CI_MOTO: &str = ".cache/cloudforgex/venv/bin/moto_server";

/// moto's own `moto_server` always serves on threads, and some of its backends rebuild lists
/// without a lock (two concurrent Route 53 record deletions can lose one), which Terraform's
/// parallel applies trigger. The same application is served on one thread instead.
const SERIAL_MOTO: &str = "import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)";

/// A running moto server; stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    /// Starts moto from `moto_server` and waits until it listens.
    pub fn start(moto_server: &std::path::Path) -> Result<Moto> {
        let bin = moto_server
            .parent()
            .context("moto_server has no directory")?;
        let python = ["python", "python3"]
            .iter()
            .map(|name| bin.join(name))
            .find(|p| p.is_file())
            .with_context(|| format!("no python beside {}", moto_server.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(python)
            .args(["-c", SERIAL_MOTO, "127.0.0.1", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            // The stacks attach AWS managed policies (X-Ray, API Gateway logging).
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start moto")?;
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("moto did not listen on 127.0.0.1:{port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}
