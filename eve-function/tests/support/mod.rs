//! Shared by the integration tests and the load benchmark: a real `eve-server` process, a real
//! moto server, our stub Bedrock, and a small HTTP client.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod bedrock_stub;
pub mod lossy_relay;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A running `eve-server`, killed when dropped.
pub struct EveServer {
    child: Child,
    pub url: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl EveServer {
    /// The server's peak resident memory so far (`VmHWM`), in MB; Linux only.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Spawns `binary` with `args` and `env` (plus a clean `EVE_*`-free environment) and waits
    /// for its `listening on` line.
    pub fn spawn(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::spawn_without(binary, args, env, &[])
    }

    /// [`EveServer::spawn`], with the variables named in `unset` not inherited either.
    pub fn spawn_without(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        unset: &[&str],
    ) -> Result<Self, String> {
        Self::launch(binary, args, env, unset, true)
    }

    /// [`EveServer::spawn`] with its log stream (stderr) broken from the start: a pipe whose
    /// reader is gone, as when a log shipper has died. [`EveServer::logs`] stays empty.
    pub fn spawn_with_stderr_closed(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        Self::launch(binary, args, env, &[], false)
    }

    fn launch(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        unset: &[&str],
        read_logs: bool,
    ) -> Result<Self, String> {
        let mut command = Command::new(binary);
        command.args(["--listen", "127.0.0.1:0"]).args(args);
        for (key, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("EVE_") || k.starts_with("AWS_"))
        {
            command.env_remove(key);
        }
        for key in unset {
            command.env_remove(key);
        }
        command
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if read_logs {
                Stdio::piped()
            } else {
                broken_pipe()
            });
        let mut child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    sink.lock().expect("log lock").push(line);
                }
            });
        }
        // Later lines are EMF metrics, drained.
        let line = match local_moto::first_line(stdout, Duration::from_secs(20)) {
            Ok(line) => line,
            Err(why) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(format!(
                    "eve-server printed no listening line: {why} ({status}); stderr: {}",
                    logs.lock().expect("log lock").join("\n")
                ));
            }
        };
        let url = line
            .strip_prefix("eve-server listening on ")
            .ok_or_else(|| format!("unexpected first line: {line}"))?
            .to_string();
        Ok(Self {
            child,
            url,
            stderr: logs,
        })
    }

    /// Sends SIGTERM and waits up to 10 s; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().expect("log lock").join("\n")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The writing end of a pipe whose reader is already closed: every write to it fails with
/// EPIPE, from the first.
pub fn broken_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

impl Drop for EveServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `binary` to completion (for startup failures) and returns (exit code, stderr).
pub fn run_to_exit(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("EVE_") || k.starts_with("AWS_"))
    {
        command.env_remove(key);
    }
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run binary");
    // A run that should have stopped but serves instead fails the test rather than hanging it.
    let deadline = Instant::now() + RUN_TO_EXIT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for binary") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (status, stderr)
}

/// How long [`run_to_exit`] waits for the binary to stop.
const RUN_TO_EXIT_LIMIT: Duration = Duration::from_secs(20);

/// A moto server on a loopback port (the launcher `infra-synth rehearse` uses), killed when
/// dropped; the end of its log is printed when a test panics with it running.
pub struct Moto {
    pub endpoint: String,
    // Dropped before its log's folder.
    _server: local_moto::Moto,
    _log_dir: tempfile::TempDir,
}

impl Moto {
    /// moto answering on threads, as `moto_server` does; `None` (after printing the SKIP
    /// line) when moto is not installed.
    pub fn start(test: &str) -> Option<Self> {
        Self::run(test, local_moto::Serving::Threaded)
    }

    /// moto answering one request at a time. Threaded moto applies concurrent UpdateItems to
    /// one item without DynamoDB's atomicity (an `ADD` can be lost), which a test of
    /// concurrent conditional writes must not mistake for EVE's fault.
    pub fn start_serial(test: &str) -> Option<Self> {
        Self::run(test, local_moto::Serving::Serial)
    }

    fn run(test: &str, serving: local_moto::Serving) -> Option<Self> {
        let Some(moto_server) = local_moto::find_moto() else {
            println!("SKIP: {test} needs moto_server (pip install 'moto[server]')");
            return None;
        };
        let log_dir = tempfile::tempdir().expect("tempdir");
        let server =
            local_moto::Moto::start(&moto_server, serving, &log_dir.path().join("moto.log"))
                .unwrap_or_else(|error| panic!("{error:#}"));
        Some(Self {
            endpoint: server.endpoint.clone(),
            _server: server,
            _log_dir: log_dir,
        })
    }

    /// The AWS environment that points the SDK (in eve-server and in tests) at moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// EVE's conversations table (`pk`/`sk`, TTL on `expires_at`) named `name`, unless it exists.
    pub async fn create_conversations_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let sdk = self.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key")
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        if dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .is_err()
        {
            dynamodb
                .create_table()
                .table_name(name)
                .key_schema(key("pk", KeyType::Hash))
                .key_schema(key("sk", KeyType::Range))
                .attribute_definitions(attribute("pk"))
                .attribute_definitions(attribute("sk"))
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .expect("create table");
            dynamodb
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name("expires_at")
                        .enabled(true)
                        .build()
                        .expect("ttl"),
                )
                .send()
                .await
                .expect("enable ttl");
        }
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the documented error shape and returns its code.
    pub fn error_code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let body = self.json();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "error without message: {body}");
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut request = hyper::Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    let response = client.request(request).await.expect("HTTP exchange");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("read body").to_bytes().to_vec();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub async fn get(url: &str) -> Reply {
    send(&client(), "GET", url, &[], Bytes::new()).await
}

pub async fn post_json(url: &str, body: &serde_json::Value) -> Reply {
    send(
        &client(),
        "POST",
        url,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

/// POSTs `body` as JSON and reads the response body frame by frame as it arrives (each piece
/// with when it came, counted from the request), so a test can tell a stream passed on as it
/// is made from one buffered and sent at the end.
pub async fn post_json_timed(url: &str, body: &serde_json::Value) -> (u16, Vec<(Duration, Bytes)>) {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let started = Instant::now();
    let response = client().request(request).await.expect("HTTP exchange");
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut arrivals = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(bytes) = frame.expect("read body").into_data() {
            arrivals.push((started.elapsed(), bytes));
        }
    }
    (status, arrivals)
}

/// When the first text delta and the `done` event of a timed SSE body arrived (pieces as
/// `post_json_timed` and `local_lambda`'s streamed responses give them).
pub fn first_delta_and_done(arrivals: &[(Duration, Bytes)]) -> (Duration, Duration) {
    let mut seen = String::new();
    let (mut first_delta, mut done) = (None, None);
    for (after, bytes) in arrivals {
        seen.push_str(&String::from_utf8_lossy(bytes));
        if first_delta.is_none() && seen.contains("\"delta\"") {
            first_delta = Some(*after);
        }
        if done.is_none() && seen.contains("event: done") {
            done = Some(*after);
        }
    }
    (
        first_delta.unwrap_or_else(|| panic!("no delta in {seen}")),
        done.unwrap_or_else(|| panic!("no done event in {seen}")),
    )
}

/// The `data:` payloads and event names of a Server-Sent Events body, in order.
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            (
                event,
                serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}
