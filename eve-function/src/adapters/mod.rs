//! Port implementations: AWS services for deployments, memory for local runs and tests.

pub mod bedrock;
pub mod dynamodb;
pub mod memory;
pub mod s3;
pub mod ssm;
