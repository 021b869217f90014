//! The one router both front doors serve. Every response — including rejections of malformed
//! input — is JSON with the documented shape; nothing internal reaches a visitor.

pub mod cors;
pub mod error;
pub mod forwarded;
pub mod lambda;
pub mod serve;
pub mod site;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::{Json, Router};
use futures_util::{future, stream, Future, Stream, StreamExt};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinError;
use tokio_stream::wrappers::ReceiverStream;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::core::certificates::CertificateError;
use crate::core::chat::{ChatAnswer, ChatError, ChatRequest, Eve, StreamEvent};
use error::ApiError;
use eve_contract::routes::{self, stream_events, Route, MAX_CHAT_TIME};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Connections the kernel queues for `accept`; it caps this at `net.core.somaxconn`. Tokio's
/// default of 128 overflowed when 1000 clients connected at once: the dropped SYNs were retried
/// a second later, which was the whole tail of the load benchmark.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `address` with a [`LISTEN_BACKLOG`]-deep accept queue.
pub fn listen(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio do for listeners: a restart may rebind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What differs between the front doors.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// Serve `/api/health/ready`, which checks the dependencies (server mode).
    pub readiness: bool,
    /// Refuse a request that names no host or two (server mode: hyper lets them through, and
    /// Lambda's events always carry their front door's one).
    pub one_host: bool,
    /// Serve this built site at `/`.
    pub site: Option<site::Site>,
    /// Take the client's address from `X-Forwarded-For` when the peer is one of these
    /// (server mode behind an ingress controller; [`forwarded`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

pub fn router(eve: Arc<Eve>, options: RouterOptions) -> Router {
    let mut api = Router::new();
    api = serve(api, routes::CHAT, chat);
    api = serve(api, routes::CHAT_STREAM, chat_stream);
    api = serve(api, routes::CERTIFICATES, certificates);
    api = serve(api, routes::CERTIFICATE_LINK, certificate_link);
    api = serve(api, routes::SUGGESTIONS, suggestions);
    api = serve(api, routes::HEALTH, health);
    if options.readiness {
        api = serve(api, routes::READY, ready);
    }
    let api = api.method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });
    let app = match options.site {
        Some(site) => api.fallback(move |request: Request| async move {
            if is_api(&request) {
                return ApiError::not_found().into_response();
            }
            site.serve(request).await
        }),
        None => api.fallback(|| async { ApiError::not_found() }),
    };
    let app = app.layer(middleware::from_fn_with_state(eve.clone(), cors::cors));
    let app = if options.one_host {
        app.layer(middleware::from_fn(one_host))
    } else {
        app
    };
    let app = if options.trusted_proxies.is_empty() {
        app
    } else {
        let trusted: Arc<[ipnet::IpNet]> = options.trusted_proxies.into();
        app.layer(middleware::from_fn_with_state(
            trusted,
            forwarded::forwarded_client,
        ))
    };
    // Security headers wrap CORS and the host check, so the answers those give themselves
    // carry them too.
    app.layer(middleware::from_fn(site::security_headers))
        .layer(middleware::from_fn(trace))
        // A bug must still answer with the JSON error shape, never a dropped connection.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .with_state(eve)
}

/// Adds one route of the contract (`eve_contract::routes`), at its path and method, with the
/// preflight answer for exactly that method.
fn serve<H, T>(router: Router<Arc<Eve>>, route: Route, handler: H) -> Router<Arc<Eve>>
where
    H: Handler<T, Arc<Eve>>,
    T: 'static,
{
    let (method, allow) = match route.method {
        "POST" => (MethodFilter::POST, "POST, OPTIONS"),
        _ => (MethodFilter::GET, "GET, HEAD, OPTIONS"),
    };
    router.route(
        &route.router_path(),
        on(method, handler).options(move || cors::preflight(allow)),
    )
}

