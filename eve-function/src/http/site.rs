//! Serving the built site from a directory on the same origin as the API (`eve-server
//! --site-dir`), with the one Content-Security-Policy on HTML, the headers its build report
//! gives each file, and the site's own 404 page.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use portfolio::headers;
use portfolio::report::BuildReport;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_status::SetStatus;

use super::error::ApiError;

/// A built site's folder served as `publish` uploads it and CloudFront serves it: the files
/// the build wrote for visitors, each with the Content-Type and Cache-Control its build report
/// gives, `index.html` at `/` (CloudFront's default root object, and the only folder that has
/// a page), and the site's 404 page for anything else: other folders (with no redirect that
/// shows they exist), files the report does not list, hidden files (`.env`, `.git/`) and the
/// build's own files beside the pages ([`portfolio::BUILD_FILES`]). A folder without a report
/// (not built by `infra-synth site build`) is served whole, without those headers.
#[derive(Clone, Debug)]
pub struct Site {
    files: ServeDir<SetStatus<ServeFile>>,
    not_found: SetStatus<ServeFile>,
    /// What the build report lists; `None` for a folder without one.
    report: Option<Arc<Listing>>,
}

/// The files a build report lists, by path in the site, with the headers each is uploaded
/// with. A path it does not list sends it back to the report, which a rebuild (`infra-synth
/// dev --watch`) may have changed since.
#[derive(Debug)]
struct Listing {
    dir: PathBuf,
    files: RwLock<Arc<HashMap<String, Published>>>,
}

/// The headers `publish` uploads a file with.
#[derive(Debug)]
struct Published {
    content_type: HeaderValue,
    cache_control: HeaderValue,
}

impl Listing {
    /// The headers of the file at `path`, if the report lists it.
    fn find(&self, path: &str) -> Option<Arc<HashMap<String, Published>>> {
        let files = self.current();
        if files.contains_key(path) {
            return Some(files);
        }
        // Read again: a report half-written by a rebuild in progress keeps the last one.
        let Ok(Some(report)) = BuildReport::read(&self.dir) else {
            return None;
        };
        let Ok(files) = listed(&self.dir, report) else {
            return None;
        };
        let files = Arc::new(files);
        match self.files.write() {
            Ok(mut current) => *current = Arc::clone(&files),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&files),
        }
        files.contains_key(path).then_some(files)
    }

    fn current(&self) -> Arc<HashMap<String, Published>> {
        match self.files.read() {
            Ok(files) => Arc::clone(&files),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// The headers of each file `report` lists.
fn listed(dir: &Path, report: BuildReport) -> anyhow::Result<HashMap<String, Published>> {
    let mut files = HashMap::with_capacity(report.files.len());
    for file in report.files {
        let content_type = HeaderValue::try_from(&file.content_type).with_context(|| {
            format!(
                "{}: the content type of {} is not a header value",
                dir.join(portfolio::REPORT_FILE).display(),
                file.path
            )
        })?;
        let cache_control = HeaderValue::from_static(file.cache_control());
        files.insert(
            file.path,
            Published {
                content_type,
                cache_control,
            },
        );
    }
    Ok(files)
}

impl Site {
    /// The site in `dir`; an error when its build report cannot be read.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let page = ServeFile::new(dir.join("404.html"));
        let report = match BuildReport::read(dir)? {
            Some(report) => Some(Arc::new(Listing {
                dir: dir.to_path_buf(),
                files: RwLock::new(Arc::new(listed(dir, report)?)),
            })),
            None => {
                tracing::warn!(
                    dir = %dir.display(),
                    "no {} in the site folder (not built by `infra-synth site build`): serving \
                     every file in it, without the Cache-Control publish gives them",
                    portfolio::REPORT_FILE
                );
                None
            }
        };
        Ok(Site {
            not_found: SetStatus::new(page.clone(), StatusCode::NOT_FOUND),
            // It sets the 404 status itself.
            files: ServeDir::new(dir)
                .append_index_html_on_directories(false)
                // It cannot send several ranges as one multipart body; the whole file then.
                .ignore_multi_range_requests(true)
                .not_found_service(page),
            report,
        })
    }

    pub async fn serve(self, mut request: Request) -> Response {
        // Whether or not a file is there, as CloudFront's behaviour for the site allows no
        // other method. (Left to the file server, the 404 service turned its 405 into a 404.)
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut refused = ApiError::method_not_allowed().into_response();
            refused
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(FILE_METHODS));
            return refused;
        }
        only_byte_ranges(&mut request);
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
        let path = percent_decode_str(request.uri().path())
            .decode_utf8_lossy()
            .into_owned();
        let file = path.strip_prefix('/').unwrap_or(&path);
        // Served: with the report's headers, or without them when there is no report.
        let served_with = match &self.report {
            _ if !is_published(&path) => None,
            Some(report) => report.find(file).map(Some),
            None => Some(None),
        };
        let served = match served_with {
            Some(files) => self.files.oneshot(request).await.map(|response| {
                let published = files.as_deref().and_then(|files| files.get(file));
                with_published_headers(response.into_response(), published)
            }),
            None => self
                .not_found
                .oneshot(request)
                .await
                .map(IntoResponse::into_response),
        };
        match served {
            Ok(response) => with_error_body(response),
            Err(never) => match never {},
        }
    }
}

