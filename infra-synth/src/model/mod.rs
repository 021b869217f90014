//! The stack's AWS resources as typed Rust, one module per service.
//!
//! Each module defines the resource structs it needs (serialized field-for-field as the AWS
//! provider's arguments), typed accessors on `Ref<T>` for the attributes other services use,
//! and a builder that adds that service's part of the stack to a [`crate::tf::Document`].

pub mod acm;
pub mod apigateway;
pub mod cloudfront;
pub mod cloudwatch;
pub mod dynamodb;
pub mod ecr;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod route53;
pub mod s3;
pub mod ssm;
