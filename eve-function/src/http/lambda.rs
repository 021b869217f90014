//! What only the Lambda front door needs on top of the shared router.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use lambda_http::lambda_runtime::LambdaInvocation;
use lambda_http::{Request, RequestExt};

use super::error::ApiError;

/// lambda_http puts the API Gateway stage in front of the path (`/prod/api/chat`); the routes
/// are stage-agnostic, so route on the path the client asked for, query string kept.
pub fn route_on_raw_path(mut request: Request) -> Request {
    let raw = request.raw_http_path();
    if raw.starts_with('/') {
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{raw}{query}").parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// lambda_http panics on an event whose body is marked base64 but is not
/// (`aws_lambda_events`' `Body::from_maybe_encoded`). API Gateway and function URLs encode
/// bodies themselves, but a function may be invoked with any event; such a body is dropped
/// before lambda_http reads the event, so the request is answered as one without a body (400
/// where a body is needed) instead of failing the invocation with the library's panic.
#[derive(Clone)]
pub struct UndecodableBodiesDropped<S>(pub S);

impl<S> tower::Service<LambdaInvocation> for UndecodableBodiesDropped<S>
where
    S: tower::Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        invocation.body = without_undecodable_body(invocation.body);
        self.0.call(invocation)
    }
}

/// The event, with a body marked base64 that does not decode replaced by none.
fn without_undecodable_body(event: Bytes) -> Bytes {
    use base64::Engine;
    // Every proxy event has the key; only one where it is `true` is read a second time.
    if !says_base64(&event) {
        return event;
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&event) else {
        return event;
    };
    let marked = value.get(MARK_KEY).and_then(serde_json::Value::as_bool) == Some(true);
    let decodes = value
        .get("body")
        .and_then(serde_json::Value::as_str)
        .is_none_or(|body| {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .is_ok()
        });
    if !marked || decodes {
        return event;
    }
    value["body"] = serde_json::Value::Null;
    value[MARK_KEY] = serde_json::Value::Bool(false);
    serde_json::to_vec(&value).map_or(event, Bytes::from)
}

const MARK_KEY: &str = "isBase64Encoded";

/// Whether `"isBase64Encoded": true` appears in the event's text, spaces allowed.
fn says_base64(event: &[u8]) -> bool {
    let key = MARK_KEY.as_bytes();
    let mut rest = event;
    while let Some(at) = rest.windows(key.len()).position(|window| window == key) {
        let quoted = at > 0 && rest[at - 1] == b'"';
        rest = &rest[at + key.len()..];
        let Some(after) = rest.strip_prefix(b"\"").filter(|_| quoted) else {
            continue;
        };
        let value = after.trim_ascii_start();
        if let Some(value) = value.strip_prefix(b":") {
            if value.trim_ascii_start().starts_with(b"true") {
                return true;
            }
        }
    }
    false
}

/// The response with its body collected, for the front door that API Gateway answers whole.
/// lambda_http's `runtime`, which takes the layer above, needs a response body that is `Sync`,
/// which the router's is not; lambda_http collected it all the same.
pub async fn whole(response: Response) -> axum::http::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    match body.collect().await {
        Ok(body) => axum::http::Response::from_parts(parts, Full::new(body.to_bytes())),
        Err(error) => {
            tracing::error!(%error, "the response body failed; answering 500");
            let (parts, body) = ApiError::internal().into_response().into_parts();
            // A JSON body already in memory does not fail.
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            axum::http::Response::from_parts(parts, Full::new(body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_event_that_says_base64_is_read_again() {
        assert!(says_base64(br#"{"body":"x","isBase64Encoded":true}"#));
        assert!(says_base64(b"{\"isBase64Encoded\" :\n true}"));
        assert!(!says_base64(
            br#"{"body":"isBase64Encoded","isBase64Encoded":false}"#
        ));
        assert!(!says_base64(br#"{"isBase64Encoded":false}"#));
    }
}