fn is_api(request: &Request) -> bool {
    let path = request.uri().path();
    path == routes::PREFIX
        || path
            .strip_prefix(routes::PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// An HTTP/1.1 request names its host in one `Host` header (RFC 9112, 3.2), and no request
/// names two: anything else gets the 400 the RFC asks for, and the connection is closed.
async fn one_host(request: Request, next: Next) -> Response {
    let hosts = request.headers().get_all(header::HOST).iter().count();
    if hosts > 1 || (hosts == 0 && request.version() == axum::http::Version::HTTP_11) {
        let mut refusal = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "name the host in one Host header",
        )
        .into_response();
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return refusal;
    }
    next.run(request).await
}

/// One span per request carrying the X-Ray trace id, which is echoed back to the caller.
/// The AWS SDK forwards the Lambda trace id (`_X_AMZN_TRACE_ID`) on its own calls.
async fn trace(request: Request, next: Next) -> Response {
    let trace_id = request
        .headers()
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .filter(|trace| is_trace_header(trace))
        .map(String::from)
        .or_else(|| {
            request
                .lambda_context_ref()
                .and_then(|c| c.xray_trace_id.clone())
        });
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        trace_id = trace_id.as_deref().unwrap_or_default(),
    );
    let mut response = next.run(request).instrument(span).await;
    if let Some(value) = trace_id.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert("x-amzn-trace-id", value);
    }
    if is_api_response(&response) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(API_CACHE_CONTROL),
        );
    }
    response
}

/// The longest trace header taken from a request: X-Ray's own (`Root`, `Parent`, `Sampled`, a
/// `Lineage`, a load balancer's `Self`) is well under it.
const MAX_TRACE_HEADER: usize = 512;

/// Whether a request's `X-Amzn-Trace-Id` has the shape of an X-Ray trace header. Anything else a
/// client sent is neither logged (on every line of its request) nor echoed back.
fn is_trace_header(value: &str) -> bool {
    value.len() <= MAX_TRACE_HEADER
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=;:-|._".contains(&b))
}

/// An API answer is about one request: no cache, the browser's included, may keep it.
pub const API_CACHE_CONTROL: &str = "no-store";

fn is_api_response(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"))
}

