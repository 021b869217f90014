//! Each service's lines against figures worked out by hand from the price table, on a small
//! model and round traffic.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::*;
use crate::config::Stack;

const TRAFFIC: &str = r#"
env = "t"
region = "eu-west-1"
domain = "example.com"
[lambda]
reserved_concurrency = 10
[api]
daily_quota = 10000
[eve]
model_id = "eu.anthropic.claude-3-haiku-20240307-v1:0"
daily_token_budget = 100000
max_tokens = 500
[traffic]
visitors_per_month = 1000
pages_per_visitor = 2
chats_per_visitor = 1
model_answer_percent = 50
input_tokens_per_chat = 1000
output_tokens_per_chat = 200
model_answer_ms = 2000
local_answer_ms = 100
certificate_downloads_per_visitor = 0.1
certificate_mb = 1
cache_hit_percent = 90
deploys_per_month = 2
log_bytes_per_request = 1000
"#;

fn stack(extra: &str) -> Stack {
    config_diagnostics::TomlSource::parse("t.toml", format!("{TRAFFIC}{extra}"))
        .and_then(|source| source.deserialize::<Stack>())
        .map(|mut stack| {
            stack.name = "t".into();
            stack
        })
        .expect("a stack")
}

fn site() -> SiteWeight {
    SiteWeight {
        page_bytes: 10_000.0,
        asset_bytes: 40_000.0,
        asset_files: 4.0,
        total_bytes: 100_000.0,
        files: 10.0,
    }
}

fn resource(address: &str, region: &str, values: Value) -> Resource<'static> {
    Resource {
        address: address.into(),
        kind: address.split('.').next().unwrap_or_default().into(),
        region: region.into(),
        values: Cow::Owned(values),
        references: Vec::new(),
    }
}

/// EVE's function: what calls the model, so a model with one prices Bedrock.
fn function() -> Resource<'static> {
    resource(
        "aws_lambda_function.eve",
        "eu-west-1",
        json!({"memory_size": 1024, "architectures": ["arm64"], "timeout": 25,
               "reserved_concurrent_executions": 10}),
    )
}

fn priced(stack: &Stack, resources: Vec<Resource>, options: Options) -> Estimate {
    let table = PriceTable::shipped().expect("price table");
    let usage = Usage::new(stack, site(), None);
    estimate(&table, &Model { resources }, &usage, options)
}

fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 + expected.abs() * 1e-9,
        "{actual} != {expected}"
    );
}

fn line<'a>(estimate: &'a Estimate, service: &str, item: &str) -> &'a Line {
    estimate
        .line(service, item)
        .unwrap_or_else(|| panic!("no `{item}` under {service}: {estimate:#?}"))
}

/// 1000 × 0.1 certificate links: the API's function answers them; the widget streams its 1000
/// chats from the streaming function.
const API_REQUESTS: f64 = 100.0;
const CHATS: f64 = 1_000.0;
/// The usage plan's 10,000 a day over 730 / 24 days.
const API_MAX: f64 = 10_000.0 * 730.0 / 24.0;

#[test]
fn lambda_requests_and_compute_at_the_function_memory_and_architecture() {
    let stack = stack("");
    let function = resource(
        "aws_lambda_function.eve",
        "eu-west-1",
        json!({"memory_size": 1024, "architectures": ["arm64"], "timeout": 25,
               "reserved_concurrent_executions": 10}),
    );
    let e = priced(&stack, vec![function], Options::default());
    let requests = line(&e, "Lambda", "requests");
    close(requests.quantity, API_REQUESTS);
    close(requests.monthly_usd, API_REQUESTS * 0.20 / 1e6);
    close(requests.worst_case_usd, API_MAX * 0.20 / 1e6);
    assert_eq!(requests.bound_by, Some("api.daily_quota"));
    // 100 certificate links × 0.1 s, at 1 GB.
    let compute = line(&e, "Lambda", "compute (1024 MB, arm64)");
    close(compute.quantity, 10.0);
    close(compute.monthly_usd, 10.0 * 0.0000133334);
    // Every request the quota lets through running the full 25 s timeout (10 reserved
    // instances would allow more).
    close(compute.worst_case_usd, API_MAX * 25.0 * 0.0000133334);
    assert_eq!(compute.bound_by, Some("lambda.timeout_s"));
}