/// A file's response with the headers its build gives it: both on the file (200, 206), the
/// Cache-Control alone on a revalidation (304), which carries no content.
fn with_published_headers(mut response: Response, published: Option<&Published>) -> Response {
    let Some(published) = published else {
        return response;
    };
    let status = response.status();
    let headers = response.headers_mut();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        headers.insert(header::CACHE_CONTROL, published.cache_control.clone());
    }
    if status.is_success() {
        headers.insert(header::CONTENT_TYPE, published.content_type.clone());
    }
    response
}

/// What `/` serves.
const HOME_PAGE: &str = "/index.html";

/// The methods the site answers, as the file server lists them in `Allow`.
const FILE_METHODS: &str = "GET,HEAD";

/// A `Range` in a unit other than bytes is ignored, as RFC 9110 (14.2) requires, and the whole
/// file sent; `bytes` is read without regard to case, which the file server does not do.
fn only_byte_ranges(request: &mut Request) {
    let Some(range) = request.headers().get(header::RANGE) else {
        return;
    };
    let ranges = range
        .to_str()
        .ok()
        .and_then(|range| range.split_once('='))
        .filter(|(unit, _)| unit.eq_ignore_ascii_case("bytes"))
        .map(|(_, ranges)| format!("bytes={ranges}"))
        .and_then(|ranges| HeaderValue::try_from(ranges).ok());
    match ranges {
        Some(ranges) => request.headers_mut().insert(header::RANGE, ranges),
        None => request.headers_mut().remove(header::RANGE),
    };
}

/// The file server answers a byte range it cannot send (416) with no body, a missing 404 page
/// with a bare 404, and a file it cannot read with a bare 500; they get the API's error shape,
/// with the file server's `Content-Range` kept. The 404 page is left as it is. (It is never
/// asked to refuse a method: [`Site::serve`] does that first.)
fn with_error_body(response: Response) -> Response {
    let status = response.status();
    let empty = axum::body::HttpBody::size_hint(response.body()).exact() == Some(0);
    if status.as_u16() < 400 || !empty {
        return response;
    }
    let error = match status {
        StatusCode::RANGE_NOT_SATISFIABLE => ApiError::new(
            status,
            "range_not_satisfiable",
            "the Range header names no part of this file (its size is in Content-Range)",
        ),
        StatusCode::NOT_FOUND => ApiError::not_found(),
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

/// Whether a request path, percent-decoded as the file server decodes it, may name a published
/// file: no segment is hidden (but `.well-known`, public by definition: RFC 8615) or one of the
/// build's own files.
fn is_published(path: &str) -> bool {
    path.split(['/', '\\']).all(|segment| {
        (segment == ".well-known" || !segment.starts_with('.'))
            && !portfolio::BUILD_FILES.contains(&segment)
    })
}

/// The security headers every response carries, whoever answers it: the router, or hyper
/// refusing a request it could not parse ([`super::serve`]).
pub const EVERY_RESPONSE: [(header::HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, headers::REFERRER_POLICY),
    (
        header::STRICT_TRANSPORT_SECURITY,
        headers::STRICT_TRANSPORT_SECURITY,
    ),
];

/// The headers of a page, as CloudFront's response headers policy gives them.
const EVERY_PAGE: [(header::HeaderName, &str); 3] = [
    (
        header::CONTENT_SECURITY_POLICY,
        headers::CONTENT_SECURITY_POLICY,
    ),
    (header::X_FRAME_OPTIONS, headers::FRAME_OPTIONS),
    (
        header::HeaderName::from_static("permissions-policy"),
        headers::PERMISSIONS_POLICY,
    ),
];

/// Security headers on every response; the CSP on HTML, where it means something.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    for (name, value) in EVERY_RESPONSE {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if is_html {
        for (name, value) in EVERY_PAGE {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As [`Site::serve`] asks it: of the path percent-decoded.
    fn published(path: &str) -> bool {
        is_published(&percent_decode_str(path).decode_utf8_lossy())
    }

    #[test]
    fn hidden_and_build_files_are_not_published() {
        for path in [
            "/",
            "/index.html",
            "/assets/site.3c7ae067bc.css",
            "/robots.txt",
            "/.well-known/security.txt",
        ] {
            assert!(published(path), "{path}");
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
            assert!(!published(path), "{path}");
        }
    }
}
