//! A Lambda function's `bootstrap` run on this machine, polling a local Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`), and the REST proxy events API
//! Gateway sends it. EVE's tests drive its Lambda front door through it, and `infra-synth
//! rehearse` a deployed package.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot, Mutex};

/// How long one invocation may take unless told otherwise (API Gateway's integration limit).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(29);

type Answer = std::result::Result<Reply, String>;

/// What a function posted to `/response`.
enum Reply {
    /// One JSON document (the default response mode).
    Whole(Value),
    /// `Lambda-Runtime-Function-Response-Mode: streaming`: each piece of the body as it came.
    Streamed(Vec<(Instant, Bytes)>),
}

/// The header a runtime sets on `/response` to stream it.
const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
/// Ends the JSON prelude (status and headers) of a streamed HTTP response.
const PRELUDE_END: &[u8] = &[0; 8];

/// A streamed response as Lambda's HTTP front (a function URL) reads it.
#[derive(Debug)]
pub struct StreamedResponse {
    /// The prelude: `statusCode`, `headers`, `cookies`.
    pub prelude: Value,
    /// The body, each piece with when the function sent it, counted from the invocation.
    pub pieces: Vec<(Duration, Bytes)>,
}

impl StreamedResponse {
    /// The body's text, whole.
    pub fn text(&self) -> String {
        let bytes: Vec<u8> = self.pieces.iter().flat_map(|(_, b)| b.to_vec()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

struct RuntimeApi {
    /// The function's configured timeout: each invocation's deadline is this from its start.
    timeout: Duration,
    queue: Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

/// A `bootstrap` process behind a local Runtime API; killed when dropped, or when its owner is
/// killed outright.
pub struct LocalFunction {
    events: mpsc::Sender<(String, Value)>,
    api: Arc<RuntimeApi>,
    child: Child,
    counter: std::sync::atomic::AtomicU64,
}

impl Drop for LocalFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let Some((id, event)) = api.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = (SystemTime::now() + api.timeout)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:local".to_owned(),
        ),
        // As Lambda sends it for a function with active tracing.
        (
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, event.to_string()).into_response()
}

/// Which of the two posts a function answers an invocation with.
enum Outcome {
    Response,
    Error,
}

async fn answer(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
    outcome: Outcome,
) -> StatusCode {
    let streamed = headers
        .get(RESPONSE_MODE)
        .is_some_and(|mode| mode == "streaming");
    let answer = match outcome {
        Outcome::Response if streamed => {
            let mut pieces = Vec::new();
            let mut body = body.into_data_stream();
            let mut broken = None;
            while let Some(piece) = body.next().await {
                match piece {
                    Ok(bytes) => pieces.push((Instant::now(), bytes)),
                    Err(error) => {
                        broken = Some(format!("the streamed response broke off: {error}"));
                        break;
                    }
                }
            }
            broken.map_or(Ok(Reply::Streamed(pieces)), Err)
        }
        Outcome::Response => match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Reply::Whole)
                .map_err(|e| format!("the response is not JSON: {e}")),
            Err(error) => Err(format!("the response could not be read: {error}")),
        },
        Outcome::Error => match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => Err(String::from_utf8_lossy(&bytes).into_owned()),
            Err(error) => Err(format!("the error report could not be read: {error}")),
        },
    };
    if let Some(waiter) = api.waiting.lock().await.remove(&id) {
        let _ = waiter.send(answer);
    }
    StatusCode::ACCEPTED
}

impl LocalFunction {
    /// Starts `bootstrap` with exactly `environment` (as Lambda gives a function only its own
    /// variables) against a Runtime API on a free loopback port; its stderr (logs) is ours.
    pub async fn start(bootstrap: &Path, environment: &BTreeMap<String, String>) -> Result<Self> {
        Self::start_with_timeout(bootstrap, environment, INVOCATION_TIMEOUT).await
    }

