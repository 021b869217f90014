//! The applied record kept next to the Terraform state: the `main.tf.json` of the last
//! successful apply, in the state bucket `bootstrap` made (versioned, encrypted), so `diff`
//! answers the same on every machine, including a CI runner that never applied anything.

use anyhow::{Context, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::aws::{sdk_error, AwsTarget};

/// The record's key: beside `terraform.tfstate` under the same prefix.
pub fn record_key(state_key: &str) -> String {
    match state_key.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/last-applied.json"),
        None => "last-applied.json".to_owned(),
    }
}

/// Whether the SDK finds credentials at all (environment, profile, SSO, instance role).
pub async fn has_credentials(target: &AwsTarget) -> bool {
    let config = target.sdk_config().await;
    match config.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.is_ok(),
        None => false,
    }
}

pub async fn put(target: &AwsTarget, bucket: &str, key: &str, main_tf_json: &str) -> Result<()> {
    target
        .s3()
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(main_tf_json.as_bytes().to_vec()))
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("cannot write the applied record s3://{bucket}/{key}"))?;
    Ok(())
}

/// The record, or `None` when nothing was applied yet.
pub async fn get(target: &AwsTarget, bucket: &str, key: &str) -> Result<Option<String>> {
    let answer = target
        .s3()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    let object = match answer {
        Ok(object) => object,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            return Ok(None)
        }
        Err(error) => {
            return Err(sdk_error(error))
                .with_context(|| format!("cannot read the applied record s3://{bucket}/{key}"))
        }
    };
    let bytes = object
        .body
        .collect()
        .await
        .with_context(|| format!("cannot read the applied record s3://{bucket}/{key}"))?
        .into_bytes();
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .with_context(|| format!("s3://{bucket}/{key} is not UTF-8"))
}

/// Removes the record after a destroy (older versions stay in the versioned bucket).
pub async fn delete(target: &AwsTarget, bucket: &str, key: &str) -> Result<()> {
    target
        .s3()
        .await
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("cannot remove the applied record s3://{bucket}/{key}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_sits_beside_the_state() {
        assert_eq!(
            record_key("cloudforgex/prod/terraform.tfstate"),
            "cloudforgex/prod/last-applied.json"
        );
    }
}
