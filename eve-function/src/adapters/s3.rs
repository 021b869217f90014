//! Certificate downloads as presigned S3 GETs; the bucket stays private.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;

use crate::core::ports::{CertificateSigner, PortError};

pub struct S3Signer {
    client: Client,
}

impl S3Signer {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl CertificateSigner for S3Signer {
    async fn presign(
        &self,
        bucket: &str,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, PortError> {
        let config =
            PresigningConfig::expires_in(expires_in).map_err(|e| PortError::new("s3", e))?;
        let request = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| PortError::new("s3", DisplayErrorContext(e)))?;
        Ok(request.uri().to_string())
    }
}
