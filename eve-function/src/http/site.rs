//! Serving the built site from a directory on the same origin as the API (`eve-server
//! --site-dir`), with the one Content-Security-Policy on HTML and the site's own 404 page.

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_status::SetStatus;

use super::error::ApiError;

/// A built site's folder served as `publish` uploads it and CloudFront serves it: the files
/// the build wrote for visitors, `index.html` at `/` (CloudFront's default root object, and the
/// only folder that has a page), and the site's 404 page for anything else: other folders
/// (with no redirect that shows they exist), hidden files (`.env`, `.git/`) and the build's own
/// files beside the pages ([`portfolio::BUILD_FILES`]).
#[derive(Clone)]
pub struct Site {
    files: ServeDir<SetStatus<ServeFile>>,
    not_found: SetStatus<ServeFile>,
}

impl Site {
    pub fn new(dir: &Path) -> Self {
        let page = ServeFile::new(dir.join("404.html"));
        Site {
            not_found: SetStatus::new(page.clone(), StatusCode::NOT_FOUND),
            // It sets the 404 status itself.
            files: ServeDir::new(dir)
                .append_index_html_on_directories(false)
                .not_found_service(page),
        }
    }

    pub async fn serve(self, mut request: Request) -> Response {
        if request.uri().path() == "/" {
            let home = match request.uri().query() {
                Some(query) => format!("{HOME_PAGE}?{query}"),
                None => HOME_PAGE.to_string(),
            };
            // The query of a request that parsed parses again; kept as it came if not.
            if let Ok(uri) = home.parse() {
                *request.uri_mut() = uri;
            }
        }
        let served = if is_published(request.uri().path()) {
            self.files
                .oneshot(request)
                .await
                .map(IntoResponse::into_response)
        } else {
            self.not_found
                .oneshot(request)
                .await
                .map(IntoResponse::into_response)
        };
        match served {
            Ok(response) => with_error_body(response),
            Err(never) => match never {},
        }
    }
}

/// What `/` serves.
const HOME_PAGE: &str = "/index.html";

/// The file server answers a wrong method (405) and a range past the end (416) with no body,
/// and a file it cannot read with a bare 500; they get the API's error shape, with the file
/// server's headers (`Allow`, `Content-Range`) kept. The 404 page is left as it is.
fn with_error_body(response: Response) -> Response {
    let status = response.status();
    let empty = axum::body::HttpBody::size_hint(response.body()).exact() == Some(0);
    if status.as_u16() < 400 || !empty {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
        StatusCode::RANGE_NOT_SATISFIABLE => ApiError::new(
            status,
            "range_not_satisfiable",
            "the requested range lies outside the file (its size is in Content-Range)",
        ),
        _ if status.is_server_error() => ApiError::internal(),
        _ => ApiError::new(status, "bad_request", "the request cannot be served"),
    };
    let (mut parts, _) = response.into_parts();
    let (shaped, body) = error.into_response().into_parts();
    parts.status = shaped.status;
    for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
        match shaped.headers.get(&name) {
            Some(value) => parts.headers.insert(name, value.clone()),
            None => parts.headers.remove(name),
        };
    }
    Response::from_parts(parts, body)
}

/// Whether a request path may name a published file: no segment, once percent-decoded as the
/// file server decodes it, is hidden (but `.well-known`, public by definition: RFC 8615) or one
/// of the build's own files.
fn is_published(path: &str) -> bool {
    percent_decode_str(path)
        .decode_utf8_lossy()
        .split(['/', '\\'])
        .all(|segment| {
            (segment == ".well-known" || !segment.starts_with('.'))
                && !portfolio::BUILD_FILES.contains(&segment)
        })
}

/// Security headers on every response; the CSP on HTML, where it means something.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(portfolio::CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_build_files_are_not_published() {
        for path in [
            "/",
            "/index.html",
            "/assets/site.3c7ae067bc.css",
            "/robots.txt",
            "/.well-known/security.txt",
        ] {
            assert!(is_published(path), "{path}");
        }
        for path in [
            "/.env",
            "/%2eenv",
            "/.git/config",
            "/assets/.hidden",
            "/_build.json",
            "/%5Fbuild.json",
            "/_csp.txt",
            "/a\\.env",
            "/.well-known/../.env",
        ] {
            assert!(!is_published(path), "{path}");
        }
    }
}