#[test]
fn the_streaming_function_answers_the_chats_bounded_only_by_its_reserved_concurrency() {
    let stack = stack("");
    let function = resource(
        "aws_lambda_function.eve_stream",
        "eu-west-1",
        json!({"memory_size": 1024, "architectures": ["arm64"], "timeout": 25,
               "handler": eve_contract::handlers::STREAMING,
               "reserved_concurrent_executions": 3}),
    );
    let e = priced(&stack, vec![function], Options::default());
    let requests = line(&e, "Lambda", "streaming requests");
    close(requests.quantity, CHATS);
    // A function URL has no API quota in front of it.
    assert_eq!(requests.bound_by, None);
    // 500 model answers × 2 s + 500 curated or offline ones × 0.1 s, at 1 GB.
    let compute = line(&e, "Lambda", "streaming compute (1024 MB, arm64)");
    close(compute.quantity, 1_050.0);
    // Three instances busy the whole month.
    close(compute.worst_case_usd, 3.0 * 730.0 * 3600.0 * 0.0000133334);
    assert_eq!(compute.bound_by, Some("lambda.reserved_concurrency"));
}

#[test]
fn reserved_concurrency_bounds_compute_when_it_is_the_tighter_limit() {
    let stack = stack("");
    let function = resource(
        "aws_lambda_function.eve",
        "eu-west-1",
        json!({"memory_size": 512, "architectures": ["x86_64"], "timeout": 900,
               "reserved_concurrent_executions": 1}),
    );
    let e = priced(&stack, vec![function], Options::default());
    let compute = line(&e, "Lambda", "compute (512 MB, x86_64)");
    assert_eq!(compute.bound_by, Some("lambda.reserved_concurrency"));
    close(compute.worst_case_usd, 730.0 * 3600.0 * 0.5 * 0.0000166667);
}