    /// [`LocalFunction::start`] for a function configured with `timeout`.
    pub async fn start_with_timeout(
        bootstrap: &Path,
        environment: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Self> {
        let (events, queue) = mpsc::channel(16);
        let api = Arc::new(RuntimeApi {
            timeout,
            queue: Mutex::new(queue),
            waiting: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|api, id, headers, body| answer(api, id, headers, body, Outcome::Response)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|api, id, headers, body| answer(api, id, headers, body, Outcome::Error)),
            )
            .with_state(Arc::clone(&api));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut command = Command::new(bootstrap);
        command
            .env_clear()
            .envs(environment)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // Polling a Runtime API that died with its owner, it would only log errors forever.
        let child = child_tether::spawn(command, child_tether::Signal::TERM)
            .with_context(|| format!("cannot start {}", bootstrap.display()))?;
        Ok(LocalFunction {
            events,
            api,
            child,
            counter: Default::default(),
        })
    }

    /// One invocation: the function's response, or its error report.
    pub async fn invoke(&self, event: Value) -> Result<Value> {
        match self.send(event).await? {
            Reply::Whole(response) => Ok(response),
            Reply::Streamed(_) => {
                bail!("the function streamed a response where one was expected whole")
            }
        }
    }

    /// One invocation of a function whose response is streamed (`invoke_mode =
    /// RESPONSE_STREAM`): its prelude, and its body piece by piece with when each left.
    pub async fn invoke_streaming(&self, event: Value) -> Result<StreamedResponse> {
        let started = Instant::now();
        let Reply::Streamed(pieces) = self.send(event).await? else {
            bail!("the function answered whole where a stream was expected");
        };
        let mut pieces = pieces
            .into_iter()
            .map(|(at, bytes)| (at.duration_since(started), bytes));
        // The prelude may share a piece with the body's start; split at its end marker.
        let mut head = Vec::new();
        let mut body = Vec::new();
        for (after, bytes) in pieces.by_ref() {
            head.extend_from_slice(&bytes);
            if let Some(end) = head
                .windows(PRELUDE_END.len())
                .position(|w| w == PRELUDE_END)
            {
                let rest = head.split_off(end + PRELUDE_END.len());
                head.truncate(end);
                if !rest.is_empty() {
                    body.push((after, Bytes::from(rest)));
                }
                break;
            }
        }
        let prelude = serde_json::from_slice(&head)
            .map_err(|e| anyhow!("the stream's prelude is not JSON: {e}"))?;
        body.extend(pieces);
        Ok(StreamedResponse {
            prelude,
            pieces: body,
        })
    }

    async fn send(&self, event: Value) -> Result<Reply> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("req-{n}");
        let (tx, rx) = oneshot::channel();
        self.api.waiting.lock().await.insert(id.clone(), tx);
        self.events
            .send((id, event))
            .await
            .map_err(|_| anyhow!("the Runtime API stopped"))?;
        match tokio::time::timeout(INVOCATION_TIMEOUT, rx).await {
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(error))) => bail!("the function reported an error: {error}"),
            Ok(Err(_)) => bail!("the function exited without answering"),
            Err(_) => bail!("the function did not answer within {INVOCATION_TIMEOUT:?}"),
        }
    }
}

/// An API Gateway REST proxy-integration event for one HTTP request, as the `stage` stage
/// delivers it.
pub fn rest_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    stage: &str,
) -> Value {
    let single: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let multi: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!([v])))
        .collect();
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": { "proxy": path.trim_start_matches('/') },
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "resourceId": "local",
            "stage": stage,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": { "sourceIp": "203.0.113.9", "userAgent": "local-lambda" },
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "local",
            "path": format!("/{stage}{path}"),
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A function URL event (payload format 2.0) for one HTTP request, as CloudFront's origin
/// request reaches it: from an edge address, with the viewer's in `CloudFront-Viewer-Address`.
pub fn function_url_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "local.lambda-url.us-east-1.on.aws",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "130.176.0.1",
                "userAgent": "Amazon CloudFront"
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
}
