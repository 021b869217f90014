//! The construct library: one module per AWS service over the Terraform document layer.
//!
//! Each service module has the resource blocks it writes (serialized field-for-field as the
//! AWS provider's arguments) and constructs made as `Construct::new(&scope, id, props)`:
//! props with secure defaults, typed handles for what other constructs reference, and
//! `grant_*` methods that add exact-ARN statements to a [`Grantee`]'s role. [`checks`] runs
//! over the finished tree.

pub mod acm;
pub mod apigateway;
pub mod bedrock;
pub mod budgets;
pub mod checks;
pub mod cloudfront;
pub mod cloudwatch;
mod core;
pub mod dynamodb;
pub mod ec2;
pub mod ecr;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod route53;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod wafv2;

mod stack;

pub use self::core::{AttributeSource, CodeAsset, Id, Problem, Scope};
pub use self::iam::Grantee;
pub use self::stack::{Assembly, Stack, StackProps, AWS_PROVIDER_VERSION, REQUIRED_VERSION};

#[cfg(test)]
pub(crate) mod testing {
    use super::{Stack, StackProps};

    /// An empty stack `test` in eu-west-1.
    pub fn stack() -> Stack {
        Stack::new(
            "test",
            StackProps {
                region: "eu-west-1".into(),
                ..StackProps::default()
            },
        )
    }

    /// The finished stack as JSON; panics on any check problem.
    pub fn json_of(stack: Stack) -> serde_json::Value {
        let assembly = stack.finish();
        assert!(assembly.problems.is_empty(), "{:?}", assembly.problems);
        assembly.doc.to_json("test").expect("json")
    }
}
