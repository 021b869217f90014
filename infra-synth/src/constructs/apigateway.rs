//! API Gateway (REST): EVE's routes as Lambda proxy integrations, the stage, keys and limits.
//!
//! No OPTIONS methods: the site calls `/api/*` same-origin through CloudFront, so browsers do
//! not preflight; cross-origin callers (rare) get EVE's own CORS handling through the proxy
//! routes, and a preflight to API Gateway without a method is answered 403 by API Gateway.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cloudwatch::{LogGroup, Source};
use super::iam::{Role, RoleProps};
use super::lambda::Function;
use super::{Id, Scope};
use crate::tf::{Block, Dependency, Expr, Lifecycle, Ref};

/// One route EVE serves.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Managed policy API Gateway needs to write execution and access logs (account-wide setting).
pub const PUSH_TO_CLOUDWATCH_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

/// Access log line: one JSON object per request.
const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","integrationLatency":"$context.integrationLatency","apiKeyId":"$context.identity.apiKeyId"}"#;

#[derive(Debug, Clone, Serialize)]
pub struct RestApiBlock {
    pub name: String,
    pub description: &'static str,
    pub endpoint_configuration: EndpointConfiguration,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointConfiguration {
    pub types: Vec<&'static str>,
}

impl Block for RestApiBlock {
    const TYPE: &'static str = "aws_api_gateway_rest_api";
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub rest_api_id: Expr,
    pub parent_id: Expr,
    pub path_part: String,
}

impl Block for Resource {
    const TYPE: &'static str = "aws_api_gateway_resource";
}

#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub rest_api_id: Expr,
    pub resource_id: Expr,
    pub http_method: &'static str,
    pub authorization: &'static str,
    pub api_key_required: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_parameters: BTreeMap<String, bool>,
    pub request_validator_id: Expr,
}

impl Block for Method {
    const TYPE: &'static str = "aws_api_gateway_method";
}

/// Rejects requests missing required parameters before they reach (and bill) the function;
/// bodies are EVE's to validate, with its own error messages.
#[derive(Debug, Clone, Serialize)]
pub struct RequestValidator {
    pub name: String,
    pub rest_api_id: Expr,
    pub validate_request_parameters: bool,
    pub validate_request_body: bool,
}

impl Block for RequestValidator {
    const TYPE: &'static str = "aws_api_gateway_request_validator";
}

#[derive(Debug, Clone, Serialize)]
pub struct Integration {
    pub rest_api_id: Expr,
    pub resource_id: Expr,
    pub http_method: Expr,
    pub integration_http_method: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub uri: Expr,
    pub timeout_milliseconds: u32,
}

impl Block for Integration {
    const TYPE: &'static str = "aws_api_gateway_integration";
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub rest_api_id: Expr,
    pub description: &'static str,
    /// A new deployment whenever the API definition changes.
    pub triggers: BTreeMap<&'static str, String>,
    pub depends_on: Vec<Dependency>,
}

