//! Lambda: EVE's function, its log group, its least-privilege role and API Gateway's permission.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cloudwatch::LogGroup;
use super::dynamodb::Table;
use super::iam::{self, CallerIdentity, RolePolicyAttachment, Statement};
use super::kms::Key;
use super::s3::Bucket;
use super::ssm::Parameter;
use crate::config::Stack;
use crate::tf::{Block, Dependency, Document, Expr, Ref, Variable};

/// Terraform variables for the code artifact, known only after `package` runs.
pub const ARTIFACT_BUCKET_VAR: &str = "artifact_bucket";
pub const PACKAGE_KEY_VAR: &str = "lambda_package_key";
pub const PACKAGE_SHA256_VAR: &str = "lambda_package_sha256";

/// X-Ray has no resource-level permissions, so tracing uses AWS's write-only managed policy
/// instead of a statement of ours with a `*` resource.
pub const XRAY_WRITE_POLICY_ARN: &str = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess";

#[derive(Debug, Clone, Serialize)]
pub struct Function {
    pub function_name: String,
    /// The stack key encrypts the environment at rest.
    pub kms_key_arn: Expr,
    pub description: &'static str,
    pub role: Expr,
    pub runtime: &'static str,
    pub handler: &'static str,
    pub architectures: Vec<&'static str>,
    pub memory_size: u32,
    pub timeout: u32,
    pub reserved_concurrent_executions: u32,
    pub s3_bucket: Expr,
    pub s3_key: Expr,
    pub source_code_hash: Expr,
    pub tracing_config: TracingConfig,
    pub logging_config: LoggingConfig,
    pub environment: Environment,
    pub depends_on: Vec<Dependency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TracingConfig {
    pub mode: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggingConfig {
    pub log_format: &'static str,
    pub log_group: Expr,
}

/// Non-secret only: where the settings live and which stage this is.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub variables: BTreeMap<&'static str, String>,
}

impl Block for Function {
    const TYPE: &'static str = "aws_lambda_function";
}

impl Ref<Function> {
    pub fn function_name(&self) -> Expr {
        self.attr("function_name")
    }

    pub fn invoke_arn(&self) -> Expr {
        self.attr("invoke_arn")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    pub statement_id: &'static str,
    pub action: &'static str,
    pub function_name: Expr,
    pub principal: &'static str,
    pub source_arn: Expr,
}

impl Block for Permission {
    const TYPE: &'static str = "aws_lambda_permission";
}

/// What EVE's policy grants access to; every entry is one exact ARN.
pub struct Grants<'a> {
    pub account: &'a Ref<CallerIdentity>,
    pub table: &'a Ref<Table>,
    pub certificates: &'a Ref<Bucket>,
    pub log_group: &'a Ref<LogGroup>,
    pub key: &'a Ref<Key>,
}

/// The statements of EVE's execution policy.
pub fn execution_statements(stack: &Stack, grants: &Grants<'_>) -> Vec<Statement> {
    let account = grants.account.account_id();
    let region = &stack.region;
    let ssm_path_arn = |suffix: &str| {
        Expr::concat([
            &Expr::lit(format!("arn:aws:ssm:{region}:")),
            &account,
            &Expr::lit(format!(":parameter/{}/{}{suffix}", stack.app, stack.env)),
        ])
    };
    let mut statements = vec![
        Statement::allow(
            "Logs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![grants.log_group.streams_arn()],
        ),
        Statement::allow(
            "Conversations",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ],
            vec![grants.table.arn()],
        ),
        Statement::allow(
            "SettingsByPath",
            &["ssm:GetParametersByPath"],
            vec![ssm_path_arn(""), ssm_path_arn("/")],
        ),
        // The table, the SecureString settings and the certificate objects are all under
        // the stack key; DynamoDB and S3 encrypt and decrypt with it on EVE's behalf.
        Statement::allow(
            "StackKey",
            &[
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
            ],
            vec![grants.key.arn()],
        ),
    ];
    if !stack.certificate_keys.is_empty() {
        statements.push(Statement::allow(
            "CertificateObjects",
            &["s3:GetObject"],
            stack
                .certificate_keys
                .iter()
                .map(|key| grants.certificates.object_arn(key))
                .collect(),
        ));
    }
    if stack.eve.model_id != "offline" {
        statements.push(Statement::allow(
            "Bedrock",
            &[
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream",
            ],
            model_arns(stack, &account),
        ));
    }
    statements
}

/// An inference profile (`eu.anthropic...`) is invoked through its own ARN and routes to the
/// foundation model in each of its regions; a plain model id is the foundation model only.
fn model_arns(stack: &Stack, account: &Expr) -> Vec<Expr> {
    let id = &stack.eve.model_id;
    let is_profile = id.split('.').count() > 2;
    let foundation_id = if is_profile {
        id.split_once('.').map_or(id.as_str(), |(_, rest)| rest)
    } else {
        id.as_str()
    };
    let mut arns: Vec<Expr> = stack
        .model_regions()
        .iter()
        .map(|region| {
            Expr::lit(format!(
                "arn:aws:bedrock:{region}::foundation-model/{foundation_id}"
            ))
        })
        .collect();
    if is_profile {
        arns.push(Expr::concat([
            &Expr::lit(format!("arn:aws:bedrock:{}:", stack.region)),
            account,
            &Expr::lit(format!(":inference-profile/{id}")),
        ]));
    }
    arns
}

