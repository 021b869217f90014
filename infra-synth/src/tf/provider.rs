//! The `terraform` settings block and typed `provider "aws"` configurations.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Expr;

/// The `terraform` block: version constraints and the state backend.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settings {
    pub required_version: String,
    pub required_providers: BTreeMap<&'static str, RequiredProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequiredProvider {
    pub source: &'static str,
    pub version: String,
}

/// State in S3 with a lock file. The block cannot interpolate: bucket, key and region come
/// from `terraform init -backend-config=...`.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub s3: S3Backend,
}

#[derive(Debug, Clone, Serialize)]
pub struct S3Backend {
    pub use_lockfile: bool,
    pub encrypt: bool,
}

impl Backend {
    pub fn s3() -> Self {
        Backend {
            s3: S3Backend {
                use_lockfile: true,
                encrypt: true,
            },
        }
    }
}

/// One `provider "aws"` configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub region: String,
    pub default_tags: DefaultTags,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<Emulator>,
}

/// Tags every taggable resource of the provider gets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DefaultTags {
    pub tags: BTreeMap<String, Expr>,
}

/// Points every service at a local emulator with static test credentials and no account
/// or metadata lookups.
#[derive(Debug, Clone, Serialize)]
pub struct Emulator {
    pub endpoints: Vec<BTreeMap<&'static str, String>>,
    pub access_key: &'static str,
    pub secret_key: &'static str,
    pub skip_credentials_validation: bool,
    pub skip_requesting_account_id: bool,
    pub skip_metadata_api_check: bool,
    pub s3_use_path_style: bool,
}

impl Emulator {
    /// Every service in `services` at `endpoint`.
    pub fn at(endpoint: &str, services: &[&'static str]) -> Self {
        Emulator {
            endpoints: vec![services
                .iter()
                .map(|service| (*service, endpoint.to_string()))
                .collect()],
            access_key: "test",
            secret_key: "test",
            skip_credentials_validation: true,
            skip_requesting_account_id: true,
            skip_metadata_api_check: true,
            s3_use_path_style: true,
        }
    }
}

impl Provider {
    /// The provider's alias as a resource's `provider` argument (`None`: the default one).
    pub fn reference(&self) -> Option<super::ProviderRef> {
        self.alias.as_deref().map(super::ProviderRef::aws_alias)
    }
}
