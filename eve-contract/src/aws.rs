//! The AWS APIs EVE's adapters use, once: EVE's crate depends on exactly these SDKs (a test
//! there holds it), and the stack gives a function in a private network an endpoint for each
//! and no other way out.

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
