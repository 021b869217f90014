//! Settings from SSM Parameter Store: every parameter directly under one path, decrypted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::Client;

use crate::core::ports::{PortError, SettingsSource};

pub struct SsmSettings {
    client: Client,
    /// Ends with `/`, e.g. `/cloudforgex/prod/`.
    path: String,
}

impl SsmSettings {
    pub fn new(client: Client, path: &str) -> Self {
        let path = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        Self { client, path }
    }
}

#[async_trait]
impl SettingsSource for SsmSettings {
    fn describe(&self) -> String {
        format!("ssm:{}", self.path)
    }

    async fn fetch(&self) -> Result<BTreeMap<String, String>, PortError> {
        let mut pages = self
            .client
            .get_parameters_by_path()
            .path(self.path.trim_end_matches('/'))
            .recursive(false)
            .with_decryption(true)
            .into_paginator()
            .send();
        let mut values = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| PortError::new("ssm", DisplayErrorContext(e)))?;
            for parameter in page.parameters() {
                let (Some(name), Some(value)) = (parameter.name(), parameter.value()) else {
                    continue;
                };
                if let Some(short) = name.strip_prefix(&self.path) {
                    values.insert(short.to_string(), value.to_string());
                }
            }
        }
        Ok(values)
    }
}
