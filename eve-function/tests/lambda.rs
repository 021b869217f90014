//! The real `bootstrap` binary against a local Lambda Runtime API: API Gateway REST proxy
//! events go in through `/runtime/invocation/next`, proxy responses come back on `/response`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

struct RuntimeApi {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    results: mpsc::Sender<(String, &'static str, Value)>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> impl IntoResponse {
    let Some((id, event)) = api.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
    let deadline_ms = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    headers.insert(
        "lambda-runtime-aws-request-id",
        id.parse().expect("id header"),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline_ms.to_string().parse().expect("deadline"),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:eve"
            .parse()
            .expect("arn"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            .parse()
            .expect("trace"),
    );
    (StatusCode::OK, headers, event.to_string())
}

async fn outcome(
    kind: &'static str,
    api: Arc<RuntimeApi>,
    id: String,
    body: axum::body::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = api.results.send((id, kind, value)).await;
    StatusCode::ACCEPTED
}

/// A local Runtime API and the bootstrap process polling it.
struct Harness {
    events: mpsc::Sender<(String, Value)>,
    results: mpsc::Receiver<(String, &'static str, Value)>,
    child: Child,
    counter: u32,
}

impl Harness {
    async fn start() -> Self {
        let (events_tx, events_rx) = mpsc::channel(16);
        let (results_tx, results_rx) = mpsc::channel(16);
        let api = Arc::new(RuntimeApi {
            events: Mutex::new(events_rx),
            results: results_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|State(api), Path(id), body| outcome("response", api, id, body)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|State(api), Path(id), body| outcome("error", api, id, body)),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                post(|State(api), body| outcome("init-error", api, String::new(), body)),
            )
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("runtime api") });

        let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        for (key, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("EVE_") || k.starts_with("AWS_"))
        {
            command.env_remove(key);
        }
        let child = command
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "eve")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/eve")
            .env("EVE_STAGE", "test")
            .env("EVE_ALLOWED_ORIGINS", "https://portfolio.example")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn bootstrap");
        Self {
            events: events_tx,
            results: results_rx,
            child,
            counter: 0,
        }
    }

    /// Sends one event and returns the proxy response the function posted back.
    async fn invoke(&mut self, event: Value) -> Value {
        self.counter += 1;
        let id = format!("req-{}", self.counter);
        self.events
            .send((id.clone(), event))
            .await
            .expect("queue event");
        let (got, kind, body) = tokio::time::timeout(Duration::from_secs(20), self.results.recv())
            .await
            .expect("bootstrap answered in time")
            .expect("result");
        assert_eq!((got.as_str(), kind), (id.as_str(), "response"), "{body}");
        body
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API Gateway REST API proxy-integration event, as the `prod` stage delivers it.
fn rest_event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let single: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let multi: serde_json::Map<String, Value> = headers
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
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": { "sourceIp": "203.0.113.9", "userAgent": "lambda-test" },
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "a1b2c3d4",
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1_700_000_000_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn body_json(response: &Value) -> Value {
    let body = response["body"].as_str().expect("string body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["multiValueHeaders"][name][0]
        .as_str()
        .or_else(|| response["headers"][name].as_str())
}

#[tokio::test]
async fn rest_proxy_events_get_proxy_responses() {
    let mut lambda = Harness::start().await;
    let json_type = [("content-type", "application/json")];

    let health = lambda
        .invoke(rest_event("GET", "/api/health", &[], None))
        .await;
    assert_eq!(health["statusCode"], 200, "{health}");
    assert_eq!(health["isBase64Encoded"], false);
    assert_eq!(body_json(&health)["status"], "ok");

    let chat = lambda
        .invoke(rest_event(
            "POST",
            "/api/chat",
            &json_type,
            Some(r#"{"message":"What is Tidewatch?"}"#),
        ))
        .await;
    assert_eq!(chat["statusCode"], 200, "{chat}");
    assert_eq!(header(&chat, "content-type"), Some("application/json"));
    let answer = body_json(&chat);
    assert_eq!(answer["source"], "offline");
    assert!(answer["reply"]
        .as_str()
        .is_some_and(|r| r.contains("#project-tidewatch")));

    let stream = lambda
        .invoke(rest_event(
            "POST",
            "/api/chat/stream",
            &json_type,
            Some(r#"{"message":"How can I contact Alex?"}"#),
        ))
        .await;
    assert_eq!(stream["statusCode"], 200, "{stream}");
    assert!(header(&stream, "content-type").is_some_and(|c| c.starts_with("text/event-stream")));
    let sse = stream["body"].as_str().expect("sse body");
    assert!(
        sse.contains("data: {\"delta\":") && sse.contains("event: done"),
        "{sse}"
    );

    let malformed = lambda
        .invoke(rest_event(
            "POST",
            "/api/chat",
            &json_type,
            Some("{\"message\":"),
        ))
        .await;
    assert_eq!(malformed["statusCode"], 400);
    assert_eq!(body_json(&malformed)["error"]["code"], "invalid_json");

    let traversal = lambda
        .invoke(rest_event(
            "GET",
            "/api/certificates/..%2F..%2Fetc%2Fpasswd",
            &[],
            None,
        ))
        .await;
    assert_eq!(traversal["statusCode"], 400, "{traversal}");

    let unknown = lambda
        .invoke(rest_event("GET", "/api/nothing", &[], None))
        .await;
    assert_eq!(unknown["statusCode"], 404);
    assert_eq!(body_json(&unknown)["error"]["code"], "not_found");

    let wrong_method = lambda
        .invoke(rest_event("DELETE", "/api/chat", &[], None))
        .await;
    assert_eq!(wrong_method["statusCode"], 405);

    let preflight = lambda
        .invoke(rest_event(
            "OPTIONS",
            "/api/chat",
            &[
                ("origin", "https://portfolio.example"),
                ("access-control-request-method", "POST"),
            ],
            None,
        ))
        .await;
    assert_eq!(preflight["statusCode"], 204, "{preflight}");
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        Some("https://portfolio.example")
    );

    // The X-Ray trace id of the invocation is propagated to the response.
    assert!(
        header(&health, "x-amzn-trace-id").is_some_and(|t| t.starts_with("Root=1-5759e988")),
        "{health}"
    );
}
