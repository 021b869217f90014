//! `eve-server`: EVE's API (and optionally the built site) over plain HTTP, for containers and
//! local runs. Prints `eve-server listening on http://ADDR` as its first line of stdout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use config_diagnostics::Printable;
use eve_function::core::budget::{Holding, LEASE_IDLE};
use eve_function::core::chat::Eve;
use eve_function::http::site::Site;
use eve_function::http::{listen, router, serve, RouterOptions};
use eve_function::startup;

const EXAMPLES: &str = "\
Examples:
  eve-server --offline                                    # in-memory store, offline answers
  eve-server --listen 127.0.0.1:0 --site-dir site/dist    # any free port, serve the site too
  EVE_MODEL_ID=anthropic.claude-3-haiku-20240307-v1:0 EVE_TABLE_NAME=eve-dev eve-server
  EVE_SSM_PATH=/cloudforgex/dev/ eve-server --listen 0.0.0.0:8080
  eve-server --healthcheck --listen 127.0.0.1:8080        # exit 0 when /api/health answers 200

Settings come from EVE_<NAME> variables and/or SSM under EVE_SSM_PATH (docs/eve-settings.md).
Set AWS_ENDPOINT_URL to use a local AWS emulator such as moto.";

#[derive(Debug, Parser)]
#[command(name = "eve-server", version, about, after_help = EXAMPLES)]
struct Args {
    /// Address to listen on, an IP address or host name with a port; port 0 picks a free port
    /// (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = listen_address)]
    listen: SocketAddr,
    /// Serve the built site from this directory at `/`, on the same origin as the API.
    #[arg(long, value_name = "DIR")]
    site_dir: Option<PathBuf>,
    /// No AWS at all: in-memory conversations and offline answers.
    #[arg(long)]
    offline: bool,
    /// Reload EVE's knowledge when the content file (`EVE_CONTENT_PATH`) changes, without a
    /// restart (`infra-synth dev --watch`).
    #[arg(long)]
    watch_content: bool,
    /// Seconds a client may take to send a request's headers, and a keep-alive connection may
    /// stay idle; then the connection is closed.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = Seconds(serve::HEADER_READ_TIMEOUT),
        value_parser = seconds_limit
    )]
    header_read_timeout: Seconds,
    /// Seconds a client may take to send a request's body once its headers are in; then it
    /// gets a 408 and the connection is closed.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = Seconds(serve::BODY_READ_TIMEOUT),
        value_parser = seconds_limit
    )]
    body_read_timeout: Seconds,
    /// Seconds a response may wait on a client that reads none of it; then the connection is
    /// closed. A client that reads, however slowly, is served.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = Seconds(serve::SEND_TIMEOUT),
        value_parser = seconds_limit
    )]
    send_timeout: Seconds,
    /// Open connections at most; more clients wait in the accept queue.
    #[arg(
        long,
        value_name = "N",
        default_value_t = serve::MAX_CONNECTIONS,
        value_parser = config_diagnostics::whole_number(1_usize, 1_000_000)
    )]
    max_connections: usize,
    /// Take a client's address from `X-Forwarded-For` when it connects through this proxy (an
    /// ingress controller): an IP network (`10.0.0.0/8`) or one address; repeatable. Without
    /// it, every visitor behind a proxy counts as the proxy under the per-IP limit.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = eve_contract::routes::proxy_range)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Probe `GET /api/health` on the `--listen` address and exit 0 on 200, else 1: the
    /// container HEALTHCHECK, since the runtime image has no curl.
    #[arg(long)]
    healthcheck: bool,
}

/// The longest `--header-read-timeout`, `--body-read-timeout` or `--send-timeout`: past an
/// hour, a silent client is holding a connection.
const MAX_CLIENT_TIMEOUT: Duration = Duration::from_secs(3600);

/// A duration given in seconds on the command line.
#[derive(Debug, Clone, Copy)]
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

fn seconds_limit(value: &str) -> Result<Seconds, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .filter(|timeout| !timeout.is_zero() && *timeout <= MAX_CLIENT_TIMEOUT)
        .map(Seconds)
        .ok_or_else(|| {
            format!(
                "expected seconds above 0 and at most {}",
                MAX_CLIENT_TIMEOUT.as_secs()
            )
        })
}