impl Block for Deployment {
    const TYPE: &'static str = "aws_api_gateway_deployment";
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub rest_api_id: Expr,
    pub deployment_id: Expr,
    pub stage_name: String,
    pub xray_tracing_enabled: bool,
    pub access_log_settings: AccessLogSettings,
    pub depends_on: Vec<Dependency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessLogSettings {
    pub destination_arn: Expr,
    pub format: Expr,
}

impl Block for Stage {
    const TYPE: &'static str = "aws_api_gateway_stage";
}

#[derive(Debug, Clone, Serialize)]
pub struct MethodSettings {
    pub rest_api_id: Expr,
    pub stage_name: Expr,
    pub method_path: &'static str,
    pub settings: Settings,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub metrics_enabled: bool,
    pub logging_level: &'static str,
    pub data_trace_enabled: bool,
    pub throttling_rate_limit: f64,
    pub throttling_burst_limit: u32,
    pub caching_enabled: bool,
    pub cache_data_encrypted: bool,
}

impl Block for MethodSettings {
    const TYPE: &'static str = "aws_api_gateway_method_settings";
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub cloudwatch_role_arn: Expr,
}

impl Block for Account {
    const TYPE: &'static str = "aws_api_gateway_account";
}

#[derive(Debug, Clone, Serialize)]
pub struct UsagePlan {
    pub name: String,
    pub api_stages: Vec<ApiStage>,
    pub throttle_settings: Throttle,
    pub quota_settings: Quota,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiStage {
    pub api_id: Expr,
    pub stage: Expr,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throttle {
    pub rate_limit: f64,
    pub burst_limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quota {
    pub limit: u32,
    pub period: &'static str,
}

impl Block for UsagePlan {
    const TYPE: &'static str = "aws_api_gateway_usage_plan";
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub name: String,
    pub description: &'static str,
    pub enabled: bool,
}

impl Block for ApiKey {
    const TYPE: &'static str = "aws_api_gateway_api_key";
}

impl Ref<ApiKey> {
    /// The secret key value (sensitive in Terraform state, never in outputs).
    pub fn value(&self) -> Expr {
        self.attr("value")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UsagePlanKey {
    pub key_id: Expr,
    pub key_type: &'static str,
    pub usage_plan_id: Expr,
}

impl Block for UsagePlanKey {
    const TYPE: &'static str = "aws_api_gateway_usage_plan_key";
}

/// What CloudFront needs to route `/api/*` here.
/// One route: a method on a path with `{param}` segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub api_key_required: bool,
}

/// `/api/certificates/{id}` → `api_certificates_id`.
fn label_of(path: &str) -> String {
    path.trim_start_matches('/')
        .replace(['{', '}'], "")
        .replace('/', "_")
}

/// API Gateway's account-wide CloudWatch role (one per account and region, so one per stack).
#[derive(Clone)]
pub struct AccountLogging {
    account: Ref<Account>,
}

impl AccountLogging {
    pub fn new(scope: &Scope, id: impl Into<Id>) -> AccountLogging {
        let scope = scope.child(id);
        let role = Role::in_scope(
            scope.clone(),
            RoleProps {
                service: "apigateway.amazonaws.com",
                description: "Lets API Gateway write execution and access logs",
            },
        );
        role.attach_managed_policy(None, PUSH_TO_CLOUDWATCH_POLICY_ARN);
        let account = scope.add(Account {
            cloudwatch_role_arn: role.arn(),
        });
        AccountLogging { account }
    }
}

#[derive(Clone)]
pub struct RestApiProps {
    /// Default: the scope's physical name.
    pub name: Option<String>,
    pub description: &'static str,
    pub stage_name: String,
    /// JSON access logs go here.
    pub access_logs: LogGroup,
    /// Stages log through the account's CloudWatch role, which must exist first.
    pub account_logging: AccountLogging,
    /// Each route proxies to its function (Lambda proxy integration).
    pub routes: Vec<(Route, Function)>,
    pub integration_timeout_ms: u32,
    /// Steady requests per second and burst, per stage and in the usage plan.
    pub throttle_rate_limit: f64,
    pub throttle_burst_limit: u32,
    /// Requests per day through the usage plan.
    pub daily_quota: u32,
}

/// A regional REST API with one stage (X-Ray, JSON access logs, throttling, metrics), a
/// usage plan with a quota, and a deployment that follows a hash of the definition.
#[derive(Clone)]
pub struct RestApi {
    scope: Scope,
    api: Ref<RestApiBlock>,
    stage: Ref<Stage>,
    plan: Ref<UsagePlan>,
    name: String,
    stage_name: String,
}

impl RestApi {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: RestApiProps) -> RestApi {
        let scope = scope.child(id);
        let name = props.name.unwrap_or_else(|| scope.physical_name());
        let api = scope.add(RestApiBlock {
            name: name.clone(),
            description: props.description,
            endpoint_configuration: EndpointConfiguration {
                types: vec!["REGIONAL"],
            },
        });
        // Stages and keys move to a replacement API before the old one is deleted.
        scope.set_lifecycle(&api, &Lifecycle::create_before_destroy());
        let validator = scope.add(RequestValidator {
            name: "parameters".into(),
            rest_api_id: api.id(),
            validate_request_parameters: true,
            validate_request_body: false,
        });
        let mut definition = vec![scope.body_of(&validator)];
        let mut resources: BTreeMap<String, Expr> = BTreeMap::new();
        let mut integrations = Vec::new();
        let mut invokers: Vec<Function> = Vec::new();
        for (route, function) in &props.routes {
            let mut parent = api.attr("root_resource_id");
            let mut path = String::new();
            for part in route.path.trim_start_matches('/').split('/') {
                path.push('/');
                path.push_str(part);
                parent = match resources.get(&path) {
                    Some(id) => id.clone(),
                    None => {
                        let resource = scope.add_suffixed(
                            &label_of(&path),
                            Resource {
                                rest_api_id: api.id(),
                                parent_id: parent,
                                path_part: part.to_string(),
                            },
                        );
                        definition.push(scope.body_of(&resource));
                        resources.insert(path.clone(), resource.id());
                        resource.id()
                    }
                };
            }
            let label = format!("{}_{}", route.method.to_lowercase(), label_of(route.path));
            let request_parameters: BTreeMap<String, bool> = route
                .path
                .split('/')
                .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
                .map(|param| (format!("method.request.path.{param}"), true))
                .collect();
            let method = scope.add_suffixed(
                &label,
                Method {
                    rest_api_id: api.id(),
                    resource_id: parent.clone(),
                    http_method: route.method,
                    authorization: "NONE",
                    api_key_required: route.api_key_required,
                    request_parameters,
                    request_validator_id: validator.id(),
                },
            );
            let integration = scope.add_suffixed(
                &label,
                Integration {
                    rest_api_id: api.id(),
                    resource_id: parent,
                    http_method: method.attr("http_method"),
                    integration_http_method: "POST",
                    kind: "AWS_PROXY",
                    uri: function.invoke_arn(),
                    timeout_milliseconds: props.integration_timeout_ms,
                },
            );
            definition.push(scope.body_of(&method));
            definition.push(scope.body_of(&integration));
            integrations.push(integration.dependency());
            if !invokers
                .iter()
                .any(|f| f.invoke_arn() == function.invoke_arn())
            {
                invokers.push(function.clone());
            }
        }
        let deployment = scope.add(Deployment {
            rest_api_id: api.id(),
            description: "Redeployed when the API definition hash changes",
            triggers: BTreeMap::from([("redeployment", hash_definition(&definition))]),
            depends_on: integrations,
        });
        scope.set_lifecycle(&deployment, &Lifecycle::create_before_destroy());
        let stage = scope.add(Stage {
            rest_api_id: api.id(),
            deployment_id: deployment.id(),
            stage_name: props.stage_name.clone(),
            xray_tracing_enabled: true,
            access_log_settings: AccessLogSettings {
                destination_arn: props.access_logs.arn(),
                format: Expr::lit(ACCESS_LOG_FORMAT),
            },
            depends_on: vec![props.account_logging.account.dependency()],
        });
        scope.add(MethodSettings {
            rest_api_id: api.id(),
            stage_name: stage.attr("stage_name"),
            method_path: "*/*",
            settings: Settings {
                metrics_enabled: true,
                logging_level: "ERROR",
                data_trace_enabled: false,
                throttling_rate_limit: props.throttle_rate_limit,
                throttling_burst_limit: props.throttle_burst_limit,
                caching_enabled: false,
                cache_data_encrypted: true,
            },
        });
        let plan = scope.add(UsagePlan {
            name: scope.physical_name(),
            api_stages: vec![ApiStage {
                api_id: api.id(),
                stage: stage.attr("stage_name"),
            }],
            throttle_settings: Throttle {
                rate_limit: props.throttle_rate_limit,
                burst_limit: props.throttle_burst_limit,
            },
            quota_settings: Quota {
                limit: props.daily_quota,
                period: "DAY",
            },
        });
        let api_address = scope.address_name();
        for function in invokers {
            function.allow_invoke(
                &format!("{api_address}_invokes_{}", function.address_name()),
                "AllowApiGatewayInvoke",
                "apigateway.amazonaws.com",
                api.attr("execution_arn").join_lit("/*/*"),
            );
        }
        RestApi {
            scope,
            api,
            stage,
            plan,
            name,
            stage_name: props.stage_name,
        }
    }

    /// The stage URL (callers need a key where routes require one).
    pub fn invoke_url(&self) -> Expr {
        self.stage.attr("invoke_url")
    }

    /// The API's regional hostname, for a CloudFront origin.
    pub fn domain_name(&self) -> Expr {
        self.api.id().join_lit(&format!(
            ".execute-api.{}.amazonaws.com",
            self.scope.region()
        ))
    }

    pub fn stage_name(&self) -> &str {
        &self.stage_name
    }

    /// The API's metrics (`AWS/ApiGateway` by API name and stage).
    pub fn metrics(&self) -> Source {
        Source {
            namespace: "AWS/ApiGateway",
            dimensions: BTreeMap::from([
                ("ApiName", self.name.clone()),
                ("Stage", self.stage_name.clone()),
            ]),
        }
    }

    /// An API key in the usage plan (at `<scope>/<id>`); its value is an attribute to hand a
    /// trusted caller (CloudFront adds it as an origin header), never a browser.
    pub fn add_api_key(&self, scope: &Scope, id: impl Into<Id>, description: &'static str) -> Expr {
        let scope = scope.child(id);
        let key = scope.add(ApiKey {
            name: scope.physical_name(),
            description,
            enabled: true,
        });
        scope.add(UsagePlanKey {
            key_id: key.id(),
            key_type: "API_KEY",
            usage_plan_id: self.plan.id(),
        });
        key.attr("value")
    }
}

/// SHA-256 of the resources, methods and integrations as written, so any change redeploys.
fn hash_definition(definition: &[Option<serde_json::Value>]) -> String {
    crate::digest::sha256_hex(
        serde_json::Value::from(definition.to_vec())
            .to_string()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::cloudwatch::LogGroupProps;
    use crate::constructs::lambda::{Code, FunctionProps};
    use crate::constructs::testing::stack;

    fn build(paths: &[(&'static str, bool)]) -> serde_json::Value {
        let stack = stack();
        let function = Function::new(
            &stack,
            "fn",
            FunctionProps::new(
                "test",
                Code {
                    package: "p",
                    binary: "bootstrap",
                    artifact_bucket: "b".into(),
                },
            ),
        );
        RestApi::new(
            &stack,
            "api",
            RestApiProps {
                name: None,
                description: "test",
                stage_name: "test".into(),
                access_logs: LogGroup::new(&stack, "api-logs", LogGroupProps::default()),
                account_logging: AccountLogging::new(&stack, "api-gateway-logs"),
                routes: paths
                    .iter()
                    .map(|&(path, api_key_required)| {
                        let route = Route {
                            method: "GET",
                            path,
                            api_key_required,
                        };
                        (route, function.clone())
                    })
                    .collect(),
                integration_timeout_ms: 29_000,
                throttle_rate_limit: 10.0,
                throttle_burst_limit: 20,
                daily_quota: 100,
            },
        );
        let assembly = stack.finish();
        assembly.doc.to_json("t").expect("json")
    }

    #[test]
    fn routes_are_proxy_integrations_sharing_parent_resources() {
        let json = build(&[
            ("/api/items", true),
            ("/api/items/{id}", true),
            ("/api/health", false),
        ]);
        let methods = json["resource"]["aws_api_gateway_method"]
            .as_object()
            .expect("methods");
        assert_eq!(methods.len(), 3);
        assert_eq!(methods["api_get_api_health"]["api_key_required"], false);
        assert_eq!(
            methods["api_get_api_items_id"]["request_parameters"]["method.request.path.id"],
            true
        );
        let resources = json["resource"]["aws_api_gateway_resource"]
            .as_object()
            .expect("res");
        assert_eq!(resources.len(), 4, "api, items, items/id, health");
        assert_eq!(resources["api_api_items_id"]["path_part"], "{id}");
        let integrations = json["resource"]["aws_api_gateway_integration"]
            .as_object()
            .expect("integrations");
        assert!(integrations.values().all(|i| i["type"] == "AWS_PROXY"));
        let permission = &json["resource"]["aws_lambda_permission"]["api_invokes_fn"];
        assert_eq!(
            permission["source_arn"],
            "${aws_api_gateway_rest_api.api.execution_arn}/*/*"
        );
        assert_eq!(
            json["resource"]["aws_api_gateway_stage"]["api"]["depends_on"][0],
            "aws_api_gateway_account.api_gateway_logs"
        );
    }

    #[test]
    fn the_redeploy_trigger_follows_the_definition() {
        let trigger = |j: &serde_json::Value| {
            j["resource"]["aws_api_gateway_deployment"]["api"]["triggers"]["redeployment"].clone()
        };
        let a = build(&[("/api/items", true)]);
        assert_eq!(trigger(&a), trigger(&build(&[("/api/items", true)])));
        assert_eq!(trigger(&a).as_str().map(str::len), Some(64));
        assert_ne!(trigger(&a), trigger(&build(&[("/api/items", false)])));
    }
}
