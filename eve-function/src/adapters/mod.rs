//! Port implementations: AWS services for deployments, memory for local runs; doubles for tests.

pub mod bedrock;
#[cfg(test)]
pub mod doubles;
pub mod dynamodb;
pub mod memory;
pub mod s3;
pub mod ssm;
