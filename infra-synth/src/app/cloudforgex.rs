//! CloudForgeX: the portfolio site and EVE, as one stack of constructs. This is the only code
//! that reads [`config::Stack`]; it chooses props and wires grants, nothing more.

use std::collections::BTreeMap;

use eve_contract::handlers;
use eve_contract::metrics as eve_metric;
use eve_contract::routes as contract_routes;
use eve_contract::settings::{SSM_PATH_VAR, STAGE_VAR};
use eve_contract::store;

use crate::config::{self, ZoneSource};
use crate::constructs::acm::{Certificate, CertificateProps};
use crate::constructs::apigateway::{AccountLogging, RestApi, RestApiProps, Route};
use crate::constructs::bedrock::Model;
use crate::constructs::budgets::{Budget, BudgetProps, WARN_AND_FORECAST};
use crate::constructs::checks::{self, Problem};
use crate::constructs::cloudfront::{
    ApiOrigin, Distribution, DistributionProps, FunctionUrlOrigin,
};
use crate::constructs::cloudwatch::{
    Alarm, AlarmProps, Dashboard, DashboardProps, LogGroup, LogGroupProps, Source, Widget,
};
use crate::constructs::dynamodb::{Table, TableProps};
use crate::constructs::ec2::{Vpc, VpcProps};
use crate::constructs::ecr::{Repository, RepositoryProps};
use crate::constructs::kms::{Key, KeyProps};
use crate::constructs::lambda::{Code, Function, FunctionProps, InvokeMode, Placement};
use crate::constructs::route53::{alias_records, AliasTarget, HostedZone};
use crate::constructs::s3::{Bucket, BucketProps, Encryption};
use crate::constructs::sns::{Topic, TopicProps};
use crate::constructs::ssm::{ParameterSet, ParameterSetProps};
use crate::constructs::wafv2::{RateLimit, WebAcl, WebAclProps};
use crate::constructs::{Stack, StackProps};
use crate::tf::{Expr, Lifecycle};

/// The header CloudFront adds with the API key on the way to API Gateway.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The Lambda package: `bootstrap` of the `eve-function` crate.
const EVE_PACKAGE: &str = "eve-function";
const EVE_BINARY: &str = "bootstrap";

