//! API Gateway (REST): EVE's routes as Lambda proxy integrations, the stage, keys and limits.
//!
//! No OPTIONS methods: the site calls `/api/*` same-origin through CloudFront, so browsers do
//! not preflight; cross-origin callers (rare) get EVE's own CORS handling through the proxy
//! routes, and a preflight to API Gateway without a method is answered 403 by API Gateway.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::cloudwatch::LogGroup;
use super::iam::{self, RolePolicyAttachment};
use super::lambda::{Function, Permission};
use crate::config::Stack;
use crate::tf::{
    Block, CreateBeforeDestroy, Dependency, Document, Expr, Ref, CREATE_BEFORE_DESTROY,
};

/// One route EVE serves.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub api_key_required: bool,
}

/// EVE's routes; everything but the health check needs the API key CloudFront adds.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/chat",
        api_key_required: true,
    },
    Route {
        method: "POST",
        path: "/api/chat/stream",
        api_key_required: true,
    },
    Route {
        method: "GET",
        path: "/api/certificates",
        api_key_required: true,
    },
    Route {
        method: "GET",
        path: "/api/certificates/{id}",
        api_key_required: true,
    },
    Route {
        method: "GET",
        path: "/api/suggestions",
        api_key_required: true,
    },
    Route {
        method: "GET",
        path: "/api/health",
        api_key_required: false,
    },
];

/// The header CloudFront sends the API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Managed policy API Gateway needs to write execution and access logs (account-wide setting).
pub const PUSH_TO_CLOUDWATCH_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

/// Access log line: one JSON object per request.
const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","integrationLatency":"$context.integrationLatency","apiKeyId":"$context.identity.apiKeyId"}"#;

#[derive(Debug, Clone, Serialize)]
pub struct RestApi {
    pub name: String,
    pub description: &'static str,
    pub endpoint_configuration: EndpointConfiguration,
    /// Stages and keys move to a replacement API before the old one is deleted.
    pub lifecycle: CreateBeforeDestroy,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointConfiguration {
    pub types: Vec<&'static str>,
}

impl Block for RestApi {
    const TYPE: &'static str = "aws_api_gateway_rest_api";
}

impl Ref<RestApi> {
    pub fn root_resource_id(&self) -> Expr {
        self.attr("root_resource_id")
    }

    pub fn execution_arn(&self) -> Expr {
        self.attr("execution_arn")
    }
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
    pub lifecycle: CreateBeforeDestroy,
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

impl Ref<Stage> {
    pub fn stage_name(&self) -> Expr {
        self.attr("stage_name")
    }

