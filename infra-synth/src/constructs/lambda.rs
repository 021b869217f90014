//! Lambda: functions with their own log group, role and code asset, invoke permissions, and
//! function URLs for signed callers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cloudwatch::{LogGroup, LogGroupProps, Source};
use super::core::CodeAsset;
use super::iam::Grantee;
use super::iam::{Role, RoleProps};
use super::kms::Key;
use super::{Id, Scope};
pub use crate::config::Architecture;
use crate::tf::{Block, Dependency, Expr, Field, Ref, Variable};

#[derive(Debug, Clone, Serialize)]
pub struct FunctionBlock {
    pub function_name: String,
    /// Encrypts the environment at rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<Expr>,
    pub description: &'static str,
    pub role: Expr,
    pub runtime: &'static str,
    pub handler: &'static str,
    pub architectures: Vec<&'static str>,
    pub memory_size: Field<u32>,
    pub timeout: Field<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<Field<u32>>,
    pub s3_bucket: Expr,
    pub s3_key: Expr,
    pub source_code_hash: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_config: Option<TracingConfig>,
    pub logging_config: LoggingConfig,
    pub environment: Environment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    pub depends_on: Vec<Dependency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VpcConfig {
    pub subnet_ids: Vec<Expr>,
    pub security_group_ids: Vec<Expr>,
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

/// Non-secret values only: secrets belong in the parameter store.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub variables: BTreeMap<&'static str, String>,
}

impl Block for FunctionBlock {
    const TYPE: &'static str = "aws_lambda_function";
}

#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    pub statement_id: String,
    pub action: &'static str,
    pub function_name: Expr,
    pub principal: &'static str,
    pub source_arn: Expr,
    /// Set on `lambda:InvokeFunctionUrl`: the URL's auth type the permission applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_url_auth_type: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionUrlBlock {
    pub function_name: Expr,
    pub authorization_type: &'static str,
    pub invoke_mode: &'static str,
}

impl Block for FunctionUrlBlock {
    const TYPE: &'static str = "aws_lambda_function_url";
}

/// How a function URL sends the function's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeMode {
    /// Whole, once the function has finished (at most 6 MB).
    Buffered,
    /// As the function writes it (`lambda_http::run_with_streaming_response`).
    ResponseStream,
}

impl InvokeMode {
    fn as_str(self) -> &'static str {
        match self {
            InvokeMode::Buffered => "BUFFERED",
            InvokeMode::ResponseStream => "RESPONSE_STREAM",
        }
    }
}

impl Block for Permission {
    const TYPE: &'static str = "aws_lambda_permission";
}

/// Where a function's code comes from: a zip the deploy step builds from a workspace binary,
/// uploads content-addressed to the artifact bucket, and passes to `plan` as variables.
#[derive(Debug, Clone)]
pub struct Code {
    /// The Cargo package and binary (the Lambda `bootstrap`).
    pub package: &'static str,
    pub binary: &'static str,
    /// Default of the bucket variable (the bucket `bootstrap` creates).
    pub artifact_bucket: String,
}

/// X-Ray has no resource-level permissions, so tracing uses AWS's write-only managed policy
/// instead of a statement of ours with a `*` resource.
pub const XRAY_WRITE_POLICY_ARN: &str = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess";

/// Creating and deleting the function's network interfaces needs `ec2:Describe*` on `*`;
/// AWS's managed policy holds exactly those actions.
pub const VPC_ACCESS_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

/// The handler of a `provided` runtime's `bootstrap` unless a function says otherwise; Lambda
/// passes it to the process as `_HANDLER`.
pub const DEFAULT_HANDLER: &str = "bootstrap";

/// Where a function runs inside a VPC.
#[derive(Clone)]
pub struct Placement {
    pub subnet_ids: Vec<Expr>,
    pub security_group: super::ec2::SecurityGroup,
}

#[derive(Clone)]
pub struct FunctionProps {
    pub description: &'static str,
    pub code: Code,
    /// Passed to the code as `_HANDLER`: one package can serve several functions.
    pub handler: &'static str,
    pub architecture: Architecture,
    /// A number, or an expression (e.g. a variable) where the stack decides later.
    pub memory_mb: Field<u32>,
    pub timeout_s: Field<u32>,
    /// Caps concurrency (and so cost); `None` shares the account's pool.
    pub reserved_concurrency: Option<Field<u32>>,
    pub environment: BTreeMap<&'static str, String>,
    pub log_retention_days: u32,
    /// Encrypts the environment and the log group.
    pub encryption_key: Option<Key>,
    /// Active X-Ray tracing.
    pub tracing: bool,
    /// What must exist before the first invocation (e.g. settings read by path).
    pub depends_on: Vec<Dependency>,
    /// Private subnets and a security group; `None` runs in Lambda's own network.
    pub network: Option<Placement>,
}