/// Builds the whole stack from its config.
pub fn build(config: &config::Stack) -> Stack {
    let stack = Stack::new(
        &config.prefix(),
        StackProps {
            region: config.region.clone(),
            tags: config.default_tags(),
            emulator_endpoint: config.aws.endpoint.clone(),
            s3_backend: config.state.backend == config::Backend::S3,
        },
    );
    let account_id = crate::constructs::iam::account_id(&stack);
    let key = Key::new(
        &stack,
        "stack",
        KeyProps {
            description: format!("{}: EVE's data, settings and logs", config.prefix()),
            alias: Some(format!("alias/{}", config.prefix())),
            allow_cloudwatch_logs: true,
            allow_cloudwatch_alarms: true,
            allow_budgets: config.cost.monthly_ceiling_usd.is_some(),
            allow_cloudfront_reads: false,
        },
    );

    let bucket = |id: &str, name: String, encryption, expire_days| {
        stack_bucket(&stack, config, id, name, encryption, expire_days)
    };
    // S3 server access logs only go to an SSE-S3 bucket; the site bucket stays SSE-S3 for
    // the objects published before CloudFront had a key to read them with.
    let logs = bucket(
        "logs",
        config.logs_bucket_name(),
        Encryption::S3Managed,
        Some(config.buckets.log_expiry_days),
    );
    let site = bucket(
        "site",
        config.site_bucket_name(),
        Encryption::S3Managed,
        None,
    );
    let certificates = bucket(
        "certificates",
        config.certificates_bucket_name(),
        Encryption::Kms(key.clone()),
        None,
    );
    site.log_to(&logs, account_id.clone());
    certificates.log_to(&logs, account_id.clone());
    let recovery = config
        .dr
        .as_ref()
        .map(|dr| recovery_region(&stack, config, dr, &account_id));
    if let (Some(dr), Some(recovery)) = (&config.dr, &recovery) {
        site.replicate_to(&recovery.site, dr.replication_time_control);
        certificates.replicate_to(&recovery.certificates, dr.replication_time_control);
    }

    let table = Table::new(
        &stack,
        "conversations",
        TableProps {
            partition_key: store::PARTITION_KEY,
            sort_key: Some(store::SORT_KEY),
            ttl_attribute: Some(store::TTL_ATTRIBUTE),
            encryption_key: Some(key.clone()),
            point_in_time_recovery: true,
            deletion_protection: config.table.deletion_protection,
            replicas: match (&config.dr, &recovery) {
                (Some(dr), Some(recovery)) if dr.table_replica => {
                    vec![(dr.region.clone(), recovery.key.clone())]
                }
                _ => Vec::new(),
            },
        },
    );
    let settings = ParameterSet::new(
        &stack,
        "settings",
        ParameterSetProps {
            path: config.ssm_path(),
            values: config
                .eve_settings()
                .into_iter()
                .map(|s| {
                    let description = format!("EVE setting `{}` (docs/eve-settings.md)", s.name);
                    (s.name, s.value, description)
                })
                .collect(),
            encryption_key: Some(key.clone()),
        },
    );

    let eve_props = FunctionProps {
        architecture: config.lambda.architecture,
        memory_mb: config.lambda.memory_mb.into(),
        timeout_s: config.lambda.timeout_s.into(),
        // `lambda.reserved_concurrency` caps EVE's two functions together (and so their cost):
        // the API's gets the smaller half, the streaming one (every chat) the larger.
        reserved_concurrency: Some((config.lambda.reserved_concurrency / 2).into()),
        environment: BTreeMap::from([
            (SSM_PATH_VAR, config.ssm_path()),
            (STAGE_VAR, config.env.clone()),
        ]),
        log_retention_days: config.lambda.log_retention_days,
        encryption_key: Some(key.clone()),
        tracing: true,
        // EVE reads its settings by path, so nothing else orders them first.
        depends_on: settings.dependencies(),
        network: private_network(&stack, config, &key),
        ..FunctionProps::new(
            "EVE, the portfolio assistant",
            Code {
                package: EVE_PACKAGE,
                binary: EVE_BINARY,
                artifact_bucket: config.artifact_bucket_name(),
            },
        )
    };
    // The same package twice: behind API Gateway (whose REST integration buffers every
    // response) and behind a function URL, which streams chat replies as the model writes them.
    let eve = Function::new(&stack, "eve", eve_props.clone());
    let eve_stream = Function::new(
        &stack,
        "eve-stream",
        FunctionProps {
            description: "EVE, the portfolio assistant: streamed chat replies",
            handler: handlers::STREAMING,
            reserved_concurrency: Some(
                (config.lambda.reserved_concurrency - config.lambda.reserved_concurrency / 2)
                    .into(),
            ),
            ..eve_props
        },
    );
    for function in [&eve, &eve_stream] {
        function
            .set_by("memory_size", "lambda.memory_mb")
            .set_by("timeout", "lambda.timeout_s")
            .set_by(
                "reserved_concurrent_executions",
                "lambda.reserved_concurrency",
            )
            .set_by("architectures", "lambda.architecture");
        table.grant_read_write(function);
        settings.grant_read(function);
        certificates.grant_read(function, &config.certificate_keys);
        if config.eve.model_id != eve_contract::settings::OFFLINE_MODEL_ID {
            Model {
                id: config.eve.model_id.clone(),
                regions: config.model_regions(),
            }
            .grant_invoke(function, &config.region, &account_id);
        }
    }

    let api_logs = LogGroup::new(
        &stack,
        "api",
        LogGroupProps {
            name: Some(format!("/aws/apigateway/{}", config.api_name())),
            retention_days: config.api.log_retention_days,
            encryption_key: Some(key.clone()),
        },
    );
    let api = RestApi::new(
        &stack,
        "eve",
        RestApiProps {
            name: Some(config.api_name()),
            description: "EVE's API; reached through CloudFront under /api/*",
            stage_name: config.stage_name().to_string(),
            access_logs: api_logs,
            account_logging: AccountLogging::new(&stack, "api-gateway-logs"),
            routes: contract_routes::ROUTES
                .iter()
                .map(|route| (api_route(route), eve.clone()))
                .collect(),
            // One second past the function's timeout, within API Gateway's 29 s.
            integration_timeout_ms: ((config.lambda.timeout_s + 1) * 1000).min(29_000),
            throttle_rate_limit: config.api.throttle_rate_limit,
            throttle_burst_limit: config.api.throttle_burst_limit,
            daily_quota: config.api.daily_quota,
        },
    );
    let api_key = api.add_api_key(
        &stack,
        "cloudfront",
        "Sent by CloudFront as an origin header; never reaches a browser",
    );

    let zone = match config.dns.zone {
        ZoneSource::Lookup => HostedZone::lookup(&stack, "site", config.zone_name()),
        ZoneSource::Create => {
            HostedZone::create(&stack, "site", config.zone_name(), "CloudForgeX site")
        }
    };
    let web_acl = config.waf.enabled.then(|| edge_firewall(&stack, config));
    let certificate = Certificate::new(
        &stack.in_region("us-east-1"),
        "site",
        CertificateProps {
            domain_name: config.domain.clone(),
            alternative_names: vec![config.www_domain()],
            validate_in: config.features.certificate_validation.then(|| zone.clone()),
        },
    );
    let distribution = Distribution::new(
        &stack,
        "site",
        DistributionProps {
            comment: format!("{} ({})", config.domain, config.env),
            domain_names: vec![config.domain.clone(), config.www_domain()],
            certificate,
            price_class: config.cdn.price_class.as_str(),
            site: site.clone(),
            site_replica: recovery
                .as_ref()
                .filter(|_| config.features.origin_failover)
                .map(|r| r.site.clone()),
            web_acl: web_acl.clone(),
            api: Some(ApiOrigin {
                domain_name: api.domain_name(),
                origin_path: format!("/{}", api.stage_name()),
                path_pattern: "/api/*",
                headers: vec![(API_KEY_HEADER, api_key)],
            }),
            function_url: Some(FunctionUrlOrigin {
                url: eve_stream.add_url(InvokeMode::ResponseStream),
                path_pattern: contract_routes::CHAT_STREAM.path,
            }),
            access_logs: Some(logs),
            security_headers: config.features.response_headers_policy,
        },
    );
    let target = AliasTarget {
        name: distribution.domain_name(),
        zone_id: distribution.hosted_zone_id(),
    };
    alias_records(&stack, "apex", &zone, &config.domain, &target);
    alias_records(&stack, "www", &zone, &config.www_domain(), &target);

    monitoring(&stack, config, &key, [&eve, &eve_stream], &api, &table);
    let repository = Repository::new(
        &stack,
        "eve-server",
        RepositoryProps {
            name: Some(config.container_repository_name()),
            encryption_key: Some(key),
            force_delete: config.buckets.force_destroy,
        },
    );

    let outputs = [
        (
            "site_url",
            "The site's address",
            Expr::lit(config.site_url()),
        ),
        (
            "api_url",
            "API Gateway stage URL (needs the API key; browsers use <site_url>/api)",
            api.invoke_url(),
        ),
        (
            "distribution_id",
            "CloudFront distribution id (for invalidations)",
            distribution.id(),
        ),
        ("table_name", "DynamoDB conversations table", table.name()),
        (
            "function_name",
            "EVE's Lambda function",
            eve.function_name(),
        ),
        (
            "stream_function_name",
            "EVE's Lambda function for streamed chat replies (behind CloudFront only)",
            eve_stream.function_name(),
        ),
        (
            "site_bucket",
            "Bucket the site is published to",
            site.bucket(),
        ),
        (
            "certificates_bucket",
            "Bucket holding certificate PDFs",
            certificates.bucket(),
        ),
        (
            "container_repository_url",
            "ECR repository for the eve-server image",
            repository.repository_url(),
        ),
    ];
    for (name, description, value) in outputs {
        stack.output(name, description, value);
    }
    for (from, to) in moved_from_before_constructs() {
        stack.moved(&from, &to);
    }
    stack
}