    pub fn invoke_url(&self) -> Expr {
        self.attr("invoke_url")
    }
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
#[derive(Debug, Clone)]
pub struct Api {
    pub rest_api: Ref<RestApi>,
    pub stage: Ref<Stage>,
    pub key: Ref<ApiKey>,
}

impl Api {
    /// `<id>.execute-api.<region>.amazonaws.com`, the origin domain.
    pub fn origin_domain(&self, stack: &Stack) -> Expr {
        self.rest_api
            .id()
            .join_lit(&format!(".execute-api.{}.amazonaws.com", stack.region))
    }
}

/// `/api/certificates/{id}` → label `api_certificates_id`.
fn label_of(path: &str) -> String {
    path.trim_start_matches('/')
        .replace(['{', '}'], "")
        .replace('/', "_")
}

pub fn api(
    doc: &mut Document,
    stack: &Stack,
    function: &Ref<Function>,
    access_logs: &Ref<LogGroup>,
) -> anyhow::Result<Api> {
    let rest_api = doc.add(
        "eve",
        RestApi {
            name: stack.api_name(),
            description: "EVE's API; reached through CloudFront under /api/*",
            endpoint_configuration: EndpointConfiguration {
                types: vec!["REGIONAL"],
            },
            lifecycle: CREATE_BEFORE_DESTROY,
        },
    )?;
    let validator = doc.add(
        "parameters",
        RequestValidator {
            name: "parameters".into(),
            rest_api_id: rest_api.id(),
            validate_request_parameters: true,
            validate_request_body: false,
        },
    )?;
    let mut definition = vec![doc.body(&validator).cloned()];
    let mut resources: BTreeMap<String, Expr> = BTreeMap::new();
    let mut integrations = Vec::new();
    let timeout_ms = ((stack.lambda.timeout_s + 1) * 1000).min(29_000);
    for route in ROUTES {
        let mut parent = rest_api.root_resource_id();
        let mut path = String::new();
        for part in route.path.trim_start_matches('/').split('/') {
            path.push('/');
            path.push_str(part);
            parent = match resources.get(&path) {
                Some(id) => id.clone(),
                None => {
                    let resource = doc.add(
                        &label_of(&path),
                        Resource {
                            rest_api_id: rest_api.id(),
                            parent_id: parent,
                            path_part: part.to_string(),
                        },
                    )?;
                    definition.push(doc.body(&resource).cloned());
                    resources.insert(path.clone(), resource.id());
                    resource.id()
                }
            };
        }
        let label = format!("{}_{}", route.method.to_lowercase(), label_of(route.path));
        let request_parameters = if route.path.contains("{id}") {
            BTreeMap::from([("method.request.path.id".to_string(), true)])
        } else {
            BTreeMap::new()
        };
        let method = doc.add(
            &label,
            Method {
                rest_api_id: rest_api.id(),
                resource_id: parent.clone(),
                http_method: route.method,
                authorization: "NONE",
                api_key_required: route.api_key_required,
                request_parameters,
                request_validator_id: validator.id(),
            },
        )?;
        let integration = doc.add(
            &label,
            Integration {
                rest_api_id: rest_api.id(),
                resource_id: parent,
                http_method: method.attr("http_method"),
                integration_http_method: "POST",
                kind: "AWS_PROXY",
                uri: function.invoke_arn(),
                timeout_milliseconds: timeout_ms,
            },
        )?;
        definition.push(doc.body(&method).cloned());
        definition.push(doc.body(&integration).cloned());
        integrations.push(integration.dependency());
    }
    let deployment = doc.add(
        "eve",
        Deployment {
            rest_api_id: rest_api.id(),
            description: "Redeployed when the API definition hash changes",
            triggers: BTreeMap::from([("redeployment", hash_definition(&definition)?)]),
            lifecycle: CREATE_BEFORE_DESTROY,
            depends_on: integrations,
        },
    )?;
    let logging_role = iam::service_role(
        doc,
        "api_gateway_logs",
        format!("{}-api-gateway-logs", stack.prefix()),
        "Lets API Gateway write execution and access logs",
        "apigateway.amazonaws.com",
    )?;
    doc.add(
        "api_gateway_logs",
        RolePolicyAttachment {
            role: logging_role.name(),
            policy_arn: Expr::lit(PUSH_TO_CLOUDWATCH_POLICY_ARN),
        },
    )?;
    let account = doc.add(
        "current",
        Account {
            cloudwatch_role_arn: logging_role.arn(),
        },
    )?;
    let stage = doc.add(
        "eve",
        Stage {
            rest_api_id: rest_api.id(),
            deployment_id: deployment.id(),
            stage_name: stack.stage_name().to_string(),
            xray_tracing_enabled: true,
            access_log_settings: AccessLogSettings {
                destination_arn: access_logs.arn(),
                format: Expr::lit(ACCESS_LOG_FORMAT),
            },
            depends_on: vec![account.dependency()],
        },
    )?;
    doc.add(
        "all",
        MethodSettings {
            rest_api_id: rest_api.id(),
            stage_name: stage.stage_name(),
            method_path: "*/*",
            settings: Settings {
                metrics_enabled: true,
                logging_level: "ERROR",
                data_trace_enabled: false,
                throttling_rate_limit: stack.api.throttle_rate_limit,
                throttling_burst_limit: stack.api.throttle_burst_limit,
                caching_enabled: false,
                cache_data_encrypted: true,
            },
        },
    )?;
    let plan = doc.add(
        "eve",
        UsagePlan {
            name: format!("{}-eve", stack.prefix()),
            api_stages: vec![ApiStage {
                api_id: rest_api.id(),
                stage: stage.stage_name(),
            }],
            throttle_settings: Throttle {
                rate_limit: stack.api.throttle_rate_limit,
                burst_limit: stack.api.throttle_burst_limit,
            },
            quota_settings: Quota {
                limit: stack.api.daily_quota,
                period: "DAY",
            },
        },
    )?;
    let key = doc.add(
        "cloudfront",
        ApiKey {
            name: format!("{}-cloudfront", stack.prefix()),
            description: "Sent by CloudFront as an origin header; never reaches a browser",
            enabled: true,
        },
    )?;
    doc.add(
        "cloudfront",
        UsagePlanKey {
            key_id: key.id(),
            key_type: "API_KEY",
            usage_plan_id: plan.id(),
        },
    )?;
    doc.add(
        "api_gateway",
        Permission {
            statement_id: "AllowApiGatewayInvoke",
            action: "lambda:InvokeFunction",
            function_name: function.function_name(),
            principal: "apigateway.amazonaws.com",
            source_arn: rest_api.execution_arn().join_lit("/*/*"),
        },
    )?;
    Ok(Api {
        rest_api,
        stage,
        key,
    })
}

/// SHA-256 of the resources, methods and integrations as written, so any change redeploys.
fn hash_definition(definition: &[Option<serde_json::Value>]) -> anyhow::Result<String> {
    let bytes = serde_json::to_vec(definition)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    fn build() -> serde_json::Value {
        let assembly = crate::synth::assemble(&test_stack()).expect("assemble");
        assembly.doc.to_json("t").expect("json")
    }

    #[test]
    fn every_route_is_a_proxy_integration_and_only_health_is_keyless() {
        let json = build();
        let methods = json["resource"]["aws_api_gateway_method"]
            .as_object()
            .expect("methods");
        assert_eq!(methods.len(), ROUTES.len());
        for (label, method) in methods {
            assert_eq!(
                method["api_key_required"],
                label != "get_api_health",
                "{label}"
            );
        }
        let integrations = json["resource"]["aws_api_gateway_integration"]
            .as_object()
            .expect("ints");
        assert!(integrations.values().all(|i| i["type"] == "AWS_PROXY"));
        assert_eq!(
            json["resource"]["aws_api_gateway_resource"]["api_certificates_id"]["path_part"],
            "{id}"
        );
        let permission = &json["resource"]["aws_lambda_permission"]["api_gateway"];
        assert_eq!(
            permission["source_arn"],
            "${aws_api_gateway_rest_api.eve.execution_arn}/*/*"
        );
    }

    #[test]
    fn redeploy_trigger_follows_the_definition() {
        let a = build();
        let b = build();
        let trigger = |j: &serde_json::Value| {
            j["resource"]["aws_api_gateway_deployment"]["eve"]["triggers"]["redeployment"].clone()
        };
        assert_eq!(trigger(&a), trigger(&b));
        assert_eq!(trigger(&a).as_str().map(str::len), Some(64));
        let changed = hash_definition(&[Some(serde_json::json!({"x": 1}))]).expect("hash");
        assert_ne!(trigger(&a).as_str(), Some(changed.as_str()));
    }
}
