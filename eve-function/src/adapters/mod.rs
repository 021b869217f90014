//! Port implementations: AWS services for deployments, memory for local runs; doubles for tests.

pub mod bedrock;
#[cfg(test)]
pub mod doubles;
pub mod dynamodb;
pub mod memory;
pub mod s3;
pub mod ssm;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::de::IgnoredAny;

    #[derive(serde::Deserialize)]
    struct Manifest {
        dependencies: BTreeMap<String, IgnoredAny>,
    }

    /// The private network gives EVE an endpoint per service in the contract and nothing
    /// else, so an adapter for a new AWS service must be added there too.
    #[test]
    fn every_aws_sdk_eve_depends_on_is_in_the_contract() {
        let source =
            config_diagnostics::TomlSource::parse("Cargo.toml", include_str!("../../Cargo.toml"))
                .expect("manifest parses");
        let manifest: Manifest = source.deserialize().expect("manifest has dependencies");
        let used: BTreeSet<&str> = manifest
            .dependencies
            .keys()
            .map(String::as_str)
            .filter(|name| name.starts_with("aws-sdk-"))
            .collect();
        let contract: BTreeSet<&str> = eve_contract::aws::SERVICES
            .iter()
            .map(|s| s.sdk_crate)
            .collect();
        assert_eq!(used, contract);
    }
}