impl FunctionProps {
    pub fn new(description: &'static str, code: Code) -> Self {
        FunctionProps {
            description,
            code,
            handler: DEFAULT_HANDLER,
            architecture: Architecture::Arm64,
            memory_mb: 512.into(),
            timeout_s: 10.into(),
            reserved_concurrency: None,
            environment: BTreeMap::new(),
            log_retention_days: super::cloudwatch::DEFAULT_RETENTION_DAYS,
            encryption_key: None,
            tracing: true,
            depends_on: Vec::new(),
            network: None,
        }
    }
}

/// A function on `provided.al2023` with its own JSON log group, its own role (which may
/// write to that group and nothing else until something is granted to it) and its code asset.
#[derive(Clone)]
pub struct Function {
    scope: Scope,
    function: Ref<FunctionBlock>,
    role: Role,
    name: String,
}

impl Function {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: FunctionProps) -> Function {
        let scope = scope.child(id);
        let name = scope.physical_name();
        let logs = LogGroup::in_scope(
            &scope,
            LogGroupProps {
                name: Some(format!("/aws/lambda/{name}")),
                retention_days: props.log_retention_days,
                encryption_key: props.encryption_key.clone(),
            },
        );
        let role = Role::in_scope(
            scope.clone(),
            RoleProps {
                service: "lambda.amazonaws.com",
                description: props.description,
            },
        );
        logs.grant_write(&role);
        let mut depends_on = vec![role.policy_dependency()];
        if props.tracing {
            depends_on.push(
                role.attach_managed_policy(Some("xray"), XRAY_WRITE_POLICY_ARN)
                    .dependency(),
            );
        }
        if props.network.is_some() {
            depends_on.push(
                role.attach_managed_policy(Some("vpc"), VPC_ACCESS_POLICY_ARN)
                    .dependency(),
            );
        }
        depends_on.extend(props.depends_on);
        let asset = code_asset(&scope, &props.code, props.architecture);
        let function = scope.add(FunctionBlock {
            function_name: name.clone(),
            kms_key_arn: props.encryption_key.as_ref().map(Key::arn),
            description: props.description,
            role: role.arn(),
            runtime: "provided.al2023",
            handler: props.handler,
            architectures: vec![props.architecture.as_str()],
            memory_size: props.memory_mb,
            timeout: props.timeout_s,
            reserved_concurrent_executions: props.reserved_concurrency,
            s3_bucket: asset.0,
            s3_key: asset.1,
            source_code_hash: asset.2,
            tracing_config: props.tracing.then_some(TracingConfig { mode: "Active" }),
            logging_config: LoggingConfig {
                log_format: "JSON",
                log_group: logs.name(),
            },
            environment: Environment {
                variables: props.environment,
            },
            vpc_config: props.network.map(|placement| VpcConfig {
                subnet_ids: placement.subnet_ids,
                security_group_ids: vec![placement.security_group.id()],
            }),
            depends_on,
        });
        Function {
            scope,
            function,
            role,
            name,
        }
    }

    pub fn arn(&self) -> Expr {
        self.function.arn()
    }

    pub fn function_name(&self) -> Expr {
        self.function.attr("function_name")
    }

    pub fn invoke_arn(&self) -> Expr {
        self.function.attr("invoke_arn")
    }

    /// Records that the stack file's `key` sets the function's `attribute` (a Terraform
    /// argument of `aws_lambda_function`), so `drift` names the key when that value moves.
    pub fn set_by(&self, attribute: &str, key: &str) -> &Self {
        self.scope.record_source(&self.function, attribute, key);
        self
    }

    /// The Terraform name of the function's blocks.
    pub(crate) fn address_name(&self) -> String {
        self.scope.address_name()
    }

    /// The function's metrics (`AWS/Lambda` by function name).
    pub fn metrics(&self) -> Source {
        Source {
            namespace: "AWS/Lambda",
            dimensions: BTreeMap::from([("FunctionName", self.name.clone())]),
        }
    }

    /// Lets `service` invoke the function from `source_arn` only.
    pub(crate) fn allow_invoke(
        &self,
        name: &str,
        statement_id: &str,
        service: &'static str,
        source_arn: Expr,
    ) -> Ref<Permission> {
        self.scope.add_named(
            name,
            Permission {
                statement_id: statement_id.to_string(),
                action: "lambda:InvokeFunction",
                function_name: self.function_name(),
                principal: service,
                source_arn,
                function_url_auth_type: None,
            },
        )
    }

    /// An HTTPS endpoint for the function that only signed (SigV4) callers may use: a
    /// CloudFront origin access control, once the URL allows its distribution
    /// ([`FunctionUrl::allow_cloudfront`]).
    pub fn add_url(&self, invoke_mode: InvokeMode) -> FunctionUrl {
        let url = self.scope.add(FunctionUrlBlock {
            function_name: self.function_name(),
            authorization_type: "AWS_IAM",
            invoke_mode: invoke_mode.as_str(),
        });
        FunctionUrl {
            function: self.clone(),
            url,
        }
    }
}

