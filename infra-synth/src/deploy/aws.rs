//! AWS SDK clients for one region, optionally pointed at an emulator endpoint.
//!
//! With an endpoint override (the local stack on moto), S3 uses path-style addressing because
//! `bucket.127.0.0.1` does not resolve, and dummy credentials are used when none are set.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata;

/// Which AWS to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    pub region: String,
    /// `Some(url)` for an emulator such as `http://127.0.0.1:5000`.
    pub endpoint_url: Option<String>,
}

impl AwsTarget {
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()));
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(Credentials::new(
                    "testing", "testing", None, None, "emulator",
                ));
            }
        }
        loader.load().await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(self.endpoint_url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub async fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk_config().await)
    }
}

/// Runs one async AWS step from a synchronous command.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// An SDK error as `Code: message` from the service, else with its cause chain (the SDK's own
/// `Display` says only "service error").
pub fn sdk_error<E: std::error::Error + ProvideErrorMetadata>(err: E) -> anyhow::Error {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => anyhow::anyhow!("{code}: {message}"),
        _ => anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(err).to_string()),
    }
}
