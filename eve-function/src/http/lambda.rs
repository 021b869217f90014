//! What only the Lambda front door needs on top of the shared router.

use lambda_http::{Request, RequestExt};

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