/// The lifecycle the config asks for on named resources (emulator stacks: what the emulator
/// does not read back). Separate from [`build`] so an unknown address is reported against
/// its config key.
pub fn apply_ignore_changes(
    stack: &Stack,
    config: &config::Stack,
) -> Result<(), crate::tf::UnknownResource> {
    for (address, attributes) in &config.aws.ignore_changes {
        stack.set_lifecycle(
            address,
            &Lifecycle {
                ignore_changes: attributes.clone(),
                ..Lifecycle::default()
            },
        )?;
    }
    Ok(())
}

/// The config key behind a problem the checks find (`validate` points at the file, line and
/// key): a name too long is the stack id's (`<app>-<env>`, and `env` is always set), the rest
/// the construct path's.
pub fn config_key(problem: &Problem) -> &'static str {
    if problem.check == checks::NAME_LENGTH {
        return "env";
    }
    let below_stack = problem.path.split_once('/').map_or("", |(_, rest)| rest);
    match below_stack.split('/').next().unwrap_or_default() {
        "eve" | "eve-stream" => "lambda",
        "eve-server" => "kubernetes",
        "conversations" => "table",
        "settings" => "eve",
        "site" => "domain",
        "logs" | "certificates" => "buckets",
        "alarms" => "alarms",
        "dr" => "dr",
        "edge" => "waf",
        "network" => "network",
        "monthly" => "cost",
        _ => "",
    }
}