pub fn log_group(
    doc: &mut Document,
    stack: &Stack,
    key: &Ref<Key>,
) -> anyhow::Result<Ref<LogGroup>> {
    doc.add(
        "eve",
        LogGroup {
            name: format!("/aws/lambda/{}", stack.function_name()),
            retention_in_days: stack.lambda.log_retention_days,
            kms_key_id: key.arn(),
        },
    )
}

/// The function with its role and `statements` as its policy; the code comes from the
/// artifact variables.
pub fn function(
    doc: &mut Document,
    stack: &Stack,
    log_group: &Ref<LogGroup>,
    key: &Ref<Key>,
    settings: &[Ref<Parameter>],
    statements: Vec<Statement>,
) -> anyhow::Result<Ref<Function>> {
    let role = iam::service_role(
        doc,
        "eve",
        format!("{}-eve", stack.prefix()),
        "EVE's execution role: its table, settings, certificate objects, model and logs only",
        "lambda.amazonaws.com",
    )?;
    let policy = iam::inline_policy(
        doc,
        "eve",
        &role,
        format!("{}-eve", stack.prefix()),
        statements,
    )?;
    let xray = doc.add(
        "eve_xray",
        RolePolicyAttachment {
            role: role.name(),
            policy_arn: Expr::lit(XRAY_WRITE_POLICY_ARN),
        },
    )?;
    doc.add(
        "eve",
        Function {
            function_name: stack.function_name(),
            kms_key_arn: key.arn(),
            description: "EVE, the portfolio assistant",
            role: role.arn(),
            runtime: "provided.al2023",
            handler: "bootstrap",
            architectures: vec![stack.lambda.architecture.as_str()],
            memory_size: stack.lambda.memory_mb,
            timeout: stack.lambda.timeout_s,
            reserved_concurrent_executions: stack.lambda.reserved_concurrency,
            s3_bucket: Variable::reference(ARTIFACT_BUCKET_VAR),
            s3_key: Variable::reference(PACKAGE_KEY_VAR),
            source_code_hash: Variable::reference(PACKAGE_SHA256_VAR),
            tracing_config: TracingConfig { mode: "Active" },
            logging_config: LoggingConfig {
                log_format: "JSON",
                log_group: log_group.name(),
            },
            environment: Environment {
                variables: BTreeMap::from([
                    ("EVE_SSM_PATH", stack.ssm_path()),
                    ("EVE_STAGE", stack.env.clone()),
                ]),
            },
            // The role must be able to write logs and traces, and the settings must exist,
            // before the first invocation (EVE reads its settings by path, so nothing else
            // references them).
            depends_on: [policy.dependency(), xray.dependency()]
                .into_iter()
                .chain(settings.iter().map(Ref::dependency))
                .collect(),
        },
    )
}

/// Declares the artifact variables with defaults that validate, for `terraform validate`.
pub fn artifact_variables(doc: &mut Document, stack: &Stack) {
    doc.variables.insert(
        ARTIFACT_BUCKET_VAR.into(),
        Variable {
            kind: "string",
            description: "S3 bucket holding the Lambda package (created by `bootstrap`)",
            default: Some(stack.artifact_bucket_name()),
        },
    );
    doc.variables.insert(
        PACKAGE_KEY_VAR.into(),
        Variable {
            kind: "string",
            description: "Object key of the Lambda package zip (from `package`)",
            default: Some("eve/bootstrap.zip".into()),
        },
    );
    doc.variables.insert(
        PACKAGE_SHA256_VAR.into(),
        Variable {
            kind: "string",
            description: "Base64 SHA-256 of the package zip; a change redeploys the code",
            default: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{rules::wildcard_problems, test_stack};

    fn execution_policy_preview(stack: &Stack) -> Vec<Statement> {
        crate::synth::assemble(stack)
            .expect("assemble")
            .execution_policy
    }

    #[test]
    fn execution_policy_has_no_wildcards_and_exact_certificate_objects() {
        let mut stack = test_stack();
        stack.eve.model_id = "eu.anthropic.claude-3-haiku-20240307-v1:0".into();
        stack.eve.model_regions = vec!["eu-west-1".into(), "eu-central-1".into()];
        let statements = execution_policy_preview(&stack);
        for s in &statements {
            assert!(
                wildcard_problems(s).is_empty(),
                "{:?}",
                wildcard_problems(s)
            );
        }
        let certs = statements
            .iter()
            .find(|s| s.sid == "CertificateObjects")
            .expect("certs");
        assert_eq!(
            certs.resources[0].as_template(),
            "${aws_s3_bucket.certificates.arn}/certificates/a.pdf"
        );
        let bedrock = statements
            .iter()
            .find(|s| s.sid == "Bedrock")
            .expect("bedrock");
        let arns: Vec<&str> = bedrock.resources.iter().map(|r| r.as_template()).collect();
        assert_eq!(arns, [
            "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:eu-west-1:${data.aws_caller_identity.current.account_id}:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
        ]);
    }

    #[test]
    fn offline_model_grants_no_bedrock() {
        let statements = execution_policy_preview(&test_stack());
        assert!(statements.iter().all(|s| s.sid != "Bedrock"));
    }

    #[test]
    fn wildcard_action_is_reported() {
        let s = Statement::allow("Bad", &["s3:*"], vec![Expr::lit("arn:aws:s3:::x/*")]);
        let problems = wildcard_problems(&s);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
