//! CORS with exact-match origins from the live settings: allowed origins are echoed back,
//! every response varies on `Origin`, preflights from other origins are refused, and an allowed
//! preflight is told the methods of the route it asks about.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::core::chat::Eve;

const PREFLIGHT_MAX_AGE_SECS: u32 = 600;

/// A route's answer to `OPTIONS`: the methods it takes. The layer below adds the CORS headers
/// when the origin is allowed; a path that is no route is answered 404 by the router.
pub async fn preflight(allow: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

pub async fn cors(State(eve): State<Arc<Eve>>, request: Request, next: Next) -> Response {
    let sent = request.headers().contains_key(header::ORIGIN);
    let mut origins = request.headers().get_all(header::ORIGIN).iter();
    // Origin is one value (RFC 6454, 7.2): of two, a proxy in front may read the other one, and
    // behind the function URL they arrive joined into one that no origin matches. So two are
    // allowed nowhere, on both front doors.
    let origin = match (origins.next(), origins.next()) {
        (Some(only), None) => Some(only.clone()),
        _ => None,
    };
    let allowed = match origin.as_ref().and_then(|o| o.to_str().ok()) {
        Some(o) => eve.settings().allowed_origins.iter().any(|a| a == o),
        None => false,
    };
    let is_preflight = request.method() == Method::OPTIONS;
    let mut response = if is_preflight && sent && !allowed {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "origin not allowed",
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let answered = is_preflight && allowed && response.status() == StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if let (true, Some(methods)) = (answered, headers.get(header::ALLOW).cloned()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(PREFLIGHT_MAX_AGE_SECS),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(origin)) = (allowed, origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}
