//! Renders the static site from [`Content`]: handlebars templates in strict mode (a typo in a
//! template is a build error, not a blank spot on the page) and content-hashed CSS/JS/icon names
//! so CloudFront can cache them forever. Templates and assets are embedded in the binary, so every
//! build of `infra-synth` renders the same bytes from the same content.

mod assets;
mod pages;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::report::{BuildReport, SiteFile};
use crate::{Content, CONTENT_SECURITY_POLICY};
pub use crate::{CSP_FILE, REPORT_FILE};

/// Where the templates live in the workspace (what `BuildOptions::with_templates_dir` reads).
pub const DEFAULT_TEMPLATES_DIR: &str = "site/templates";

/// What the rendered pages need to know about where they will be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Absolute origin the site is served from, without a trailing slash, e.g.
    /// `https://alex.example.com` or `http://127.0.0.1:8080`. Canonical links, Open Graph
    /// URLs, `sitemap.xml` and `robots.txt` are built from it.
    base_url: String,
    /// Folder that site-relative media named in the content (the profile photo) is copied from.
    pub media_dir: Option<PathBuf>,
    /// Read the templates from this folder (laid out like `site/templates/`) instead of the
    /// copies compiled in.
    pub templates_dir: Option<PathBuf>,
}

impl BuildOptions {
    /// Validates `base_url` (an http or https origin: host and optional port, no path, since
    /// the pages link to their assets and to each other from the root) and drops a trailing `/`.
    pub fn new(base_url: &str) -> Result<Self, BuildError> {
        let trimmed = base_url.trim_end_matches('/');
        let authority = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        if !authority.is_some_and(is_host_and_port) {
            return Err(BuildError::BaseUrl(base_url.to_string()));
        }
        Ok(Self {
            base_url: trimmed.to_string(),
            media_dir: None,
            templates_dir: None,
        })
    }

    pub fn with_media_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.media_dir = Some(dir.into());
        self
    }

    pub fn with_templates_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.templates_dir = Some(dir.into());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// `host` or `host:port`; an IPv6 host is an address in brackets (the one place a colon goes in
/// a host). Port 0 passes: `dev --listen 127.0.0.1:0` renders before the port is picked.
fn is_host_and_port(authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_is_valid = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ipv6) => ipv6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~%".contains(c))
        }
    };
    host_is_valid
        && port.is_none_or(|port| {
            port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
        })
}

/// Each error names what failed; its cause is its `source()`, which every caller prints after
/// it (anyhow's chain), so the message does not repeat it.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "base URL `{0}` must be an http:// or https:// origin such as https://alex.example.com"
    )]
    BaseUrl(String),
    #[error("invalid template")]
    Template(#[from] Box<handlebars::TemplateError>),
    #[error("cannot read the template {path}")]
    TemplateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot render {page}")]
    Render {
        page: String,
        #[source]
        source: Box<handlebars::RenderError>,
    },
    #[error("profile.photo `{path}` cannot be read from {dir}")]
    Media {
        path: String,
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("profile.photo is set but the build has no media folder to copy it from")]
    NoMediaDir,
    #[error("cannot encode the build report")]
    Report(#[from] serde_json::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A rendered file before it is written.
struct Output {
    path: String,
    body: Vec<u8>,
    immutable: bool,
}

/// Renders the whole site for `content` into `out_dir`, replacing what a previous build wrote there
/// (files listed in its [`REPORT_FILE`]); other files in `out_dir` are left alone.
pub fn build(
    content: &Content,
    opts: &BuildOptions,
    out_dir: &Path,
) -> Result<BuildReport, BuildError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(BuildError::Write {
            path: out_dir.to_path_buf(),
            source: std::io::Error::other("it is a file, and the site is written into a folder"),
        });
    }
    let (outputs, report) = render(content, opts)?;
    remove_stale(out_dir, &report);
    for output in &outputs {
        write(&out_dir.join(&output.path), &output.body)?;
    }
    write(
        &out_dir.join(CSP_FILE),
        format!("{CONTENT_SECURITY_POLICY}\n").as_bytes(),
    )?;
    write(
        &out_dir.join(REPORT_FILE),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(report)
}

/// What [`build`] would write, without writing it: the files and their sizes (what a visit
/// downloads, for `infra-synth cost`).
pub fn report(content: &Content, opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    render(content, opts).map(|(_, report)| report)
}

/// The largest profile photo a build copies: every first visit downloads it, and a portrait for
/// the page needs a fraction of this.
pub const MAX_PHOTO_BYTES: u64 = 5 << 20;

/// Every file of the site, sorted by path, and the report listing them.
fn render(
    content: &Content,
    opts: &BuildOptions,
) -> Result<(Vec<Output>, BuildReport), BuildError> {
    let assets = assets::hashed();
    let mut outputs = pages::render_all(content, opts, &assets)?;
    outputs.extend(assets.files());
    if let Some(photo) = &content.profile.photo {
        let dir = opts.media_dir.as_ref().ok_or(BuildError::NoMediaDir)?;
        let path = dir.join(photo);
        let body = config_diagnostics::check_readable(&path, MAX_PHOTO_BYTES)
            .and_then(|()| std::fs::read(&path))
            .map_err(|source| BuildError::Media {
                path: photo.clone(),
                dir: dir.display().to_string(),
                source,
            })?;
        outputs.push(Output {
            path: photo.clone(),
            body,
            immutable: false,
        });
    }
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let report = BuildReport {
        files: outputs
            .iter()
            .map(|o| SiteFile {
                path: o.path.clone(),
                content_type: content_type(&o.path).to_string(),
                immutable: o.immutable,
                bytes: o.body.len() as u64,
            })
            .collect(),
        content_security_policy: CONTENT_SECURITY_POLICY.to_string(),
    };
    Ok((outputs, report))
}

/// Deletes files the previous build listed that this build no longer writes (old hashed assets).
fn remove_stale(out_dir: &Path, report: &BuildReport) {
    let Ok(Some(previous)) = BuildReport::read(out_dir) else {
        return;
    };
    let current: BTreeSet<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    for old in previous.files {
        let safe = !old.path.split('/').any(|seg| seg.is_empty() || seg == "..");
        if safe && !current.contains(old.path.as_str()) {
            // Already gone is fine: the goal is that it does not exist.
            let _ = std::fs::remove_file(out_dir.join(&old.path));
        }
    }
}

fn write(path: &Path, body: &[u8]) -> Result<(), BuildError> {
    let fail = |source| BuildError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, body).map_err(fail)
}

/// The `Content-Type` each kind of file is served with.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("xml") => "application/xml",
        Some("txt") => "text/plain; charset=utf-8",
        Some("webp") => "image/webp",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}
