//! A deployed function's package run on this machine: its `bootstrap` polls a local Lambda
//! Runtime API, and a local front serves the site bucket at `/` and API Gateway proxy events at
//! `/api/*`, as CloudFront and API Gateway do. What `rehearse` checks a deployment through.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot, Mutex};

/// How long one invocation may take (API Gateway's integration limit).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(29);

type Answer = std::result::Result<Value, String>;

struct RuntimeApi {
    queue: Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

/// A `bootstrap` process behind a local Runtime API; killed when dropped.
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
    let deadline_ms = (SystemTime::now() + INVOCATION_TIMEOUT)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:rehearsal".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, event.to_string()).into_response()
}

async fn answer(api: &RuntimeApi, id: &str, answer: Answer) -> StatusCode {
    if let Some(waiter) = api.waiting.lock().await.remove(id) {
        let _ = waiter.send(answer);
    }
    StatusCode::ACCEPTED
}

impl LocalFunction {
    /// Starts `bootstrap` with `environment` (the deployed function's variables plus whatever
    /// reaches the emulator) against a Runtime API on a free loopback port.
    pub async fn start(bootstrap: &Path, environment: &BTreeMap<String, String>) -> Result<Self> {
        let (events, queue) = mpsc::channel(16);
        let api = Arc::new(RuntimeApi {
            queue: Mutex::new(queue),
            waiting: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(
                    |State(api): State<Arc<RuntimeApi>>,
                     UrlPath(id): UrlPath<String>,
                     body: Bytes| async move {
                        let value = serde_json::from_slice(&body)
                            .map_err(|e| format!("the response is not JSON: {e}"));
                        answer(&api, &id, value).await
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(
                    |State(api): State<Arc<RuntimeApi>>,
                     UrlPath(id): UrlPath<String>,
                     body: Bytes| async move {
                        answer(&api, &id, Err(String::from_utf8_lossy(&body).into_owned())).await
                    },
                ),
            )
            .with_state(Arc::clone(&api));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        let child = Command::new(bootstrap)
            .env_clear()
            .envs(environment)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
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
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("rehearsal-{n}");
        let (tx, rx) = oneshot::channel();
        self.api.waiting.lock().await.insert(id.clone(), tx);
        self.events
            .send((id, event))
            .await
            .map_err(|_| anyhow!("the Runtime API stopped"))?;
        match tokio::time::timeout(INVOCATION_TIMEOUT, rx).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(error))) => bail!("the function reported an error: {error}"),
            Ok(Err(_)) => bail!("the function exited without answering"),
            Err(_) => bail!("the function did not answer within {INVOCATION_TIMEOUT:?}"),
        }
    }
}

/// An API Gateway REST proxy event for one HTTP request, as the `stage` stage delivers it.
pub fn rest_event(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    stage: &str,
) -> Value {
    let single: Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let multi: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
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
            "resourceId": "rehearsal",
            "stage": stage,
            "requestId": "rehearsal",
            "identity": { "sourceIp": "127.0.0.1", "userAgent": "infra-synth rehearse" },
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "rehearsal",
            "path": format!("/{stage}{path}"),
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// What the front serves.
pub struct Front {
    pub function: Arc<LocalFunction>,
    pub s3: aws_sdk_s3::Client,
    pub site_bucket: String,
    /// The origin the site is published for (`https://<domain>`): requests reach EVE as if sent
    /// from it, as they are behind CloudFront.
    pub site_url: String,
    pub stage: String,
}

/// Serves `front` on a free loopback port; returns its address.
pub async fn serve_front(front: Front) -> Result<SocketAddr> {
    let app = Router::new().fallback(handle).with_state(Arc::new(front));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

async fn handle(
    State(front): State<Arc<Front>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = if uri.path().starts_with("/api/") {
        api(&front, &method, uri.path(), &headers, &body).await
    } else {
        site(&front, uri.path()).await
    };
    result.unwrap_or_else(|error| {
        (
            StatusCode::BAD_GATEWAY,
            format!("rehearsal front: {error:#}"),
        )
            .into_response()
    })
}

async fn api(
    front: &Front,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response> {
    let mut forwarded: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .filter(|(k, _)| k != "origin" && k != "host")
        .collect();
    forwarded.push(("origin".into(), front.site_url.clone()));
    forwarded.push((
        "host".into(),
        front.site_url.trim_start_matches("https://").to_owned(),
    ));
    let text = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
    let event = rest_event(
        method.as_str(),
        path,
        &forwarded,
        text.as_deref(),
        &front.stage,
    );
    let response = front.function.invoke(event).await?;
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .context("the proxy response has no statusCode")?;
    let body = response["body"].as_str().unwrap_or_default();
    let bytes = if response["isBase64Encoded"].as_bool() == Some(true) {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)?
    } else {
        body.as_bytes().to_vec()
    };
    let mut out = (status, bytes).into_response();
    let single = response["headers"].as_object().into_iter().flatten();
    let multi = response["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(k, values)| values.as_array().into_iter().flatten().map(move |v| (k, v)));
    for (name, value) in single.chain(multi) {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            out.headers_mut().insert(name, value);
        }
    }
    Ok(out)
}

async fn site(front: &Front, path: &str) -> Result<Response> {
    let key = match path.trim_start_matches('/') {
        "" => "index.html".to_owned(),
        key if key.ends_with('/') => format!("{key}index.html"),
        key => key.to_owned(),
    };
    let object = front
        .s3
        .get_object()
        .bucket(&front.site_bucket)
        .key(&key)
        .send()
        .await;
    let Ok(object) = object else {
        return Ok((StatusCode::NOT_FOUND, "not in the site bucket").into_response());
    };
    let content_type = object
        .content_type()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let bytes = object.body.collect().await?.into_bytes();
    let mut response = (StatusCode::OK, bytes.to_vec()).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, value);
    }
    Ok(response)
}
