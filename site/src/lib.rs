//! The portfolio: one content file that is the single source for the rendered site and for
//! EVE's knowledge. `content` is the typed model; `render` (feature `render`) builds the site.

pub mod content;

pub use content::{Content, DEFAULT_CONTENT_PATH};