/// A bucket as every bucket of this stack is: named from the config, destroyable only where
/// the config allows, TLS-only unless the emulator cannot take it.
fn stack_bucket(
    scope: &crate::constructs::Scope,
    config: &config::Stack,
    id: &str,
    name: String,
    encryption: Encryption,
    expire_days: Option<u32>,
) -> Bucket {
    Bucket::new(
        scope,
        id,
        BucketProps {
            name: Some(name),
            encryption,
            expire_days,
            force_destroy: config.buckets.force_destroy,
            tls_only: config.features.tls_only_bucket_policies,
            ..BucketProps::default()
        },
    )
}

/// What the recovery region holds: replicas of the site and certificates (encrypted with a
/// key of that region, which CloudFront may use for the site) and the access logs of both.
struct RecoveryRegion {
    key: Key,
    site: Bucket,
    certificates: Bucket,
}

fn recovery_region(
    stack: &Stack,
    config: &config::Stack,
    dr: &config::resilience::Dr,
    account_id: &Expr,
) -> RecoveryRegion {
    let scope = stack.child("dr").in_region(&dr.region);
    let key = Key::new(
        &scope,
        "key",
        KeyProps {
            description: format!("{}: replicas in the recovery region", config.prefix()),
            alias: None,
            allow_cloudwatch_logs: false,
            allow_cloudwatch_alarms: false,
            allow_budgets: false,
            allow_cloudfront_reads: true,
        },
    );
    let bucket = |role: &str, encryption, expire_days| {
        let name = config.replica_bucket_name(role, &dr.region);
        stack_bucket(&scope, config, role, name, encryption, expire_days)
    };
    // S3 server access logs can only go to an SSE-S3 bucket.
    let logs = bucket(
        "logs",
        Encryption::S3Managed,
        Some(config.buckets.log_expiry_days),
    );
    let site = bucket("site", Encryption::Kms(key.clone()), None);
    let certificates = bucket("certificates", Encryption::Kms(key.clone()), None);
    site.log_to(&logs, account_id.clone());
    certificates.log_to(&logs, account_id.clone());
    RecoveryRegion {
        key,
        site,
        certificates,
    }
}

/// EVE's VPC (`[network]`): private subnets, an endpoint for every service EVE calls
/// (`eve_contract::aws`), and EVE's group, which may reach those endpoints and nothing else.
fn private_network(stack: &Stack, config: &config::Stack, key: &Key) -> Option<Placement> {
    use eve_contract::aws::{Endpoint, SERVICES};
    let network = &config.network;
    if !network.enabled {
        return None;
    }
    let vpc = Vpc::new(
        stack,
        "network",
        VpcProps {
            cidr: network.vpc_cidr.clone(),
            private_subnets: config
                .availability_zones()
                .into_iter()
                .zip(network.private_subnets.iter().cloned())
                .collect(),
            flow_log_retention_days: network.flow_log_retention_days,
            encryption_key: Some(key.clone()),
        },
    );
    let eve = vpc.security_group("eve", "EVE's function: HTTPS to its endpoints only");
    let offline = config.eve.model_id == eve_contract::settings::OFFLINE_MODEL_ID;
    let services = SERVICES
        .iter()
        .filter(|service| !(service.only_with_model && offline));
    let mut interface = Vec::new();
    for service in services {
        match service.endpoint {
            Endpoint::Gateway => vpc.add_gateway_endpoint(service.endpoint_service, &eve),
            Endpoint::Interface => interface.push(service.endpoint_service),
        }
    }
    vpc.add_interface_endpoints(&interface, &eve);
    Some(Placement {
        subnet_ids: vpc.subnet_ids(),
        security_group: eve,
    })
}

