//! The portfolio: one content file that is the single source for the rendered site and for
//! EVE's knowledge. `content` is the typed model, `headers` the one set of security headers;
//! `render` (feature `render`) builds the site, and `report` is what a build wrote, as whoever
//! serves it reads it; `text` says what shows as text.

pub mod content;
pub mod headers;
#[cfg(feature = "render")]
pub mod render;
pub mod report;
pub mod text;

pub use content::{Content, DEFAULT_CONTENT_PATH};
pub use headers::CONTENT_SECURITY_POLICY;

/// The file a build writes beside the pages holding [`CONTENT_SECURITY_POLICY`]; not a page,
/// never published.
pub const CSP_FILE: &str = "_csp.txt";
/// The build report as JSON; a rebuild reads it to delete files the previous build wrote.
pub const REPORT_FILE: &str = "_build.json";
/// The files a build writes for itself beside the pages: whoever serves a built folder serves
/// everything but these (and hidden files), as `publish` uploads it.
pub const BUILD_FILES: [&str; 2] = [CSP_FILE, REPORT_FILE];
