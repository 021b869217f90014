//! `infra-synth dev --watch`: starts, serves the site and the API on one origin, answers a chat,
//! picks up an edited content file and an edited template without a restart, and stops on
//! SIGTERM together with the eve-server it started.

mod deploy_support;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deploy_support::{eve_server, wait_for_line, workspace, ChildGuard};
use serde_json::{json, Value};

/// Copies `from` into `to`, file by file.
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("inside"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Polls `check` until it holds or 20 s pass.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn page(url: &str) -> String {
    ureq::get(url)
        .call()
        .map(|r| r.into_string().unwrap_or_default())
        .unwrap_or_default()
}

/// `infra-synth dev --watch` on a free port, rendering `content` into `site_dir`.
fn start_dev(content: &Path, site_dir: &Path, extra: &[&std::ffi::OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(["dev", "--watch", "--listen", "127.0.0.1:0"])
        .arg("--content")
        .arg(content)
        .arg("--site-dir")
        .arg(site_dir)
        .args(extra)
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dev")
}

fn chat(url: &str, message: &str) -> Value {
    ureq::post(&format!("{url}/api/chat"))
        .send_json(json!({ "message": message }))
        .expect("chat answers")
        .into_json()
        .expect("json")
}

#[test]
fn dev_serves_watches_and_stops_on_sigterm() {
    let work = tempfile::tempdir().expect("tempdir");
    let content_dir = work.path().join("content");
    copy_tree(&workspace().join("site/content"), &content_dir);
    let templates = work.path().join("templates");
    copy_tree(&workspace().join("site/templates"), &templates);
    let content = content_dir.join("portfolio.toml");
    let site_dir = work.path().join("site");

    // `.ci/test` names the eve-server its build made (CFX_EVE_SERVER); elsewhere dev builds it.
    let mut dev = start_dev(
        &content,
        &site_dir,
        &["--templates".as_ref(), templates.as_os_str()],
    );
    let banner = wait_for_line(&mut dev, "CloudForgeX dev: ", Duration::from_secs(600));
    let url = banner
        .split_whitespace()
        .next()
        .expect("url first")
        .to_owned();
    let pid = dev.id();
    let dev = ChildGuard(dev);

    // The site and the API, from one origin; the pages' canonical links name that origin, the
    // port picked, not the 0 asked for.
    let home = page(&url);
    assert!(home.contains("<html"), "the site is served");
    let canonical = format!("rel=\"canonical\" href=\"{url}/\"");
    assert!(home.contains(&canonical), "no `{canonical}` in:\n{home}");
    let first = chat(&url, "What projects has Alex built?");
    assert!(
        first["reply"].as_str().is_some_and(|r| !r.is_empty()),
        "{first}"
    );

    // A project added to the content file: the page shows it and EVE knows it.
    let original = std::fs::read_to_string(&content).expect("content");
    let project = "\n[[projects]]\nid = \"quokka-ledger\"\nname = \"Quokka Ledger\"\nsummary = \"A quokkaledger double-entry bookkeeping engine.\"\nstack = [\"Rust\"]\n";
    std::fs::write(&content, format!("{original}{project}")).expect("edit content");
    eventually("the page showing the new project", || {
        page(&url).contains("Quokka Ledger")
    });
    let sitemap = page(&format!("{url}/sitemap.xml"));
    assert!(
        sitemap.contains(&format!("<loc>{url}/")),
        "re-rendered for another origin:\n{sitemap}"
    );
    eventually("EVE knowing the new project", || {
        chat(&url, "Tell me about quokkaledger")["reply"]
            .as_str()
            .is_some_and(|r| r.contains("Quokka Ledger"))
    });

    // An edited template, rendered without a restart.
    let index = templates.join("index.hbs");
    let template = std::fs::read_to_string(&index).expect("index.hbs");
    std::fs::write(&index, format!("{template}<!-- dev-watch-marker -->\n")).expect("edit");
    eventually("the edited template", || {
        page(&url).contains("dev-watch-marker")
    });

    // SIGTERM stops dev, and eve-server with it.
    let address = url.trim_start_matches("http://").to_owned();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut dev = dev;
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = dev.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "dev did not stop within 15 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "dev exits cleanly on SIGTERM: {exit}");
    eventually("eve-server stopping", || {
        TcpStream::connect(&address).is_err()
    });
}

/// Two regressions: an edit made while dev was still starting (after the first render, before
/// eve-server listened) was never rendered; and a dev killed outright left eve-server running,
/// holding the port and its parent's output open (a CI step waited on it until its timeout).
#[test]
fn an_edit_during_startup_is_rendered_and_a_killed_dev_takes_eve_server_along() {
    let work = tempfile::tempdir().expect("tempdir");
    let content_dir = work.path().join("content");
    copy_tree(&workspace().join("site/content"), &content_dir);
    let content = content_dir.join("portfolio.toml");
    let site_dir = work.path().join("site");
    // eve-server behind a two-second start, so the edit below lands while dev is starting.
    let slow_start = work.path().join("slow-eve-server");
    std::fs::write(
        &slow_start,
        format!(
            "#!/bin/sh\nsleep 2\nexec '{}' \"$@\"\n",
            eve_server().display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &slow_start,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");

    let mut dev = start_dev(
        &content,
        &site_dir,
        &["--eve-server".as_ref(), slow_start.as_os_str()],
    );
    let pid = dev.id();
    let index = site_dir.join("index.html");
    eventually("the first render", || index.is_file());
    let original = std::fs::read_to_string(&content).expect("content");
    std::fs::write(&content, original.replace("Alex", "Alexandra")).expect("edit content");

    let banner = wait_for_line(&mut dev, "CloudForgeX dev: ", Duration::from_secs(60));
    let url = banner.split_whitespace().next().expect("url").to_owned();
    let dev = ChildGuard(dev);
    eventually(
        "the page rendered from the edit made during startup",
        || page(&url).contains("Alexandra"),
    );

    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    drop(dev);
    let address = url.trim_start_matches("http://").to_owned();
    eventually("eve-server stopping with the killed dev", || {
        TcpStream::connect(&address).is_err()
    });
}

#[test]
fn an_eve_server_that_cannot_listen_is_reported_with_its_own_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let address = taken.local_addr().expect("address").to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(["dev", "--listen", &address, "--site-dir"])
        .arg(work.path().join("site"))
        .arg("--eve-server")
        .arg(eve_server())
        .current_dir(workspace())
        .stdin(Stdio::null())
        .output()
        .expect("run dev");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: eve-server failed (exit code 1) before it was listening"),
        "{stderr}"
    );
}

/// eve-server gone while dev serves (killed, crashed): dev exits 1 and says how it ended, where
/// it used to exit 1 without a word.
#[test]
fn an_eve_server_that_dies_while_serving_is_reported_with_how_it_ended() {
    let work = tempfile::tempdir().expect("tempdir");
    let log = work.path().join("stderr.log");
    let dev = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(["dev", "--listen", "127.0.0.1:0", "--site-dir"])
        .arg(work.path().join("site"))
        .arg("--eve-server")
        .arg(eve_server())
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start dev");
    let mut dev = ChildGuard(dev);
    wait_for_line(&mut dev.0, "CloudForgeX dev: ", Duration::from_secs(60));
    let server = deploy_support::children_of(dev.0.id());
    assert_eq!(server.len(), 1, "dev runs one eve-server: {server:?}");
    let killed = Command::new("kill")
        .args(["-KILL", &server[0].to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut status = None;
    eventually("dev exiting after its eve-server", || {
        status = dev.0.try_wait().expect("wait");
        status.is_some()
    });
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: eve-server was killed by signal 9 (SIGKILL)"),
        "{stderr}"
    );
}
