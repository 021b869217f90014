//! The real `bootstrap` binary against a local Lambda Runtime API: API Gateway REST proxy
//! events go in through `/runtime/invocation/next`, proxy responses come back on `/response`;
//! with the streaming handler, function URL events in and a response streamed back.

mod support;

use std::collections::BTreeMap;

use eve_contract::handlers;
use local_lambda::{function_url_event, LocalFunction};
use serde_json::Value;
use support::bedrock_stub::{StubBedrock, StubConfig, SLOW_DELTA_GAP};

/// The bootstrap with the environment Lambda would give it, and nothing of this process's.
async fn start() -> LocalFunction {
    LocalFunction::start(env!("CARGO_BIN_EXE_bootstrap").as_ref(), &environment(&[]))
        .await
        .expect("start bootstrap")
}

/// What Lambda gives the function, plus `extra`.
fn environment(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::from(
        [
            ("AWS_LAMBDA_FUNCTION_NAME", "eve"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/eve"),
            ("EVE_STAGE", "test"),
            ("EVE_ALLOWED_ORIGINS", "https://portfolio.example"),
            ("RUST_LOG", "warn"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    environment.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    environment
}

/// An API Gateway REST API proxy-integration event, as the `prod` stage delivers it.
fn rest_event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    local_lambda::rest_event(method, path, headers, body, "prod")
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
    let lambda = start().await;
    let json_type = [("content-type", "application/json")];

    let health = lambda
        .invoke(rest_event("GET", "/api/health", &[], None))
        .await
        .expect("the function answers");
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
        .await
        .expect("the function answers");
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
        .await
        .expect("the function answers");
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
        .await
        .expect("the function answers");
    assert_eq!(malformed["statusCode"], 400);
    assert_eq!(body_json(&malformed)["error"]["code"], "invalid_json");

    let traversal = lambda
        .invoke(rest_event(
            "GET",
            "/api/certificates/..%2F..%2Fetc%2Fpasswd",
            &[],
            None,
        ))
        .await
        .expect("the function answers");
    assert_eq!(traversal["statusCode"], 400, "{traversal}");

    let unknown = lambda
        .invoke(rest_event("GET", "/api/nothing", &[], None))
        .await
        .expect("the function answers");
    assert_eq!(unknown["statusCode"], 404);
    assert_eq!(body_json(&unknown)["error"]["code"], "not_found");

    let wrong_method = lambda
        .invoke(rest_event("DELETE", "/api/chat", &[], None))
        .await
        .expect("the function answers");
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
        .await
        .expect("the function answers");
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

/// A store that accepts connections and never answers, behind a function with a 5 s timeout:
/// the reply still goes out inside the invocation (it took 18 s, three 6 s write attempts, and
/// Lambda would have cut it off), and the turns it could not store are logged.
#[tokio::test]
async fn a_hanging_store_cannot_keep_the_reply_past_the_invocation_deadline() {
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("http://{}", black_hole.local_addr().expect("address"));
    let accepted = std::thread::spawn(move || {
        // Accept and hold every connection, answering nothing.
        black_hole
            .incoming()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let environment = environment(&[
        ("EVE_TABLE_NAME", "conversations"),
        ("EVE_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]);
    let timeout = std::time::Duration::from_secs(5);
    let lambda = LocalFunction::start_with_timeout(
        env!("CARGO_BIN_EXE_bootstrap").as_ref(),
        &environment,
        timeout,
    )
    .await
    .expect("start bootstrap");
    let started = std::time::Instant::now();
    let chat = lambda
        .invoke(rest_event(
            "POST",
            "/api/chat",
            &[("content-type", "application/json")],
            Some(r#"{"message":"Which databases has Alex run in production?"}"#),
        ))
        .await
        .expect("the function answers");
    let took = started.elapsed();
    assert_eq!(chat["statusCode"], 200, "{chat}");
    assert_eq!(body_json(&chat)["source"], "offline");
    assert!(
        took < timeout,
        "answered in {took:?}, after the function's {timeout:?} timeout"
    );
    drop(lambda);
    drop(accepted);
}

/// The streaming handler on the same package, as the stack's second function runs it.
async fn start_streaming(extra: &[(&str, &str)]) -> LocalFunction {
    let mut extra = extra.to_vec();
    extra.push(("_HANDLER", handlers::STREAMING));
    LocalFunction::start(
        env!("CARGO_BIN_EXE_bootstrap").as_ref(),
        &environment(&extra),
    )
    .await
    .expect("start the streaming bootstrap")
}

fn chat_through_cloudfront(viewer: &str) -> Value {
    function_url_event(
        "POST",
        "/api/chat/stream",
        &[
            ("content-type", "application/json"),
            ("cloudfront-viewer-address", viewer),
        ],
        Some(r#"{"message":"What does Alex do with Terraform?"}"#),
    )
}

#[tokio::test]
async fn the_streaming_handler_sends_the_first_delta_before_the_model_has_finished() {
    let stub = StubBedrock::start(StubConfig::slowly_streaming());
    let lambda = start_streaming(&[
        ("EVE_MODEL_ID", "stub.echo-v1"),
        ("AWS_ENDPOINT_URL", &stub.endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ])
    .await;
    let response = lambda
        .invoke_streaming(chat_through_cloudfront("198.51.100.7:40112"))
        .await
        .expect("the function streams");
    assert_eq!(
        response.prelude["statusCode"], 200,
        "{:?}",
        response.prelude
    );
    assert_eq!(
        response.prelude["headers"]["content-type"], "text/event-stream",
        "{:?}",
        response.prelude
    );
    let text = response.text();
    let events = support::sse_events(&text);
    let said: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"].as_str())
        .collect();
    assert_eq!(said, StubConfig::slowly_streaming().reply, "{text}");
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("done"), "{text}");
    let (first_delta, done) = support::first_delta_and_done(&response.pieces);
    // Five of the model's pauses lie between its first word and its last; a buffered
    // response would leave the function in one piece at the end.
    assert!(
        done.saturating_sub(first_delta) >= SLOW_DELTA_GAP * 4,
        "first delta at {first_delta:?}, done at {done:?}: the response was held back"
    );
}

/// Every request reaches the function URL from a CloudFront edge address; the per-IP limit
/// counts the viewer CloudFront names, so one visitor's limit is not everyone's.
#[tokio::test]
async fn behind_the_function_url_the_per_ip_limit_counts_the_viewer() {
    let lambda = start_streaming(&[("EVE_IP_RATE_PER_MINUTE", "1")]).await;
    let mut statuses = Vec::new();
    for viewer in [
        "198.51.100.7:40112",
        "198.51.100.7:40113",
        "2001:db8::5:443",
    ] {
        let response = lambda
            .invoke_streaming(chat_through_cloudfront(viewer))
            .await
            .expect("the function answers");
        statuses.push(response.prelude["statusCode"].as_u64().unwrap_or_default());
    }
    assert_eq!(
        statuses,
        [200, 429, 200],
        "the second request of a viewer is limited, another viewer's first is not"
    );
}

#[test]
fn an_unknown_handler_stops_the_function_with_its_name() {
    let (code, stderr) = support::run_to_exit(
        env!("CARGO_BIN_EXE_bootstrap").as_ref(),
        &[],
        &[("_HANDLER", "main.handler")],
    );
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("unknown handler `main.handler`") && stderr.contains(handlers::STREAMING),
        "{stderr}"
    );
}

/// lambda_http panicked on an event whose body is marked base64 but is not, and the invocation
/// failed with the library's message ("Lambda panicked: failed to decode aws base64 encoded
/// body"). API Gateway and function URLs never send one, but the function may be invoked with
/// any event: such a body is now dropped, and the request answered as one without a body, 400
/// in our words, by both front doors. A body that decodes is read as before.
#[tokio::test]
async fn a_body_marked_base64_that_is_not_gets_a_400_not_a_panic() {
    use base64::Engine;
    let json_type = [("content-type", "application/json")];
    let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"message":"Hello"}"#);
    let lambda = start().await;
    for (body, status) in [("!!! not base64", 400), (encoded.as_str(), 200)] {
        let mut event = rest_event("POST", "/api/chat", &json_type, Some(body));
        event["isBase64Encoded"] = Value::Bool(true);
        let response = lambda.invoke(event).await.expect("answered, not failed");
        assert_eq!(response["statusCode"], status, "{body}: {response}");
        if status == 400 {
            assert_eq!(body_json(&response)["error"]["code"], "invalid_json");
        }
    }
    let streaming = start_streaming(&[]).await;
    let mut event = function_url_event("POST", "/api/chat/stream", &json_type, Some("!!!"));
    event["isBase64Encoded"] = Value::Bool(true);
    let response = streaming
        .invoke_streaming(event)
        .await
        .expect("answered, not failed");
    assert_eq!(response.prelude["statusCode"], 400, "{}", response.text());
    assert!(
        response.text().contains("invalid_json"),
        "{}",
        response.text()
    );
}