/// The web ACL in front of CloudFront (`[waf]`), in us-east-1 as AWS requires, with its
/// encrypted logs and an alarm on blocked-request spikes. The alarm's topic is in us-east-1
/// too (an alarm notifies only topics in its own region) and has the stack's subscribers.
fn edge_firewall(stack: &Stack, config: &config::Stack) -> WebAcl {
    let edge = stack.child("edge").in_region("us-east-1");
    let key = Key::new(
        &edge,
        "key",
        KeyProps {
            description: format!("{}: the edge firewall's logs and alarms", config.prefix()),
            alias: None,
            allow_cloudwatch_logs: true,
            allow_cloudwatch_alarms: true,
            allow_budgets: false,
            allow_cloudfront_reads: false,
        },
    );
    let acl = WebAcl::new(
        &edge,
        "acl",
        WebAclProps {
            description: "Managed rules and a per-IP rate limit on the API, before CloudFront",
            rate_limits: vec![RateLimit {
                path_prefix: "/api/",
                limit: config.waf.api_rate_limit,
            }],
            log_retention_days: config.waf.log_retention_days,
            encryption_key: Some(key.clone()),
        },
    );
    let topic = Topic::new(
        &edge,
        "alarms",
        TopicProps {
            encryption_key: Some(key),
        },
    );
    if let Some(email) = &config.alarms.email {
        topic.subscribe_email("email", email);
    }
    Alarm::new(
        &edge,
        "blocked-requests",
        &topic,
        AlarmProps {
            description: format!(
                "the web ACL blocked more than {} requests",
                config.waf.blocked_requests_alarm
            ),
            source: acl.metrics(),
            metrics: vec![("blocked", "BlockedRequests", "Sum")],
            expression: "blocked",
            threshold: config.waf.blocked_requests_alarm,
            period_seconds: config.alarms.period_seconds,
        },
    );
    acl
}

fn api_route(route: &contract_routes::Route) -> Route {
    Route {
        method: route.method,
        path: route.path,
        api_key_required: route.api_key_required,
    }
}

/// EVE's own metrics for the stack's stage, as the function emits them (`eve_contract::metrics`).
fn eve_metrics(config: &config::Stack) -> Source {
    Source {
        namespace: eve_metric::NAMESPACE,
        dimensions: BTreeMap::from([(eve_metric::STAGE, config.env.clone())]),
    }
}

/// Alarms on what only EVE sees: a Bedrock outage or a spent budget still answers 200 (offline),
/// so API and Lambda alarms stay quiet. None when the stack runs EVE without a model.
fn eve_alarms(config: &config::Stack) -> Vec<(&'static str, AlarmProps)> {
    if config.eve.model_id == eve_contract::settings::OFFLINE_MODEL_ID {
        return Vec::new();
    }
    let t = &config.alarms;
    let period_seconds = t.period_seconds;
    vec![
        (
            "eve-model-errors",
            AlarmProps {
                description: format!("EVE's model failed more than {} times", t.eve_model_errors),
                source: eve_metrics(config),
                metrics: vec![("errors", eve_metric::MODEL_ERRORS.name, "Sum")],
                expression: "errors",
                threshold: t.eve_model_errors,
                period_seconds,
            },
        ),
        (
            "eve-offline-share",
            AlarmProps {
                description: format!(
                    "more than {} % of EVE's answers are offline",
                    t.eve_offline_share_percent
                ),
                source: eve_metrics(config),
                metrics: vec![("offline", eve_metric::OFFLINE_ANSWERS.name, "Average")],
                expression: "100 * offline",
                threshold: t.eve_offline_share_percent,
                period_seconds,
            },
        ),
        (
            "eve-budget-used",
            AlarmProps {
                description: format!(
                    "EVE has spent more than {} % of the day's token budget",
                    t.eve_budget_used_percent
                ),
                source: eve_metrics(config),
                metrics: vec![("used", eve_metric::BUDGET_USED.name, "Maximum")],
                expression: "used",
                threshold: t.eve_budget_used_percent,
                period_seconds,
            },
        ),
    ]
}

