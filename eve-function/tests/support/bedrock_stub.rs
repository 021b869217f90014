//! A stub of the Bedrock runtime API on a loopback port: Converse (JSON) and ConverseStream
//! (`application/vnd.amazon.eventstream` frames), with a configurable delay and failures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// How the stub behaves.
#[derive(Debug, Clone)]
pub struct StubConfig {
    /// The reply text; streamed in word-sized deltas.
    pub reply: String,
    /// Waited before answering, as a real model would.
    pub delay: Duration,
    /// The first this-many calls are throttled (HTTP 429 ThrottlingException).
    pub throttle_first: u32,
    /// Every call fails with HTTP 500.
    pub always_fail: bool,
    /// ConverseStream sends this many deltas, then an exception event (a model that broke off).
    pub stream_break_after: Option<usize>,
    /// ConverseStream waits this long before each delta, as a model generating its answer
    /// does, so a test can tell a stream passed on from one buffered.
    pub delta_gap: Duration,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

impl Default for StubConfig {
    fn default() -> Self {
        Self {
            reply: "Alex builds **calm** AWS platforms. See [Experience](#experience).".into(),
            delay: Duration::ZERO,
            throttle_first: 0,
            always_fail: false,
            stream_break_after: None,
            delta_gap: Duration::ZERO,
            input_tokens: 321,
            output_tokens: 42,
        }
    }
}

/// The pause before each word of [`StubConfig::slowly_streaming`].
pub const SLOW_DELTA_GAP: Duration = Duration::from_millis(250);

impl StubConfig {
    /// Six words, one every [`SLOW_DELTA_GAP`]: the model takes 1.5 s to finish its answer.
    pub fn slowly_streaming() -> Self {
        StubConfig {
            reply: "one two three four five six".into(),
            delta_gap: SLOW_DELTA_GAP,
            ..StubConfig::default()
        }
    }
}

pub struct StubBedrock {
    pub endpoint: String,
    calls: Arc<Calls>,
    /// Stops the stub's thread.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Default)]
struct Calls {
    count: AtomicU32,
    bodies: Mutex<Vec<(String, Value)>>,
}

struct Stub {
    config: StubConfig,
    calls: Arc<Calls>,
}

impl StubBedrock {
    /// Serves on a thread and runtime of its own, as Bedrock runs apart from its callers: on
    /// the caller's runtime its work queued behind the caller's (in `bench burst`, the first
    /// model call reached it 89 ms after EVE sent it, behind the bench's 1000 clients), and a
    /// test that blocks its runtime would stop it.
    pub fn start(config: StubConfig) -> Self {
        let calls = Arc::new(Calls::default());
        let state = Arc::new(Stub {
            config,
            calls: calls.clone(),
        });
        let app = Router::new()
            .route("/model/{model}/converse", post(converse))
            .route("/model/{model}/converse-stream", post(converse_stream))
            .with_state(state);
        // EVE's own deep accept queue: the load benchmark opens 1000 model connections at once.
        let listener = eve_function::http::listen(([127, 0, 0, 1], 0).into()).expect("bind stub");
        let address = listener.local_addr().expect("stub address");
        let listener = listener.into_std().expect("stub listener");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("stub runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("stub listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("stub bedrock serves");
            });
        });
        Self {
            endpoint: format!("http://{address}"),
            calls,
            stop: Some(stop),
        }
    }

    /// Every call so far: (operation path, request body).
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.calls.bodies.lock().expect("calls lock").clone()
    }

    pub fn call_count(&self) -> u32 {
        self.calls.count.load(Ordering::SeqCst)
    }
}

impl Drop for StubBedrock {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Stub {
    /// Records the call, waits the delay, and returns the scripted failure if any.
    async fn admit(&self, operation: String, body: &[u8]) -> Option<Response> {
        let n = self.calls.count.fetch_add(1, Ordering::SeqCst);
        let parsed = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.calls
            .bodies
            .lock()
            .expect("calls lock")
            .push((operation, parsed));
        tokio::time::sleep(self.config.delay).await;
        if n < self.config.throttle_first {
            return Some(error(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many requests",
            ));
        }
        if self.config.always_fail {
            return Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "stub failure",
            ));
        }
        None
    }

    fn usage(&self) -> Value {
        let c = &self.config;
        json!({
            "inputTokens": c.input_tokens,
            "outputTokens": c.output_tokens,
            "totalTokens": c.input_tokens + c.output_tokens,
        })
    }
}

fn error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", kind),
            ("content-type", "application/json"),
        ],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

async fn converse(
    State(stub): State<Arc<Stub>>,
    Path(model): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(failure) = stub.admit(format!("{model}/converse"), &body).await {
        return failure;
    }
    let reply = json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": stub.config.reply }] } },
        "stopReason": "end_turn",
        "usage": stub.usage(),
        "metrics": { "latencyMs": stub.config.delay.as_millis() as u64 },
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response()
}

async fn converse_stream(
    State(stub): State<Arc<Stub>>,
    Path(model): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(failure) = stub.admit(format!("{model}/converse-stream"), &body).await {
        return failure;
    }
    // One encoded frame per event, each with the pause the model takes before it.
    let mut frames: Vec<(Duration, Vec<u8>)> = Vec::new();
    let mut frame = |pause: Duration,
                     message_type: &'static str,
                     type_header: &'static str,
                     kind: &'static str,
                     payload: Value| {
        let message = Message::new(payload.to_string().into_bytes())
            .add_header(Header::new(type_header, HeaderValue::String(kind.into())))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String(message_type.into()),
            ));
        let mut bytes = Vec::new();
        write_message_to(&message, &mut bytes).expect("encode event");
        frames.push((pause, bytes));
    };
    let gap = stub.config.delta_gap;
    frame(
        Duration::ZERO,
        "event",
        ":event-type",
        "messageStart",
        json!({ "role": "assistant" }),
    );
    let mut broke_off = false;
    for (sent, word) in stub.config.reply.split_inclusive(' ').enumerate() {
        if stub.config.stream_break_after == Some(sent) {
            frame(
                gap,
                "exception",
                ":exception-type",
                "modelStreamErrorException",
                json!({ "message": "the model stream broke off" }),
            );
            broke_off = true;
            break;
        }
        frame(
            gap,
            "event",
            ":event-type",
            "contentBlockDelta",
            json!({ "contentBlockIndex": 0, "delta": { "text": word } }),
        );
    }
    if !broke_off {
        let mut event =
            |kind, payload| frame(Duration::ZERO, "event", ":event-type", kind, payload);
        event("contentBlockStop", json!({ "contentBlockIndex": 0 }));
        event("messageStop", json!({ "stopReason": "end_turn" }));
        event(
            "metadata",
            json!({ "usage": stub.usage(), "metrics": { "latencyMs": stub.config.delay.as_millis() as u64 } }),
        );
    }
    let body = futures_util::stream::iter(frames).then(|(pause, bytes)| async move {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        Ok::<_, std::convert::Infallible>(bytes)
    });
    (
        [(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")],
        Body::from_stream(body),
    )
        .into_response()
}