/// A function's URL, reachable only with IAM-signed requests.
#[derive(Clone)]
pub struct FunctionUrl {
    function: Function,
    url: Ref<FunctionUrlBlock>,
}

impl FunctionUrl {
    /// `https://<id>.lambda-url.<region>.on.aws/`.
    pub fn url(&self) -> Expr {
        self.url.attr("function_url")
    }

    /// The URL's host, as a CloudFront origin names it.
    pub fn domain_name(&self) -> Expr {
        Expr::code_over(
            format!("split(\"/\", {})[2]", self.url.traverse("function_url")),
            &self.url,
        )
    }

    /// Lets the CloudFront distribution `distribution_arn` call the URL (signing through an
    /// origin access control). A URL needs both actions: `lambda:InvokeFunctionUrl` for the
    /// request and, since October 2025, `lambda:InvokeFunction` for the invocation behind it
    /// (CloudFront Developer Guide, "Restrict access to an AWS Lambda function URL origin").
    pub(crate) fn allow_cloudfront(&self, distribution_address: &str, distribution_arn: Expr) {
        let function = &self.function;
        let name = format!("{distribution_address}_invokes_{}", function.address_name());
        function.scope.add_named(
            &format!("{name}_url"),
            Permission {
                statement_id: "AllowCloudFrontUrl".to_string(),
                action: "lambda:InvokeFunctionUrl",
                function_name: function.function_name(),
                principal: CLOUDFRONT_SERVICE,
                source_arn: distribution_arn.clone(),
                function_url_auth_type: Some("AWS_IAM"),
            },
        );
        function.allow_invoke(
            &name,
            "AllowCloudFrontInvoke",
            CLOUDFRONT_SERVICE,
            distribution_arn,
        );
    }
}

const CLOUDFRONT_SERVICE: &str = "cloudfront.amazonaws.com";

impl Grantee for Function {
    fn grant_role(&self) -> &Role {
        &self.role
    }
}