/// Duration and error-rate alarms on one of EVE's functions: `lambda-*` on the API's, and
/// `<prefix>-lambda-*` on another.
fn function_alarms(
    config: &config::Stack,
    prefix: Option<&str>,
    function: &Function,
) -> Vec<(String, AlarmProps)> {
    let t = &config.alarms;
    let id = |name: &str| match prefix {
        Some(prefix) => format!("{prefix}-{name}"),
        None => name.to_string(),
    };
    let what = prefix.map_or("EVE's".to_string(), |p| format!("EVE's {p}"));
    vec![
        (
            id("lambda-duration"),
            AlarmProps {
                description: format!(
                    "{what} average duration is above {} ms",
                    t.lambda_duration_ms
                ),
                source: function.metrics(),
                metrics: vec![("duration", "Duration", "Average")],
                expression: "duration",
                threshold: t.lambda_duration_ms,
                period_seconds: t.period_seconds,
            },
        ),
        (
            id("lambda-error-rate"),
            AlarmProps::rate(
                &format!("of {what} invocations fail"),
                function.metrics(),
                ("Errors", "Invocations"),
                t.lambda_error_rate_percent,
                t.period_seconds,
            ),
        ),
    ]
}

/// The alarm topic, the alarms of the design on both of EVE's functions, the API and the
/// table (each notifies on ALARM and on OK), EVE's own, and a dashboard of what they watch.
fn monitoring(
    stack: &Stack,
    config: &config::Stack,
    key: &Key,
    [eve, eve_stream]: [&Function; 2],
    api: &RestApi,
    table: &Table,
) {
    let t = &config.alarms;
    let period = t.period_seconds;
    let topic = Topic::new(
        stack,
        "alarms",
        TopicProps {
            encryption_key: Some(key.clone()),
        },
    );
    if let Some(email) = &t.email {
        topic.subscribe_email("email", email);
    }
    if let Some(ceiling) = config.cost.monthly_ceiling_usd {
        let budget = Budget::new(
            stack,
            "monthly",
            BudgetProps {
                limit_usd: ceiling,
                tag: (config::STACK_TAG.to_string(), config.prefix()),
                alerts: WARN_AND_FORECAST.to_vec(),
                topic: topic.clone(),
            },
        );
        stack.output(
            "budget_name",
            "The AWS Budget holding the stack to `[cost] monthly_ceiling_usd`",
            budget.name(),
        );
    }
    let alarms = [
        (
            "api-4xx-rate",
            AlarmProps::rate(
                "of API requests get a 4xx",
                api.metrics(),
                ("4XXError", "Count"),
                t.api_4xx_rate_percent,
                period,
            ),
        ),
        (
            "api-5xx-rate",
            AlarmProps::rate(
                "of API requests get a 5xx",
                api.metrics(),
                ("5XXError", "Count"),
                t.api_5xx_rate_percent,
                period,
            ),
        ),
        (
            "dynamodb-throttles",
            AlarmProps {
                description: format!(
                    "the conversations table throttled more than {} requests",
                    t.dynamodb_throttled_requests
                ),
                source: table.metrics(),
                metrics: vec![
                    ("read_throttles", "ReadThrottleEvents", "Sum"),
                    ("write_throttles", "WriteThrottleEvents", "Sum"),
                ],
                expression: "read_throttles + write_throttles",
                threshold: t.dynamodb_throttled_requests,
                period_seconds: period,
            },
        ),
    ];
    let alarms = function_alarms(config, None, eve)
        .into_iter()
        .chain(function_alarms(config, Some("stream"), eve_stream))
        .chain(alarms.map(|(id, props)| (id.to_string(), props)))
        .chain(
            eve_alarms(config)
                .into_iter()
                .map(|(id, props)| (id.to_string(), props)),
        );
    for (id, props) in alarms {
        Alarm::new(stack, id, &topic, props);
    }
    let widget = |title, source, metrics: &[(&'static str, &'static str)]| Widget {
        title,
        source,
        metrics: metrics.to_vec(),
    };
    Dashboard::new(
        stack,
        "main",
        DashboardProps {
            name: Some(config.prefix()),
            period_seconds: period,
            widgets: vec![
                widget(
                    "EVE duration (ms)",
                    eve.metrics(),
                    &[("Duration", "Average"), ("Duration", "p95")],
                ),
                widget(
                    "EVE invocations and errors",
                    eve.metrics(),
                    &[
                        ("Invocations", "Sum"),
                        ("Errors", "Sum"),
                        ("Throttles", "Sum"),
                    ],
                ),
                widget(
                    "EVE streaming: invocations, errors and duration (ms)",
                    eve_stream.metrics(),
                    &[
                        ("Invocations", "Sum"),
                        ("Errors", "Sum"),
                        ("Duration", "p95"),
                    ],
                ),
                widget(
                    "API requests and errors",
                    api.metrics(),
                    &[("Count", "Sum"), ("4XXError", "Sum"), ("5XXError", "Sum")],
                ),
                widget(
                    "API latency (ms)",
                    api.metrics(),
                    &[("Latency", "Average"), ("IntegrationLatency", "Average")],
                ),
                widget(
                    "EVE answers: offline share, model errors, budget used",
                    eve_metrics(config),
                    &[
                        (eve_metric::OFFLINE_ANSWERS.name, "Average"),
                        (eve_metric::MODEL_ERRORS.name, "Sum"),
                        (eve_metric::BUDGET_USED.name, "Maximum"),
                    ],
                ),
                widget(
                    "DynamoDB throttles",
                    table.metrics(),
                    &[
                        ("ReadThrottleEvents", "Sum"),
                        ("WriteThrottleEvents", "Sum"),
                    ],
                ),
            ],
        },
    );
}