/// The caller's address: API Gateway's source IP behind the REST API; behind the function URL
/// the viewer address CloudFront adds (the connection there comes from CloudFront's edge, and
/// the URL's IAM auth admits only the distribution, so the header is CloudFront's own); the
/// peer address in server mode.
fn client_ip(request: &Request) -> String {
    let from_lambda = request
        .request_context_ref()
        .and_then(|context| match context {
            RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
            RequestContext::ApiGatewayV2(c) => {
                viewer_address(request).or_else(|| c.http.source_ip.clone())
            }
            _ => None,
        });
    from_lambda
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The IP of CloudFront's `CloudFront-Viewer-Address` (`ip:port`, IPv6 unbracketed).
fn viewer_address(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get("cloudfront-viewer-address")?
        .to_str()
        .ok()?;
    let (ip, _port) = value.rsplit_once(':')?;
    ip.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

#[derive(Debug, Deserialize)]
struct ChatBody {
    message: String,
    #[serde(default)]
    session_id: Option<String>,
}

/// Whether the codings listed in the `name` headers (comma-separated, any number of them) hold
/// one other than `only`; an unreadable value counts as one.
fn any_coding_but(request: &Request, name: header::HeaderName, only: &str) -> bool {
    request
        .headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("unreadable").split(','))
        .any(|coding| !coding.trim().eq_ignore_ascii_case(only))
}

/// Why `bytes` are not JSON, and where, in our words: a client's developer can find the
/// mistake without a JSON linter.
fn not_json(bytes: &[u8], error: &serde_json::Error) -> String {
    // JSON sent over a network carries no byte order mark (RFC 8259, 8.1).
    if bytes.starts_with("\u{feff}".as_bytes()) {
        return "the body starts with a byte order mark; send the JSON without one".into();
    }
    if bytes.trim_ascii().is_empty() {
        return "the body is empty; send a JSON object".into();
    }
    let (line, column) = (error.line(), error.column());
    if error.is_eof() {
        format!("the body ends before its JSON does (line {line}, column {column})")
    } else {
        format!("the body is not valid JSON at line {line}, column {column}")
    }
}

/// Reads a JSON body within [`MAX_BODY_BYTES`], mapping every failure to its status.
async fn json_body<T: RequestBody>(request: Request) -> Result<T, ApiError> {
    // Content-Type is one value (RFC 9110, 5.3): of two, a proxy or a WAF in front may read the
    // other one than EVE.
    if request
        .headers()
        .get_all(header::CONTENT_TYPE)
        .iter()
        .count()
        > 1
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "name the body's type in one Content-Type header",
        ));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut media_type = content_type.split(';');
    if media_type.next().map(str::trim) != Some("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    // JSON is UTF-8 (RFC 8259): a body declared in another charset would be misread.
    let other_charset = media_type
        .filter_map(|parameter| parameter.split_once('='))
        .filter(|(name, _)| name.trim() == "charset")
        .any(|(_, value)| !matches!(value.trim().trim_matches('"'), "utf-8" | "utf8"));
    if other_charset {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_charset",
            "send the body as UTF-8 (charset=utf-8, or no charset)",
        ));
    }
    // A compressed body would be read as if it were plain; one EVE cannot decode is refused.
    if any_coding_but(&request, header::CONTENT_ENCODING, "identity") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            "send the body uncompressed (no Content-Encoding)",
        ));
    }
    // hyper takes `chunked` off a body and leaves any other transfer coding on it, and so would
    // a front door that does not decode it.
    if any_coding_but(&request, header::TRANSFER_ENCODING, "chunked") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_transfer_coding",
            "send the body with no Transfer-Encoding but chunked",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let causes = || std::iter::successors(std::error::Error::source(&e), |s| s.source());
            if causes().any(|cause| cause.is::<http_body_util::LengthLimitError>()) {
                too_large()
            } else if causes().any(|cause| cause.is::<serve::BodyTimedOut>()) {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time; send it again",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read",
                )
            }
        })?;
    // Only an object is a request (serde would read a struct from an array by position), and
    // what is wrong is said in our words, never serde's (which name Rust types). The struct is
    // read straight from the bytes, so that a key given twice is refused rather than the last
    // one silently kept; only a body that fails is parsed again, to tell bad JSON from a bad
    // shape.
    let is_object = bytes.trim_ascii_start().first() == Some(&b'{');
    match serde_json::from_slice::<T>(&bytes) {
        Ok(body) if is_object => Ok(body),
        _ => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            // Valid JSON too deep for serde to read, which no request shape needs. serde_json
            // has no error kind for it, only these words (`tests/hostile.rs` holds them).
            Err(error) if error.to_string().starts_with("recursion limit exceeded") => {
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the body nests arrays and objects more than 128 deep",
                ))
            }
            Err(error) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                not_json(&bytes, &error),
            )),
            Ok(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                T::SHAPE,
            )),
        },
    }
}

/// A request body, with the words that describe its shape to a client that got it wrong.
trait RequestBody: DeserializeOwned {
    const SHAPE: &'static str;
}

impl RequestBody for ChatBody {
    const SHAPE: &'static str =
        "the body must be a JSON object with a string `message` and an optional string `session_id`, each given once";
}

async fn chat_request(request: Request) -> Result<ChatRequest, ApiError> {
    let client_ip = client_ip(&request);
    let deadline = deadline(&request);
    let body: ChatBody = json_body(request).await?;
    Ok(ChatRequest {
        message: body.message,
        session_id: body.session_id,
        client_ip,
        deadline,
    })
}

/// Time Lambda needs after the handler to send the response on.
const LAMBDA_MARGIN: Duration = Duration::from_millis(500);

/// When a chat's reply must be out: in Lambda, the invocation's deadline less a margin (a
/// function timeout shorter than API Gateway's limit would otherwise cut the reply off); capped
/// at [`MAX_CHAT_TIME`] by the core either way.
fn deadline(request: &Request) -> Instant {
    let now = Instant::now();
    let Some(context) = request.lambda_context_ref() else {
        return now + MAX_CHAT_TIME;
    };
    let remaining = u128::from(context.deadline).saturating_sub(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    );
    let remaining = Duration::from_millis(u64::try_from(remaining).unwrap_or(u64::MAX));
    now + remaining.saturating_sub(LAMBDA_MARGIN).min(MAX_CHAT_TIME)
}