#[test]
fn api_gateway_cloudfront_and_waf_per_request_and_byte() {
    let stack = stack("");
    let e = priced(
        &stack,
        vec![
            resource("aws_api_gateway_rest_api.eve", "eu-west-1", json!({})),
            resource("aws_cloudfront_distribution.site", "eu-west-1", json!({})),
            resource(
                "aws_wafv2_web_acl.edge_acl",
                "us-east-1",
                json!({"rule": [{}, {}, {}, {}, {}]}),
            ),
        ],
        Options::default(),
    );
    // The certificate links: the widget streams its chats through CloudFront instead.
    close(
        line(&e, "API Gateway", "REST API requests").monthly_usd,
        API_REQUESTS * 3.50 / 1e6,
    );
    // 1000 visits × (2 pages × 10 kB + 40 kB of assets) + 1100 answers × 2 KiB.
    let bytes = 1_000.0 * (2.0 * 10_000.0 + 40_000.0) + 1_100.0 * 2_048.0;
    let transfer = line(&e, "CloudFront", "data transfer out");
    close(transfer.quantity, bytes / GIB);
    close(transfer.monthly_usd, bytes / GIB * 0.085);
    // At worst the quota's certificate links, and the chats at their estimate: no API limit
    // fronts the streaming function's URL.
    let most = 1_000.0 * (2.0 * 10_000.0 + 40_000.0) + (API_MAX + CHATS) * 2_048.0;
    close(transfer.worst_case_usd, most / GIB * 0.085);
    assert_eq!(transfer.bound_by, Some("api.daily_quota"));
    // 1000 visits × (2 pages + 4 assets) + 1100 API requests.
    let requests = 1_000.0 * 6.0 + 1_100.0;
    close(
        line(&e, "CloudFront", "HTTPS requests").monthly_usd,
        requests * 0.012 / 10_000.0,
    );
    close(line(&e, "WAF", "web ACL").monthly_usd, 5.0);
    close(line(&e, "WAF", "rules").monthly_usd, 5.0);
    close(
        line(&e, "WAF", "inspected requests").monthly_usd,
        requests * 0.60 / 1e6,
    );
    for unbounded in [
        "CloudFront: page and asset requests",
        "CloudFront: streamed chats",
        "WAF: streamed chats",
    ] {
        assert!(e.unbounded.contains(&unbounded.to_string()), "{unbounded}");
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[test]
fn buckets_by_role_and_replication_with_time_control() {
    let stack = stack("[dr]\nregion = \"eu-west-2\"\n");
    let mut replication = resource(
        "aws_s3_bucket_replication_configuration.site_replication",
        "eu-west-1",
        json!({"rule": [{"destination": {"replication_time": {"status": "Enabled"}}}]}),
    );
    replication.references = vec!["aws_s3_bucket.site".into()];
    let e = priced(
        &stack,
        vec![
            resource(
                "aws_s3_bucket.site",
                "eu-west-1",
                json!({"bucket": "cloudforgex-t-site"}),
            ),
            resource(
                "aws_s3_bucket.dr_site",
                "eu-west-2",
                json!({"bucket": "cloudforgex-t-site-eu-west-2"}),
            ),
            replication,
        ],
        Options::default(),
    );
    let s3 = e.service("S3").expect("S3");
    let storage: Vec<&Line> = s3
        .lines
        .iter()
        .filter(|l| l.item.starts_with("site storage"))
        .collect();
    assert_eq!(storage.len(), 2, "Ireland and London prices differ");
    let site_gb = 100_000.0 / GIB;
    close(
        storage.iter().map(|l| l.monthly_usd).sum(),
        site_gb * 0.023 + site_gb * 0.024,
    );
    // 10 % of 6000 page and asset requests miss the cache.
    close(
        line(&e, "S3", "CloudFront cache misses (GET)").monthly_usd,
        600.0 * 0.0004 / 1_000.0,
    );
    // Two deploys of the whole site cross to London, with time control.
    close(
        line(&e, "S3", "replication (inter-region transfer)").monthly_usd,
        2.0 * site_gb * 0.02,
    );
    close(
        line(&e, "S3", "replication time control").monthly_usd,
        2.0 * site_gb * 0.015,
    );
}

#[test]
fn dynamodb_reads_writes_storage_and_recovery() {
    let stack = stack("");
    let e = priced(
        &stack,
        vec![resource(
            "aws_dynamodb_table.conversations",
            "eu-west-1",
            json!({"point_in_time_recovery": {"enabled": true}}),
        )],
        Options::default(),
    );
    // 1000 chats: the session's count and the exchange (1.6 KB, two write units) each, and
    // the budget's reservation and settlement of the 500 model answers.
    let writes = line(&e, "DynamoDB", "writes (on-demand)");
    close(writes.monthly_usd, 4_000.0 * 0.7068 / 1e6);
    // Only chats use the table. They reach the streaming function's URL, which no API quota
    // fronts, so the worst case counts them at the estimate and says nothing bounds them.
    close(writes.worst_case_usd, writes.monthly_usd);
    assert_eq!(writes.bound_by, None);
    assert!(e
        .unbounded
        .contains(&"DynamoDB: writes (on-demand)".to_string()));
    // Only the model answers read history: 6 exchanges × 1.6 KB in three 4 KB read units.
    close(
        line(&e, "DynamoDB", "reads (on-demand)").monthly_usd,
        1_500.0 * 0.1415 / 1e6,
    );
    // 2000 turns × 800 B kept 30 days.
    let stored = 2_000.0 * 800.0 * (30.0 / (730.0 / 24.0)) / GIB;
    close(line(&e, "DynamoDB", "storage").quantity, stored);
    close(
        line(&e, "DynamoDB", "point-in-time recovery").monthly_usd,
        stored * 0.22,
    );
}

#[test]
fn bedrock_by_model_family_and_the_token_budget_bounds_it() {
    let stack = stack("");
    let e = priced(&stack, vec![function()], Options::default());
    let input = line(&e, "Bedrock", "anthropic.claude-3-haiku input tokens");
    close(input.monthly_usd, 500.0 * 1_000.0 * 0.25 / 1e6);
    let output = line(&e, "Bedrock", "anthropic.claude-3-haiku output tokens");
    close(output.monthly_usd, 500.0 * 200.0 * 1.25 / 1e6);
    // The daily budget, overshot by one 500-token answer per reserved instance, every day,
    // all at the output price.
    close(
        output.worst_case_usd,
        (100_000.0 + 10.0 * 500.0) * (730.0 / 24.0) * 1.25 / 1e6,
    );
    assert_eq!(output.bound_by, Some("eve.daily_token_budget"));
    let offline = priced(&stack_offline(), vec![function()], Options::default());
    assert!(offline.service("Bedrock").is_none());
    let without_function = priced(&stack, Vec::new(), Options::default());
    assert!(
        without_function.service("Bedrock").is_none(),
        "nothing calls the model before EVE's function exists"
    );
}

fn stack_offline() -> Stack {
    let mut stack = stack("");
    stack.eve.model_id = eve_contract::settings::OFFLINE_MODEL_ID.into();
    stack
}

#[test]
fn an_unknown_model_family_is_reported_not_priced_at_zero() {
    let mut stack = stack("");
    stack.eve.model_id = "mistral.mistral-large-2402-v1:0".into();
    let e = priced(&stack, vec![function()], Options::default());
    assert!(e.service("Bedrock").is_none());
    assert_eq!(e.unpriced.len(), 1);
    assert!(
        e.unpriced[0].reason.contains("mistral.mistral-large"),
        "{:?}",
        e.unpriced
    );
}

#[test]
fn keys_alarms_logs_endpoints_and_the_rest() {
    let stack = stack("");
    let mut table = resource("aws_dynamodb_table.conversations", "eu-west-1", json!({}));
    table.references = vec!["aws_kms_key.stack".into()];
    let policy =
        json!({"rules": [{"selection": {"countType": "imageCountMoreThan", "countNumber": 12}}]});
    let mut lifecycle = resource(
        "aws_ecr_lifecycle_policy.eve_server",
        "eu-west-1",
        json!({"policy": policy.to_string()}),
    );
    lifecycle.references = vec!["aws_ecr_repository.eve_server".into()];
    let e = priced(
        &stack,
        vec![
            resource("aws_kms_key.stack", "eu-west-1", json!({})),
            resource("aws_kms_key.edge_key", "us-east-1", json!({})),
            table,
            resource(
                "aws_cloudwatch_metric_alarm.rate",
                "eu-west-1",
                json!({"metric_query": [{"id": "a", "metric": {}}, {"id": "b", "metric": {}},
                                        {"id": "rate", "expression": "100*a/b"}]}),
            ),
            resource(
                "aws_cloudwatch_log_group.eve",
                "eu-west-1",
                json!({"name": "/aws/lambda/cloudforgex-t-eve", "retention_in_days": 365}),
            ),
            resource(
                "aws_lambda_function.eve_stream",
                "eu-west-1",
                json!({"function_name": "cloudforgex-t-eve-stream", "memory_size": 128,
                       "handler": eve_contract::handlers::STREAMING}),
            ),
            resource(
                "aws_cloudwatch_log_group.eve_stream",
                "eu-west-1",
                json!({"name": "/aws/lambda/cloudforgex-t-eve-stream", "retention_in_days": 30}),
            ),
            resource(
                "aws_vpc_endpoint.network_ssm",
                "eu-west-1",
                json!({"service_name": "com.amazonaws.eu-west-1.ssm",
                       "vpc_endpoint_type": "Interface", "subnet_ids": ["a", "b"]}),
            ),
            resource(
                "aws_vpc_endpoint.network_s3",
                "eu-west-1",
                json!({"service_name": "com.amazonaws.eu-west-1.s3",
                       "vpc_endpoint_type": "Gateway"}),
            ),
            resource("aws_ssm_parameter.a", "eu-west-1", json!({})),
            resource("aws_ssm_parameter.b", "eu-west-1", json!({})),
            resource(
                "aws_sns_topic_subscription.alarms_email",
                "eu-west-1",
                json!({"protocol": "email"}),
            ),
            resource("aws_iam_role.eve", "eu-west-1", json!({})),
            resource("aws_ecr_repository.eve_server", "eu-west-1", json!({})),
            lifecycle,
            resource("aws_route53_zone.site", "eu-west-1", json!({})),
        ],
        Options::default(),
    );
    // The lifecycle keeps 12 images of 40 MB (the default image size).
    close(
        line(&e, "ECR", "image storage").monthly_usd,
        12.0 * 40.0 / 1024.0 * 0.10,
    );
    close(line(&e, "Route 53", "hosted zone").monthly_usd, 0.50);
    close(line(&e, "KMS", "customer-managed keys").monthly_usd, 1.0);
    close(
        line(&e, "KMS", "customer-managed keys (us-east-1)").monthly_usd,
        1.0,
    );
    // The table's key, once a chat: the certificate links do not use the table.
    let requests = line(&e, "KMS", "requests");
    close(requests.monthly_usd, CHATS * 0.03 / 10_000.0);
    close(requests.worst_case_usd, requests.monthly_usd);
    // A rate alarm reads two metrics.
    close(line(&e, "CloudWatch", "alarm metrics").monthly_usd, 0.20);
    // Each function logs the requests it answers: the API's the certificate links, the
    // streaming one the chats, which no API quota bounds.
    let ingested = API_REQUESTS * 1_000.0 / GIB;
    let logs = "log ingestion (/aws/lambda/cloudforgex-t-eve)";
    close(line(&e, "CloudWatch", logs).monthly_usd, ingested * 0.57);
    let stored = "log storage (/aws/lambda/cloudforgex-t-eve)";
    close(
        line(&e, "CloudWatch", stored).monthly_usd,
        ingested * (365.0 / (730.0 / 24.0)) * 0.03,
    );
    let streamed = line(
        &e,
        "CloudWatch",
        "log ingestion (/aws/lambda/cloudforgex-t-eve-stream)",
    );
    close(streamed.quantity, CHATS * 1_000.0 / GIB);
    assert_eq!(streamed.bound_by, None);
    close(
        line(&e, "VPC", "interface endpoint hours").monthly_usd,
        2.0 * 730.0 * 0.011,
    );
    close(line(&e, "VPC", "gateway endpoints").monthly_usd, 0.0);
    let parameters = line(&e, "SSM", "standard parameters");
    close(parameters.quantity, 2.0);
    close(parameters.monthly_usd, 0.0);
    close(
        line(&e, "SNS", "alarm emails").monthly_usd,
        20.0 * 2.0 / 100_000.0,
    );
    assert!(e.unpriced.is_empty(), "{:?}", e.unpriced);
}

#[test]
fn the_free_tier_is_taken_off_once_per_price_across_lines() {
    let stack = stack("");
    let keys_and_alarms = |options| {
        priced(
            &stack,
            (0..12)
                .map(|i| {
                    resource(
                        &format!("aws_cloudwatch_metric_alarm.a{i}"),
                        "eu-west-1",
                        json!({"metric_name": "Errors"}),
                    )
                })
                .collect(),
            options,
        )
    };
    let billed = keys_and_alarms(Options::default());
    close(
        line(&billed, "CloudWatch", "alarm metrics").monthly_usd,
        1.2,
    );
    let free = keys_and_alarms(Options { free_tier: true });
    // Ten alarm metrics are free.
    close(line(&free, "CloudWatch", "alarm metrics").monthly_usd, 0.2);
    assert!(free.free_tier);
}

#[test]
fn a_resource_type_without_a_rule_is_reported() {
    let stack = stack("");
    let e = priced(
        &stack,
        vec![resource("aws_rds_cluster.db", "eu-west-1", json!({}))],
        Options::default(),
    );
    assert_eq!(e.unpriced[0].address, "aws_rds_cluster.db");
    assert!(e.unpriced[0]
        .reason
        .contains("no rule for `aws_rds_cluster`"));
}

#[test]
fn a_region_the_table_lacks_is_named() {
    let mut stack = stack("");
    stack.region = "ap-south-2".into();
    let e = priced(
        &stack,
        vec![resource("aws_kms_key.stack", "ap-south-2", json!({}))],
        Options::default(),
    );
    assert_eq!(
        e.unpriced[0].reason,
        "the price table has no `kms.key` for ap-south-2"
    );
}

#[test]
fn the_container_alternative_sizes_nodes_for_requests_and_replicas() {
    let stack = stack(
        "[kubernetes]\nreplicas = 2\nmax_replicas = 20\n[kubernetes.resources]\ncpu_request = \"500m\"\n",
    );
    // Two pods of 0.5 core fit the two-node minimum; twenty need ceil(10 / 1.6) = 7 nodes.
    assert_eq!(kubernetes::nodes_for(&stack, 2.0), 2.0);
    assert_eq!(kubernetes::nodes_for(&stack, 20.0), 7.0);
    let table = PriceTable::shipped().expect("price table");
    let serverless = priced(
        &stack,
        vec![
            function(),
            resource("aws_api_gateway_rest_api.eve", "eu-west-1", json!({})),
        ],
        Options::default(),
    );
    let comparison = kubernetes::compare(&table, &stack, &serverless).expect("comparison");
    let added = 730.0 * (0.10 + 2.0 * 0.0368 + 0.0252 + 0.008 + 0.048) + 2.0 * 20.0 * 0.088;
    // The model is shared by both: 500 answers of 1000 tokens in and 200 out.
    let shared = 500.0 * 1_000.0 * 0.25 / 1e6 + 500.0 * 200.0 * 1.25 / 1e6;
    close(comparison.kubernetes_usd, added + shared);
    let api = comparison
        .rows
        .iter()
        .find(|r| r.service == "API Gateway")
        .expect("row");
    close(api.kubernetes_usd, 0.0);
    assert!(comparison.kubernetes_at_max_replicas_usd > comparison.kubernetes_usd);
}

#[test]
fn an_empty_model_costs_nothing_and_says_so_without_a_sign() {
    let e = priced(&stack(""), Vec::new(), Options::default());
    assert_eq!(e.total_usd.to_string(), "0");
    assert_eq!(format!("{:.2}", e.worst_case_usd), "0.00");
}

/// In a plan that creates the subnets too, an endpoint's `subnet_ids` are unknown: the subnets
/// it refers to count instead of one zone.
#[test]
fn an_endpoint_whose_subnets_are_not_known_yet_counts_the_subnets_it_refers_to() {
    let mut endpoint = resource(
        "aws_vpc_endpoint.network_ssm",
        "eu-west-1",
        json!({"service_name": "com.amazonaws.eu-west-1.ssm", "vpc_endpoint_type": "Interface"}),
    );
    endpoint.references = vec![
        "aws_security_group.network_endpoints".into(),
        "aws_subnet.network_private_0".into(),
        "aws_subnet.network_private_1".into(),
    ];
    let e = priced(&stack(""), vec![endpoint], Options::default());
    close(
        line(&e, "VPC", "interface endpoint hours").monthly_usd,
        2.0 * 730.0 * 0.011,
    );
}
