//! Uploads: the Lambda zip keyed by its hash, and the site synced to its bucket.
//!
//! The site sync uploads everything new first — hashed assets, then the HTML that references
//! them — and deletes objects the new version no longer has only at the end, so a visitor never
//! gets a page whose CSS is already gone. Objects carry their content sha256 as metadata, so an
//! unchanged file is not uploaded again.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use indicatif::{ProgressBar, ProgressStyle};
use portfolio::report::{BuildReport, SiteFile};

use super::aws::sdk_error;
use crate::digest::sha256_hex;

/// Object metadata key holding the sha256 of the body.
const SHA256_METADATA: &str = "sha256";

/// The object key of a Lambda package: content-addressed, so a key is never overwritten.
pub fn lambda_key(sha256_hex: &str) -> String {
    format!("eve/{sha256_hex}.zip")
}

/// Uploads the zip unless an object with that key (and so that content) already exists.
/// Returns whether it uploaded.
pub async fn upload_lambda(s3: &Client, bucket: &str, key: &str, zip: &Path) -> Result<bool> {
    if s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    let body = ByteStream::from_path(zip)
        .await
        .with_context(|| format!("cannot read {}", zip.display()))?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/zip")
        .body(body)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("cannot upload s3://{bucket}/{key}"))?;
    Ok(true)
}

/// What a site sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub uploaded: usize,
    pub unchanged: usize,
    pub deleted: usize,
}

/// Makes `bucket` hold exactly the files of `report` (read from `site_dir`).
pub async fn sync_site(
    s3: &Client,
    bucket: &str,
    site_dir: &Path,
    report: &BuildReport,
) -> Result<SyncReport> {
    let existing = list_keys(s3, bucket).await?;
    // Pages last: they reference the assets, which must be live first.
    let mut order: Vec<&SiteFile> = report.files.iter().collect();
    order.sort_by_key(|f| (f.content_type.starts_with("text/html"), f.path.as_str()));

    let progress = ProgressBar::new(order.len() as u64).with_style(
        ProgressStyle::with_template("publishing site {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut sync = SyncReport::default();
    for file in order {
        progress.set_message(file.path.clone());
        let path = site_dir.join(&file.path);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let sha256 = sha256_hex(&bytes);
        if existing.contains(&file.path)
            && remote_sha256(s3, bucket, &file.path).await == Some(sha256.clone())
        {
            sync.unchanged += 1;
        } else {
            s3.put_object()
                .bucket(bucket)
                .key(&file.path)
                .content_type(&file.content_type)
                .cache_control(file.cache_control())
                .metadata(SHA256_METADATA, sha256)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("cannot upload s3://{bucket}/{}", file.path))?;
            sync.uploaded += 1;
        }
        progress.inc(1);
    }
    progress.finish_and_clear();

    let wanted: BTreeSet<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    for stale in existing.iter().filter(|k| !wanted.contains(k.as_str())) {
        s3.delete_object()
            .bucket(bucket)
            .key(stale)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("cannot delete stale s3://{bucket}/{stale}"))?;
        sync.deleted += 1;
    }
    Ok(sync)
}

async fn remote_sha256(s3: &Client, bucket: &str, key: &str) -> Option<String> {
    let head = s3.head_object().bucket(bucket).key(key).send().await.ok()?;
    head.metadata()?.get(SHA256_METADATA).cloned()
}

async fn list_keys(s3: &Client, bucket: &str) -> Result<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(sdk_error)
            .with_context(|| format!("cannot list s3://{bucket}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_keys_are_content_addressed() {
        assert_eq!(lambda_key("abc"), "eve/abc.zip");
    }
}
