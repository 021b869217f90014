//! The portfolio: one content file that is the single source for the rendered site and for
//! EVE's knowledge. `content` is the typed model, `csp` the one Content-Security-Policy;
//! `render` (feature `render`) builds the site.

pub mod content;
pub mod csp;
#[cfg(feature = "render")]
pub mod render;

pub use content::{Content, DEFAULT_CONTENT_PATH};
pub use csp::CONTENT_SECURITY_POLICY;