/// Addresses deployed before the construct layer, and where those resources are now: each is
/// renamed in state, never replaced (`tests/golden.rs` holds every deployed address to this).
/// Pairs whose new address the stack does not have (a setting left empty, no alarm email)
/// are dropped when the stack is finished.
fn moved_from_before_constructs() -> Vec<(String, String)> {
    let mut moved: Vec<(String, String)> = [
        (
            "aws_api_gateway_account.current",
            "aws_api_gateway_account.api_gateway_logs",
        ),
        (
            "aws_api_gateway_method_settings.all",
            "aws_api_gateway_method_settings.eve",
        ),
        (
            "aws_api_gateway_request_validator.parameters",
            "aws_api_gateway_request_validator.eve",
        ),
        (
            "aws_lambda_permission.api_gateway",
            "aws_lambda_permission.eve_invokes_eve",
        ),
        (
            "aws_route53_record.certificate_validation",
            "aws_route53_record.site_validation",
        ),
        (
            "aws_sns_topic_subscription.alarm_email",
            "aws_sns_topic_subscription.alarms_email",
        ),
    ]
    .iter()
    .map(|(from, to)| (from.to_string(), to.to_string()))
    .collect();
    for setting in eve_contract::settings::ALL {
        let name = setting.name();
        moved.push((
            format!("aws_ssm_parameter.{name}"),
            format!("aws_ssm_parameter.settings_{name}"),
        ));
    }
    let label = |path: &str| {
        path.trim_start_matches('/')
            .replace(['{', '}'], "")
            .replace('/', "_")
    };
    let mut resources = std::collections::BTreeSet::new();
    for route in contract_routes::ROUTES {
        let method = format!("{}_{}", route.method.to_lowercase(), label(route.path));
        for kind in ["aws_api_gateway_method", "aws_api_gateway_integration"] {
            moved.push((format!("{kind}.{method}"), format!("{kind}.eve_{method}")));
        }
        let mut prefix = String::new();
        for part in route.path.trim_start_matches('/').split('/') {
            prefix.push('/');
            prefix.push_str(part);
            resources.insert(label(&prefix));
        }
    }
    for resource in resources {
        moved.push((
            format!("aws_api_gateway_resource.{resource}"),
            format!("aws_api_gateway_resource.eve_{resource}"),
        ));
    }
    moved
}
