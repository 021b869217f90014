//! CSS, JS and the icon, embedded and renamed with a hash of their bytes for cache-busting.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Output;

/// Source name → bytes, as shipped in `site/assets/`.
const SOURCES: [(&str, &str); 3] = [
    ("site.css", include_str!("../../assets/site.css")),
    ("eve.js", include_str!("../../assets/eve.js")),
    ("favicon.svg", include_str!("../../assets/favicon.svg")),
];

/// The root-relative URLs pages link to; root-relative so `404.html` works at any depth.
#[derive(Debug, Clone, Serialize)]
pub(super) struct AssetUrls {
    pub css: String,
    pub js: String,
    pub favicon: String,
}

pub(super) struct HashedAssets {
    pub urls: AssetUrls,
    files: Vec<(String, &'static str)>,
}

impl HashedAssets {
    pub fn files(&self) -> impl Iterator<Item = Output> + '_ {
        self.files.iter().map(|(path, body)| Output {
            path: path.clone(),
            body: body.as_bytes().to_vec(),
            immutable: true,
        })
    }
}

/// `site.css` → `assets/site.<first 10 hex of sha256>.css`.
pub(super) fn hashed_name(name: &str, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    format!("assets/{stem}.{}.{ext}", &digest[..10])
}

pub(super) fn hashed() -> HashedAssets {
    let files: Vec<(String, &'static str)> = SOURCES
        .iter()
        .map(|(name, body)| (hashed_name(name, body.as_bytes()), *body))
        .collect();
    let url = |i: usize| format!("/{}", files[i].0);
    HashedAssets {
        urls: AssetUrls {
            css: url(0),
            js: url(1),
            favicon: url(2),
        },
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_carries_first_ten_hex_of_sha256() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(
            hashed_name("site.css", b"abc"),
            "assets/site.ba7816bf8f.css"
        );
    }
}
