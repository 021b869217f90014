//! The real `bootstrap` binary against a local Lambda Runtime API: API Gateway REST proxy
//! events go in through `/runtime/invocation/next`, proxy responses come back on `/response`.

use std::collections::BTreeMap;

use local_lambda::LocalFunction;
use serde_json::Value;

/// The bootstrap with the environment Lambda would give it, and nothing of this process's.
async fn start() -> LocalFunction {
    let environment = BTreeMap::from(
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
    LocalFunction::start(env!("CARGO_BIN_EXE_bootstrap").as_ref(), &environment)
        .await
        .expect("start bootstrap")
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
