//! `infra-synth dev`: the product on this machine with no AWS — the site plus offline EVE.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};
use portfolio::render::{self, BuildOptions};
use portfolio::Content;

use crate::deploy::package::{cargo_target_dir, run_cargo};
use crate::deploy::workflow::step;

/// What eve-server prints first; the rest of the line is its URL.
const LISTENING: &str = "eve-server listening on ";

/// Run the site and EVE locally with embedded defaults and no AWS: renders the site, then
/// starts `eve-server --offline` (offline answers, in-memory conversations) serving the site
/// and the API on one origin. Stops with Ctrl-C.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth dev                                   # http://127.0.0.1:8080
  infra-synth dev --listen 127.0.0.1:0              # any free port; the URL is printed
  infra-synth dev --eve-server target/release/eve-server")]
pub struct Args {
    /// Address to serve on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The portfolio content file.
    #[arg(long, value_name = "FILE", default_value = portfolio::DEFAULT_CONTENT_PATH)]
    pub content: PathBuf,
    /// Where the site is rendered.
    #[arg(long, value_name = "DIR", default_value = "out/dev/site")]
    pub site_dir: PathBuf,
    /// A prebuilt eve-server; by default it is built from this workspace with cargo.
    #[arg(long, value_name = "BIN", env = "CFX_EVE_SERVER")]
    pub eve_server: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let content = Content::load(&args.content).map_err(anyhow::Error::from)?;
    let media_dir = args.content.parent().map(PathBuf::from).unwrap_or_default();
    let opts = BuildOptions::new(&format!("http://{}", args.listen))?.with_media_dir(media_dir);
    step("rendering the site", || {
        render::build(&content, &opts, &args.site_dir)
            .with_context(|| format!("cannot build the site into {}", args.site_dir.display()))
    })?;
    let binary = match args.eve_server {
        Some(binary) => binary,
        None => step("building eve-server", build_eve_server)?,
    };

    let mut server = Command::new(&binary)
        .arg("--offline")
        .arg("--listen")
        .arg(args.listen.to_string())
        .arg("--site-dir")
        .arg(&args.site_dir)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = server.stdout.take().context("eve-server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) if line.starts_with(LISTENING) => {
            let url = &line[LISTENING.len()..];
            println!("CloudForgeX dev: {url}  (site + offline EVE, in-memory store; Ctrl-C stops)");
        }
        other => {
            let _ = server.kill();
            bail!("eve-server did not start: {other:?}");
        }
    }
    for line in lines.map_while(Result::ok) {
        println!("{line}");
    }
    let status = server.wait()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn build_eve_server() -> anyhow::Result<PathBuf> {
    let workspace = Path::new(".");
    run_cargo(
        workspace,
        &["build", "-p", "eve-function", "--bin", "eve-server"],
    )?;
    Ok(cargo_target_dir(workspace).join("debug/eve-server"))
}