/// Declares the code variables of the function at `scope` (defaults that validate, so
/// `terraform validate` needs no values) and records the asset for the deploy step.
fn code_asset(scope: &Scope, code: &Code, architecture: Architecture) -> (Expr, Expr, Expr) {
    let base = scope.address_name();
    let asset = CodeAsset {
        function: scope.path(),
        binary: code.binary,
        package: code.package,
        architecture,
        bucket_variable: format!("{base}_code_bucket"),
        key_variable: format!("{base}_code_key"),
        sha256_variable: format!("{base}_code_sha256"),
    };
    let bucket = scope.variable(
        &asset.bucket_variable,
        Variable {
            kind: "string",
            description: "S3 bucket holding the Lambda package (created by `bootstrap`)",
            default: Some(code.artifact_bucket.clone()),
        },
    );
    let key = scope.variable(
        &asset.key_variable,
        Variable {
            kind: "string",
            description: "Object key of the Lambda package zip (from `package`)",
            default: Some(format!("{}/{}.zip", code.package, code.binary)),
        },
    );
    let sha256 = scope.variable(
        &asset.sha256_variable,
        Variable {
            kind: "string",
            description: "Base64 SHA-256 of the package zip; a change redeploys the code",
            default: None,
        },
    );
    scope.with_tree(|tree| tree.assets.push(asset));
    (bucket, key, sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    fn code() -> Code {
        Code {
            package: "eve-function",
            binary: "bootstrap",
            artifact_bucket: "test-artifacts".into(),
        }
    }

    #[test]
    fn a_function_in_a_vpc_gets_its_subnets_group_and_the_eni_policy() {
        let stack = stack();
        let vpc = crate::constructs::ec2::Vpc::new(
            &stack,
            "network",
            crate::constructs::ec2::VpcProps {
                cidr: "10.0.0.0/16".into(),
                private_subnets: vec![
                    ("eu-west-1a".into(), "10.0.0.0/24".into()),
                    ("eu-west-1b".into(), "10.0.1.0/24".into()),
                ],
                flow_log_retention_days: 30,
                encryption_key: None,
            },
        );
        let group = vpc.security_group("worker", "t");
        Function::new(
            &stack,
            "worker",
            FunctionProps {
                network: Some(Placement {
                    subnet_ids: vpc.subnet_ids(),
                    security_group: group,
                }),
                ..FunctionProps::new("test", code())
            },
        );
        let json = json_of(stack);
        let res = &json["resource"];
        let body = &res["aws_lambda_function"]["worker"];
        assert_eq!(
            body["vpc_config"]["subnet_ids"],
            serde_json::json!([
                "${aws_subnet.network_private_0.id}",
                "${aws_subnet.network_private_1.id}"
            ])
        );
        assert_eq!(
            body["vpc_config"]["security_group_ids"][0],
            "${aws_security_group.network_worker.id}"
        );
        assert_eq!(
            res["aws_iam_role_policy_attachment"]["worker_vpc"]["policy_arn"],
            VPC_ACCESS_POLICY_ARN
        );
        assert!(body["depends_on"]
            .as_array()
            .is_some_and(|d| d.contains(&serde_json::json!(
                "aws_iam_role_policy_attachment.worker_vpc"
            ))));
    }

    #[test]
    fn a_function_has_its_log_group_role_and_code_variables() {
        let stack = stack();
        let function = Function::new(&stack, "worker", FunctionProps::new("test", code()));
        assert_eq!(
            function.function_name().as_template(),
            "${aws_lambda_function.worker.function_name}"
        );
        let assembly = stack.finish();
        assert_eq!(assembly.assets.len(), 1);
        assert_eq!(assembly.assets[0].sha256_variable, "worker_code_sha256");
        let json = assembly.doc.to_json("t").expect("json");
        let body = &json["resource"]["aws_lambda_function"]["worker"];
        assert_eq!(body["function_name"], "test-worker");
        assert_eq!(body["source_code_hash"], "${var.worker_code_sha256}");
        assert_eq!(body["depends_on"][0], "aws_iam_role_policy.worker");
        assert_eq!(
            json["resource"]["aws_cloudwatch_log_group"]["worker"]["name"],
            "/aws/lambda/test-worker"
        );
        let policy = &json["data"]["aws_iam_policy_document"]["worker_policy"]["statement"];
        assert_eq!(policy[0]["actions"][1], "logs:PutLogEvents");
        assert_eq!(
            policy[0]["resources"][0],
            "${aws_cloudwatch_log_group.worker.arn}:log-stream:*"
        );
        assert!(json["variable"]["worker_code_bucket"]["default"] == "test-artifacts");
    }

    #[test]
    fn memory_can_come_from_a_variable() {
        let stack = stack();
        let memory = stack.variable(
            "worker_memory",
            Variable {
                kind: "number",
                description: "MB",
                default: Some("256".into()),
            },
        );
        let mut props = FunctionProps::new("test", code());
        props.memory_mb = Field::expr(memory);
        Function::new(&stack, "worker", props);
        let json = json_of(stack);
        let body = &json["resource"]["aws_lambda_function"]["worker"];
        assert_eq!(body["memory_size"], "${var.worker_memory}");
        assert_eq!(body["timeout"], 10);
    }

    #[test]
    fn without_tracing_there_is_no_xray_policy() {
        let stack = stack();
        let mut props = FunctionProps::new("test", code());
        props.tracing = false;
        Function::new(&stack, "worker", props);
        let json = json_of(stack);
        assert!(json["resource"]["aws_iam_role_policy_attachment"].is_null());
        assert!(json["resource"]["aws_lambda_function"]["worker"]["tracing_config"].is_null());
    }
}
