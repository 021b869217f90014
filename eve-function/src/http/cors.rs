//! CORS with exact-match origins from the live settings: allowed origins are echoed back,
//! every response varies on `Origin`, and preflights from other origins are refused.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::core::chat::Eve;

const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";
const PREFLIGHT_MAX_AGE_SECS: u32 = 600;

pub async fn cors(State(eve): State<Arc<Eve>>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = match origin.as_ref().and_then(|o| o.to_str().ok()) {
        Some(o) => eve.settings().await.allowed_origins.iter().any(|a| a == o),
        None => false,
    };
    let mut response = if request.method() == Method::OPTIONS {
        if origin.is_some() && !allowed {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "origin not allowed",
            )
            .into_response()
        } else {
            let mut ok = StatusCode::NO_CONTENT.into_response();
            ok.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
            if allowed {
                let h = ok.headers_mut();
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOWED_METHODS),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("content-type"),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from(PREFLIGHT_MAX_AGE_SECS),
                );
            }
            ok
        }
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(origin)) = (allowed, origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}
