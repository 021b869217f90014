//! `infra-synth dev`: the product on this machine with no AWS — the site plus offline EVE.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use portfolio::render::{self, BuildOptions, DEFAULT_TEMPLATES_DIR};
use portfolio::Content;

use crate::deploy::exit::ended;
use crate::deploy::package::{cargo_target_dir, relative_files, require_workspace, run_cargo};
use crate::deploy::workflow::step;

/// What eve-server prints first; the rest of the line is its URL.
const LISTENING: &str = "eve-server listening on ";
/// How often `--watch` looks at the content file and the templates.
const WATCH_INTERVAL: Duration = Duration::from_millis(300);

/// Run the site and EVE locally with embedded defaults and no AWS: renders the site, then
/// starts `eve-server --offline` (offline answers, in-memory conversations) serving the site
/// and the API on one origin. Stops with Ctrl-C or SIGTERM, and stops eve-server with it.
///
/// With `--watch`, editing the content file or a template re-renders the site, and EVE reloads
/// its knowledge from the content file, without a restart.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth dev                                   # http://127.0.0.1:8080
  infra-synth dev --watch                           # edit site/content/portfolio.toml or site/templates/*
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
    /// Re-render and reload when the content file or a template changes.
    #[arg(long)]
    pub watch: bool,
    /// The templates `--watch` renders from (laid out like site/templates).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_TEMPLATES_DIR)]
    pub templates: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Stamped before the first render: an edit made while dev starts is picked up, not lost.
    let mut seen = args.watch.then(|| watched_stamps(&args));
    // Rendered for the address asked for, so a content file that does not load stops dev before
    // eve-server is built; again below if eve-server serves elsewhere (port 0 picks one).
    let asked = format!("http://{}", args.listen);
    step("rendering the site", || render_site(&args, &asked))?;
    let binary = match &args.eve_server {
        Some(binary) => binary.clone(),
        None => step("building eve-server", build_eve_server)?,
    };

    let mut command = Command::new(&binary);
    command
        .arg("--offline")
        .arg("--listen")
        .arg(args.listen.to_string())
        .arg("--site-dir")
        .arg(&args.site_dir)
        // EVE knows what the site shows: the same content file.
        .env("EVE_CONTENT_PATH", &args.content)
        .stdout(Stdio::piped());
    if args.watch {
        command.arg("--watch-content");
    }
    // eve-server never outlives `dev` holding the port and the terminal's output.
    let mut server = child_tether::spawn(command, child_tether::Signal::TERM)
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = server.stdout.take().context("eve-server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let origin = match lines.next() {
        Some(Ok(line)) if line.starts_with(LISTENING) => line[LISTENING.len()..].to_string(),
        // eve-server's own error (a port in use, a content file that does not load) is on the
        // shared stderr already; this says what became of it.
        None => {
            let status = server.wait().context("eve-server")?;
            bail!("eve-server {} before it was listening", ended(status));
        }
        Some(Ok(line)) => {
            let _ = server.kill();
            bail!("eve-server printed `{line}` where its address was expected");
        }
        Some(Err(error)) => {
            let _ = server.kill();
            return Err(error).context("cannot read eve-server's output");
        }
    };
    // The pages' canonical links, sitemap and Open Graph name the origin they are served from.
    if origin != asked {
        if let Err(error) = render_site(&args, &origin) {
            let _ = server.kill();
            return Err(error);
        }
    }
    let watching = if args.watch {
        "; watching content and templates"
    } else {
        ""
    };
    outln!(
        "CloudForgeX dev: {origin}  (site + offline EVE, in-memory store{watching}; Ctrl-C stops)"
    )?;
    std::thread::spawn(move || {
        // Drained whatever becomes of the lines: a server whose stdout fills stops answering.
        for line in lines.map_while(Result::ok) {
            let _ = outln!("{line}");
        }
    });
    stop_with_signals(&server)?;

    let status = loop {
        if let Some(status) = server.try_wait()? {
            break status;
        }
        std::thread::sleep(WATCH_INTERVAL);
        if let Some(seen) = seen.as_mut() {
            let now = watched_stamps(&args);
            if now != *seen {
                *seen = now;
                match render_site(&args, &origin) {
                    Ok(files) => outln!("re-rendered the site ({files} files)")?,
                    Err(error) => errln!("error: the site was not re-rendered: {error:#}"),
                }
            }
        }
    };
    if !status.success() {
        bail!("eve-server {}", ended(status));
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders the site for `origin` from the content file (and, when watching, the template
/// files); returns the number of files written.
fn render_site(args: &Args, origin: &str) -> anyhow::Result<usize> {
    let content = Content::load(&args.content).map_err(anyhow::Error::from)?;
    let media_dir = args.content.parent().map(PathBuf::from).unwrap_or_default();
    let mut opts = BuildOptions::new(origin)?.with_media_dir(media_dir);
    if args.watch {
        opts = opts.with_templates_dir(&args.templates);
    }
    let report = render::build(&content, &opts, &args.site_dir)
        .with_context(|| format!("cannot build the site into {}", args.site_dir.display()))?;
    Ok(report.files.len())
}

/// Modification time and size of the content file and of every template.
fn watched_stamps(args: &Args) -> Vec<(PathBuf, Option<(SystemTime, u64)>)> {
    let stamp = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    let templates = relative_files(&args.templates).unwrap_or_default();
    std::iter::once(args.content.clone())
        .chain(templates.iter().map(|file| args.templates.join(file)))
        .map(|path| {
            let stamp = stamp(&path);
            (path, stamp)
        })
        .collect()
}

/// Ctrl-C and SIGTERM stop eve-server gracefully (it finishes in-flight requests); `run` then
/// returns with its exit status, so no server outlives `dev`.
fn stop_with_signals(server: &Child) -> anyhow::Result<()> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(server.id())?)
        .context("eve-server has no process id")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut terminate, mut interrupt) = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    })?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        });
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    });
    Ok(())
}

fn build_eve_server() -> anyhow::Result<PathBuf> {
    let workspace = Path::new(".");
    require_workspace(
        workspace,
        "eve-server cannot be built there: run from the repository root, or pass --eve-server",
    )?;
    run_cargo(
        workspace,
        &["build", "-p", "eve-function", "--bin", "eve-server"],
    )?;
    Ok(cargo_target_dir(workspace).join("debug/eve-server"))
}
