//! The AWS APIs EVE's adapters use, once: EVE's crate depends on exactly these SDKs (a test
//! there holds it), and the stack gives a function in a private network an endpoint for each
//! and no other way out. S3's bucket naming rule is here too: the stack names its buckets by it,
//! and EVE holds its certificates bucket setting to it.

/// How a private subnet reaches a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A route to the service's prefix list (S3 and DynamoDB; free).
    Gateway,
    /// A network interface per subnet with private DNS (billed per hour and AZ).
    Interface,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The AWS SDK crate of EVE's adapter.
    pub sdk_crate: &'static str,
    /// The VPC endpoint's service name after `com.amazonaws.<region>.`.
    pub endpoint_service: &'static str,
    pub endpoint: Endpoint,
    /// Called only when a model is configured (not with `model_id = "offline"`).
    pub only_with_model: bool,
}

/// Every service EVE calls: the conversations table, settings, the model, and S3 (which EVE
/// only presigns certificate links for, but its gateway endpoint is free).
pub const SERVICES: &[Service] = &[
    Service {
        sdk_crate: "aws-sdk-dynamodb",
        endpoint_service: "dynamodb",
        endpoint: Endpoint::Gateway,
        only_with_model: false,
    },
    Service {
        sdk_crate: "aws-sdk-s3",
        endpoint_service: "s3",
        endpoint: Endpoint::Gateway,
        only_with_model: false,
    },
    Service {
        sdk_crate: "aws-sdk-ssm",
        endpoint_service: "ssm",
        endpoint: Endpoint::Interface,
        only_with_model: false,
    },
    Service {
        sdk_crate: "aws-sdk-bedrockruntime",
        endpoint_service: "bedrock-runtime",
        endpoint: Endpoint::Interface,
        only_with_model: true,
    },
];

/// S3 general-purpose bucket naming rules: the stack's buckets are named by them, and EVE
/// refuses a certificates bucket that breaks them.
pub fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("must be 3-63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err("only lowercase letters, digits, dots and dashes are allowed");
    }
    let edges_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edges_ok(name.bytes().next()) || !edges_ok(name.bytes().last()) {
        return Err("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err("dots may not be adjacent to dots or dashes");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("must not look like an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.ends_with("-s3alias") {
        return Err("the prefixes xn--/sthree- and suffix -s3alias are reserved");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(check_bucket_name("cloudforgex-prod-site").is_ok());
        assert!(check_bucket_name("Upper-case").is_err());
        assert!(check_bucket_name("192.168.1.1").is_err());
        assert!(check_bucket_name("ab").is_err());
        assert!(check_bucket_name("a..b").is_err());
        assert!(check_bucket_name("-abc").is_err());
    }
}
