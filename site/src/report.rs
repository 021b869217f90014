//! What a build wrote, as whoever serves it reads it: `publish` uploads exactly these files with
//! these headers, and `eve-server --site-dir` serves them the same way.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::REPORT_FILE;

/// One file of the built site, as the publish step needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteFile {
    /// Path relative to the site root with `/` separators, e.g. `assets/site.3f2a9c1b0d.css`.
    pub path: String,
    pub content_type: String,
    /// True when the name carries a content hash: the bytes behind this name never change.
    pub immutable: bool,
    pub bytes: u64,
}

impl SiteFile {
    /// The `Cache-Control` this file is served with. Pages revalidate on every visit, so a new
    /// deploy shows at once (a cached page would link hashed assets the deploy removed); hashed
    /// names are cached for a year; anything else for five minutes.
    pub fn cache_control(&self) -> &'static str {
        if self.content_type.starts_with("text/html") {
            "no-cache"
        } else if self.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=300, must-revalidate"
        }
    }
}

/// What a build wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Every file to publish, sorted by path. Excludes the build's own files
    /// ([`crate::BUILD_FILES`]).
    pub files: Vec<SiteFile>,
    /// The Content-Security-Policy the pages were written for.
    pub content_security_policy: String,
}

/// Why the report in a built folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Where it goes wrong, in our words: serde's own text names the Rust type it wanted.
    #[error(
        "{path} is not a build report (line {line}, column {column}): it is not what \
         `infra-synth site` writes"
    )]
    Invalid {
        path: String,
        line: usize,
        column: usize,
    },
}

impl BuildReport {
    /// The report a build left in `dir`, or `None` when there is none (not a built folder).
    pub fn read(dir: &Path) -> Result<Option<BuildReport>, ReportError> {
        let path = dir.join(REPORT_FILE);
        let shown = || path.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReportError::Read {
                    path: shown(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| ReportError::Invalid {
                path: shown(),
                line: error.line(),
                column: error.column(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content_type: &str, immutable: bool) -> SiteFile {
        SiteFile {
            path: path.into(),
            content_type: content_type.into(),
            immutable,
            bytes: 1,
        }
    }

    #[test]
    fn pages_revalidate_and_hashed_assets_are_immutable() {
        assert_eq!(
            file("index.html", "text/html; charset=utf-8", false).cache_control(),
            "no-cache"
        );
        assert_eq!(
            file("assets/site.0123456789.css", "text/css", true).cache_control(),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            file("robots.txt", "text/plain; charset=utf-8", false).cache_control(),
            "public, max-age=300, must-revalidate"
        );
    }

    #[test]
    fn a_folder_without_a_report_has_none_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(BuildReport::read(dir.path()), Ok(None)));
        let path = dir.path().join(REPORT_FILE);
        for (text, line, column) in [("{\"files\": 3}", 1, 11), ("\n null", 2, 5)] {
            std::fs::write(&path, text).expect("write");
            let error = BuildReport::read(dir.path()).expect_err("not a report");
            // The whole chain, as the front doors print it: our words, not serde's (which
            // named the Rust type it wanted).
            let mut chain = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            assert_eq!(
                chain,
                format!(
                    "{} is not a build report (line {line}, column {column}): it is not what \
                     `infra-synth site` writes",
                    path.display()
                )
            );
        }
    }
}