async fn chat(State(eve): State<Arc<Eve>>, request: Request) -> Result<Json<ChatAnswer>, ApiError> {
    let request = chat_request(request).await?;
    // The chat runs to completion (and is stored) even if the client goes away meanwhile.
    Ok(Json(eve.chat_to_the_end(request).await?))
}

/// Server-Sent Events, as [`stream_events`] names them: `data: {"delta": ...}` events, then
/// `done`; `replace` before it when the model broke off part-way. Refusals (400, 429) are plain
/// JSON errors before any event.
async fn chat_stream(State(eve): State<Arc<Eve>>, request: Request) -> Result<Response, ApiError> {
    let request = chat_request(request).await?;
    let (events, mut received) = mpsc::channel::<StreamEvent>(64);
    // The chat runs to completion (and is stored) even if the client goes away mid-stream.
    let task = eve.spawn_chat(request, events);
    let Some(first) = received.recv().await else {
        // No text was produced: the chat was refused before answering, or ended empty.
        let outcome = task.await;
        if let Ok(Err(refusal)) = outcome {
            return Err(refusal.into());
        }
        return Ok(sse(stream::empty(), future::ready(outcome)));
    };
    let events = stream::once(future::ready(first)).chain(ReceiverStream::new(received));
    Ok(sse(events, task))
}

type ChatOutcome = Result<Result<ChatAnswer, ChatError>, JoinError>;

fn sse(
    events: impl Stream<Item = StreamEvent> + Send + 'static,
    outcome: impl Future<Output = ChatOutcome> + Send + 'static,
) -> Response {
    let done = stream::once(outcome).map(done_event);
    Sse::new(events.map(text_event).chain(done).map(Ok::<_, Infallible>)).into_response()
}

fn text_event(event: StreamEvent) -> Event {
    match event {
        StreamEvent::Delta(delta) => Event::default().data(json!({ "delta": delta }).to_string()),
        StreamEvent::Replace(text) => Event::default()
            .event(stream_events::REPLACE)
            .data(json!({ "text": text }).to_string()),
    }
}

fn done_event(outcome: ChatOutcome) -> Event {
    match outcome {
        Ok(Ok(answer)) => Event::default()
            .event(stream_events::DONE)
            .data(json!({ "session_id": answer.session_id, "source": answer.source }).to_string()),
        _ => Event::default().event(stream_events::ERROR).data(
            json!({ "error": { "code": "internal", "message": "the reply was interrupted" } })
                .to_string(),
        ),
    }
}

async fn certificates(State(eve): State<Arc<Eve>>) -> Json<serde_json::Value> {
    Json(json!({ "certificates": eve.certificates() }))
}

async fn certificate_link(
    State(eve): State<Arc<Eve>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // A path that does not decode (`%FF`) is no id either.
    let Ok(Path(id)) = id else {
        return Err(CertificateError::InvalidId.into());
    };
    let link = eve.certificate_link(&id).await?;
    Ok(Json(json!(link)))
}

async fn suggestions(State(eve): State<Arc<Eve>>) -> Json<serde_json::Value> {
    Json(json!({ "suggestions": eve.knowledge().suggestions() }))
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn ready(State(eve): State<Arc<Eve>>) -> Response {
    let checks = eve.ready().await;
    let all_ok = checks.iter().all(|(_, r)| r.is_ok());
    for (name, result) in &checks {
        if let Err(error) = result {
            tracing::warn!(dependency = name, %error, "not ready");
        }
    }
    let report: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, r)| {
            (
                name.to_string(),
                json!(if r.is_ok() { "ok" } else { "down" }),
            )
        })
        .collect();
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_ok { "ready" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": report,
    });
    (status, Json(body)).into_response()
}
