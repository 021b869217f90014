//! Certificates: the list from the content file, and short-lived download links for
//! allowlisted ids only.

use std::time::Duration;

use serde::Serialize;

use super::chat::Eve;
use super::settings::MAX_PRESIGN_SECONDS;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateSummary {
    pub id: String,
    pub title: String,
    pub issuer: String,
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateLink {
    pub url: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error(
        "certificate ids are 1-{} {}",
        portfolio::content::MAX_SLUG_LEN,
        portfolio::content::SLUG_CHARACTERS
    )]
    InvalidId,
    #[error("no certificate with that id")]
    NotFound,
    #[error("certificate downloads are unavailable")]
    Unavailable,
}

impl Eve {
    pub fn certificates(&self) -> Vec<CertificateSummary> {
        self.knowledge()
            .content()
            .certificates
            .iter()
            .map(|c| CertificateSummary {
                id: c.id.clone(),
                title: c.title.clone(),
                issuer: c.issuer.clone(),
                date: c.date.clone(),
            })
            .collect()
    }

    /// A presigned GET for an allowlisted certificate; the object key never comes from the caller.
    pub async fn certificate_link(&self, id: &str) -> Result<CertificateLink, CertificateError> {
        if !portfolio::content::is_slug(id) {
            return Err(CertificateError::InvalidId);
        }
        let knowledge = self.knowledge();
        let certificate = knowledge
            .content()
            .certificate(id)
            .ok_or(CertificateError::NotFound)?;
        let settings = self.settings();
        let (Some(bucket), Some(signer)) = (
            settings.certificates_bucket.as_deref(),
            self.deps.signer.as_deref(),
        ) else {
            return Err(CertificateError::Unavailable);
        };
        let expires_in = settings.presign_seconds.min(MAX_PRESIGN_SECONDS);
        let url = signer
            .presign(bucket, &certificate.file, Duration::from_secs(expires_in))
            .await
            .map_err(|error| {
                tracing::error!(%error, id, "presigning failed");
                CertificateError::Unavailable
            })?;
        Ok(CertificateLink { url, expires_in })
    }
}
