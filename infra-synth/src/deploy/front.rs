//! What `rehearse` checks a deployment through, beside the packaged function run by
//! `local_lambda`: a local front serving the site bucket at `/` and API Gateway proxy events at
//! `/api/*`, as CloudFront and API Gateway do.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use local_lambda::{rest_event, LocalFunction};

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
    let mut forwarded: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .filter(|(k, _)| *k != "origin" && *k != "host")
        .collect();
    forwarded.push(("origin", &front.site_url));
    forwarded.push(("host", front.site_url.trim_start_matches("https://")));
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