/// An address and port, e.g. `0.0.0.0:8080`, or a host name that resolves, e.g. `localhost:8080`.
fn listen_address(value: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = value.parse() {
        return Ok(address);
    }
    let expected = "expected an address and port such as 127.0.0.1:8080, 0.0.0.0:8080 or \
                    localhost:8080";
    match value.to_socket_addrs() {
        Ok(mut addresses) => addresses
            .next()
            .ok_or_else(|| format!("{value} resolves to no address; {expected}")),
        Err(_) => Err(expected.to_string()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = config_diagnostics::parse_args();
    if args.healthcheck {
        return healthcheck(args.listen);
    }
    startup::init_logging();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tell(format_args!(
                "error: {}",
                config_diagnostics::error_text(error.as_ref())
            ));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let limits = serve::Limits {
        header_read_timeout: args.header_read_timeout.0,
        body_read_timeout: args.body_read_timeout.0,
        send_timeout: args.send_timeout.0,
        max_connections: args.max_connections,
    };
    let site = match &args.site_dir {
        Some(dir) => {
            anyhow::ensure!(
                dir.is_dir(),
                "--site-dir {}: not a directory",
                dir.display()
            );
            Some(Site::new(dir).with_context(|| format!("--site-dir {}", dir.display()))?)
        }
        None => None,
    };
    // A server runs on between requests, so it leases budget and returns what it did not use.
    let eve = startup::build(startup::eve_environment(), args.offline, Holding::Leased).await?;
    if args.watch_content {
        let path = eve
            .settings()
            .content_path
            .clone()
            .context("--watch-content needs the content file named by EVE_CONTENT_PATH")?;
        startup::watch_content(eve.clone(), path.into());
    }
    let returning = tokio::spawn(return_unused_budget(eve.clone()));
    let app = router(
        eve.clone(),
        RouterOptions {
            readiness: true,
            one_host: true,
            site,
            trusted_proxies: args.trusted_proxies,
        },
    );
    let listener =
        listen(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "eve-server listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    serve::serve(listener, app, limits, shutdown).await;
    // Chats whose clients went away may still be answering.
    eve.finish_chats().await;
    returning.abort();
    // The requests have ended: what is left of the budget lease goes back.
    eve.return_unused_budget(Duration::ZERO).await;
    tracing::info!("eve-server stopped");
    Ok(())
}

/// Returns a budget lease once no request has drawn on it for a while.
async fn return_unused_budget(eve: Arc<Eve>) {
    let mut ticks = tokio::time::interval(LEASE_IDLE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        eve.return_unused_budget(LEASE_IDLE).await;
    }
}

/// Ctrl-C or SIGTERM (Kubernetes) lets in-flight requests finish. The SIGTERM handler is
/// installed before the listening line is printed, so a supervisor may signal right away.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = terminate.recv() => {},
        }
    })
}

/// Writes a line to stderr. `eprintln!` panics when the reader has gone; then nobody is left
/// to tell, and the exit code still says what happened.
fn tell(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// One `GET /api/health` over HTTP/1.1 with a two-second budget; an unspecified listen address
/// (`0.0.0.0`) is probed on loopback.
fn healthcheck(listen: SocketAddr) -> ExitCode {
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(match listen {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    match health_status_line(target) {
        Ok(line) if line.split_whitespace().nth(1) == Some("200") => ExitCode::SUCCESS,
        Ok(line) => {
            tell(format_args!(
                "unhealthy: {target} answered `{}`",
                Printable(&line)
            ));
            ExitCode::FAILURE
        }
        Err(error) => {
            tell(format_args!("unhealthy: {target}: {error}"));
            ExitCode::FAILURE
        }
    }
}

/// Bytes of the answer's first line read at most.
const STATUS_LINE_LIMIT: u64 = 512;

fn health_status_line(target: SocketAddr) -> std::io::Result<String> {
    let budget = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&target, budget)?;
    stream.set_read_timeout(Some(budget))?;
    stream.set_write_timeout(Some(budget))?;
    let request =
        format!("GET /api/health HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    // A status line is short: whatever else answers there is quoted no further than this.
    let mut line = Vec::new();
    BufReader::new(stream)
        .take(STATUS_LINE_LIMIT)
        .read_until(b'\n', &mut line)?;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}
