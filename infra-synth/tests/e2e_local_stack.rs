//! The whole deploy path on a real moto server with real Terraform: bootstrap, plan, apply the
//! local stack, check every part through the AWS SDK, talk to eve-server running against the
//! deployed table/parameters/bucket, re-plan to no changes, diff, destroy, check nothing is left.

mod deploy_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use deploy_support::{infra_synth, plugin_dir, stdout, wait_for_line, ChildGuard, Moto};
use infra_synth::deploy::aws::{block_on, AwsTarget};
use serde_json::{json, Value};

const TABLE: &str = "cloudforgex-local-conversations";
const FUNCTION: &str = "cloudforgex-local-eve";
const API: &str = "cloudforgex-local-api";
const SSM_PATH: &str = "/cloudforgex/local/";
const STACK_BUCKETS: [&str; 3] = [
    "cloudforgex-local-site",
    "cloudforgex-local-certificates",
    "cloudforgex-local-logs",
];
const KEY_ALIAS: &str = "alias/cloudforgex-local";
const REPOSITORY: &str = "cloudforgex/local/eve-server";
const CERTIFICATE_ID: &str = "hashicorp-terraform-associate";
const CERTIFICATE_KEY: &str = "certificates/hashicorp-terraform-associate.pdf";
const PDF: &[u8] = b"%PDF-1.4 terraform associate (e2e)";

#[test]
fn local_stack_deploys_serves_replans_clean_and_destroys() {
    const TEST: &str = "local_stack_deploys_serves_replans_clean_and_destroys";
    let Some(moto) = Moto::with_terraform(TEST) else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().to_str().expect("utf-8");
    let plugins = plugin_dir().unwrap_or_default();
    let envs = [("CFX_TF_PLUGIN_DIR", plugins.as_str())];
    let target = [
        "--stack",
        "local",
        "--out-dir",
        out_dir,
        "--endpoint-url",
        moto.endpoint.as_str(),
    ];
    let run = |command: &str, extra: &[&str]| {
        let mut args = vec![command];
        args.extend_from_slice(&target);
        args.extend_from_slice(extra);
        infra_synth(&args, &envs)
    };

    // Phase 1: backend, plan, apply.
    assert!(run("bootstrap", &[]).status.success(), "bootstrap");
    let plan = run("plan", &[]);
    assert_eq!(plan.status.code(), Some(2), "first plan has changes");
    assert!(stdout(&plan).contains("+ aws_dynamodb_table.conversations"));
    // Nothing is deployed yet: the whole stack's cost is the change.
    assert!(
        stdout(&plan).contains("monthly cost: $0.00 → $"),
        "the plan prices its change: {}",
        stdout(&plan)
    );
    let apply = run("apply", &[]);
    assert!(apply.status.success(), "apply");
    assert!(stdout(&apply).contains("site s3://cloudforgex-local-site:"));

    // Phase 2: everything exists as configured.
    let aws = AwsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(moto.endpoint.clone()),
    };
    let zip = std::fs::read(out.path().join("local/dist/eve-function.zip")).expect("zip");
    let stack_key_id = block_on(check_deployed(&aws, &zip)).expect("runtime");
    block_on(check_resilience(&aws)).expect("runtime");

    // Phase 3: eve-server against the deployed table, parameters and certificates bucket.
    block_on(async {
        aws.s3()
            .await
            .put_object()
            .bucket("cloudforgex-local-certificates")
            .key(CERTIFICATE_KEY)
            .body(PDF.to_vec().into())
            .send()
            .await
            .expect("upload certificate PDF")
    })
    .expect("runtime");
    let eve_server = deploy_support::eve_server();
    let mut server = Command::new(eve_server)
        .args(["--listen", "127.0.0.1:0"])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("EVE_SSM_PATH", SSM_PATH)
        .env("EVE_STAGE", "local")
        // moto has no Bedrock; the rest of the settings come from the deployed SSM parameters.
        .env("EVE_MODEL_ID", "offline")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start eve-server");
    let url = wait_for_line(
        &mut server,
        "eve-server listening on ",
        Duration::from_secs(60),
    );
    let server = ChildGuard(server);
    let session = converse(&url);
    block_on(check_conversation_stored(&aws, &session)).expect("runtime");
    let drill = |format: &str| {
        let mut args = vec!["dr", "drill"];
        args.extend_from_slice(&target);
        args.extend_from_slice(&["--format", format]);
        infra_synth(&args, &envs)
    };
    let drilled = drill("json");
    assert_eq!(drilled.status.code(), Some(0), "the drill passes");
    let report: Value = serde_json::from_str(&stdout(&drilled)).expect("drill report is JSON");
    check_drill_report(&report, &session, &moto.endpoint);
    let link: Value = ureq::get(&format!("{url}/api/certificates/{CERTIFICATE_ID}"))
        .call()
        .expect("certificate link")
        .into_json()
        .expect("json");
    let pdf_url = link["url"].as_str().expect("presigned url");
    let mut pdf = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(pdf_url).call().expect("download").into_reader(),
        &mut pdf,
    )
    .expect("read pdf");
    assert_eq!(pdf, PDF, "the certificate URL downloads the PDF");
    drop(server);

    // Phase 4: nothing changed, so the next plan is empty and diff sees no difference.
    let replan = run("plan", &[]);
    assert_eq!(replan.status.code(), Some(0), "second plan is a no-op");
    assert!(stdout(&replan).contains("No changes."));
    assert!(
        stdout(&replan).contains("(+$0.00); worst case"),
        "an empty plan changes no cost: {}",
        stdout(&replan)
    );
    let diff = run("diff", &[]);
    assert_eq!(diff.status.code(), Some(0));

    // A drill that finds replication gone fails and says so.
    block_on(async {
        aws.s3()
            .await
            .delete_bucket_replication()
            .bucket("cloudforgex-local-site")
            .send()
            .await
            .expect("remove the site's replication")
    })
    .expect("runtime");
    let broken = drill("text");
    assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
    assert!(
        stdout(&broken)
            .contains("cloudforgex-local-site -> cloudforgex-local-site-us-west-2  NOT CONFIGURED"),
        "{}",
        stdout(&broken)
    );

    // Phase 5: destroy leaves nothing of the stack behind.
    let destroy = run("destroy", &["--yes"]);
    assert!(destroy.status.success(), "destroy");
    block_on(check_destroyed(&aws, &stack_key_id)).expect("runtime");
}

/// The drill restored the table, found the conversation just held in the restore, saw both
/// buckets replicate, and deleted its scratch table and probe objects.
fn check_drill_report(report: &Value, session: &str, endpoint: &str) {
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["recovery_region"], "us-west-2");
    let scratch = report["restore"]["scratch_table"]
        .as_str()
        .expect("scratch table");
    assert!(scratch.starts_with(&format!("{TABLE}-drill-")), "{report}");
    assert!(
        report["restore"]["restore_seconds"].as_f64().is_some(),
        "{report}"
    );
    let sessions = report["sessions"].as_array().expect("sessions");
    let ours = sessions
        .iter()
        .find(|s| s["session"] == session)
        .unwrap_or_else(|| panic!("session {session} compared: {report}"));
    assert!(ours["source"].as_u64().unwrap_or(0) >= 2, "{report}");
    assert_eq!(ours["source"], ours["restored"], "{report}");
    let replicated: Vec<(&str, &str)> = report["replication"]
        .as_array()
        .expect("replication")
        .iter()
        .map(|r| {
            assert_eq!(r["configured"], true, "{r}");
            assert_eq!(r["time_control"], true, "{r}");
            // moto keeps no replication status, so the probe cannot be followed there.
            assert_eq!(r["probe"]["status"], "not_observable", "{r}");
            let reason = r["probe"]["reason"].as_str().unwrap_or_default();
            assert!(
                reason.contains(endpoint),
                "the reason names the backend: {r}"
            );
            (
                r["bucket"].as_str().unwrap_or_default(),
                r["replica"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        replicated,
        [
            ("cloudforgex-local-site", "cloudforgex-local-site-us-west-2"),
            (
                "cloudforgex-local-certificates",
                "cloudforgex-local-certificates-us-west-2"
            ),
        ]
    );
    let cleaned: Vec<&str> = report["cleaned_up"]
        .as_array()
        .expect("cleaned up")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        cleaned.contains(&format!("table {scratch}").as_str()),
        "{report}"
    );
    assert_eq!(
        cleaned.iter().filter(|c| c.contains("/dr-drill/")).count(),
        2
    );
}

/// One EC2 Query API call (moto does not check the signature); the response XML.
fn ec2_query(aws: &AwsTarget, params: &[(&str, &str)]) -> String {
    let mut form = vec![("Action", params[0].1), ("Version", "2016-11-15")];
    form.extend_from_slice(&params[1..]);
    unsigned_post(aws, "ec2")
        .send_form(&form)
        .unwrap_or_else(|e| panic!("{}: {e}", params[0].1))
        .into_string()
        .expect("EC2 answers text")
}

/// The text of every `<tag>` element in an XML answer.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_string)
        .collect()
}

/// EVE's network, the edge firewall and the recovery-region replicas, as the emulator holds them.
async fn check_resilience(aws: &AwsTarget) {
    let vpcs = ec2_query(
        aws,
        &[
            ("Action", "DescribeVpcs"),
            ("Filter.1.Name", "cidr"),
            ("Filter.1.Value.1", "10.42.0.0/16"),
        ],
    );
    let vpc = xml_values(&vpcs, "vpcId").pop().expect("EVE's VPC");
    let in_vpc = |action| {
        ec2_query(
            aws,
            &[
                ("Action", action),
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", vpc.as_str()),
            ],
        )
    };
    let subnets = in_vpc("DescribeSubnets");
    let mut zones = xml_values(&subnets, "availabilityZone");
    zones.sort();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"], "{subnets}");
    assert!(xml_values(&subnets, "mapPublicIpOnLaunch")
        .iter()
        .all(|v| v == "false"));
    let endpoints = in_vpc("DescribeVpcEndpoints");
    let mut services = xml_values(&endpoints, "serviceName");
    services.sort();
    assert_eq!(
        services,
        [
            "com.amazonaws.us-east-1.dynamodb",
            "com.amazonaws.us-east-1.s3",
            "com.amazonaws.us-east-1.ssm"
        ],
        "{endpoints}"
    );
    let gateways = in_vpc("DescribeInternetGateways");
    assert!(
        xml_values(&gateways, "internetGatewayId").is_empty(),
        "no way out"
    );
    let flow_logs = ec2_query(aws, &[("Action", "DescribeFlowLogs")]);
    assert!(
        xml_values(&flow_logs, "resourceId").contains(&vpc),
        "{flow_logs}"
    );

    let sdk: SdkConfig = aws.sdk_config().await;
    let function = aws_sdk_lambda::Client::new(&sdk)
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .expect("function");
    let placement = function
        .configuration()
        .and_then(|c| c.vpc_config())
        .expect("EVE runs in the VPC");
    assert_eq!(placement.subnet_ids().len(), 2);
    assert_eq!(placement.security_group_ids().len(), 1);

    let (_, acls) = json_call(
        aws,
        "wafv2",
        "AWSWAF_20190729.ListWebACLs",
        json!({"Scope": "CLOUDFRONT"}),
    );
    let acl = acls["WebACLs"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|a| a["Name"] == "cloudforgex-local-edge-acl")
        })
        .unwrap_or_else(|| panic!("the edge web ACL: {acls}"))
        .clone();
    let (_, described) = json_call(
        aws,
        "wafv2",
        "AWSWAF_20190729.GetWebACL",
        json!({"Name": acl["Name"], "Scope": "CLOUDFRONT", "Id": acl["Id"]}),
    );
    // Rules are a set; their priorities give the order WAF evaluates them in.
    let mut by_priority: Vec<(u64, &str)> = described["WebACL"]["Rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| Some((r["Priority"].as_u64()?, r["Name"].as_str()?)))
        .collect();
    by_priority.sort();
    let rules: Vec<&str> = by_priority.iter().map(|(_, name)| *name).collect();
    assert_eq!(
        rules,
        [
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAmazonIpReputationList",
            "AWSManagedRulesAnonymousIpList",
            "rate-api"
        ],
        "{described}"
    );
    let (_, logging) = json_call(
        aws,
        "wafv2",
        "AWSWAF_20190729.GetLoggingConfiguration",
        json!({"ResourceArn": acl["ARN"]}),
    );
    let destination = logging["LoggingConfiguration"]["LogDestinationConfigs"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        destination.contains(":log-group:aws-waf-logs-cloudforgex-local-edge-acl"),
        "{logging}"
    );

    // CloudFront's access logs: standard logging v2 into the log bucket.
    let (_, deliveries) = json_call(aws, "logs", "Logs_20140328.DescribeDeliveries", json!({}));
    let delivery = deliveries["deliveries"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|d| d["deliverySourceName"] == "cloudforgex-local-site-access-logs")
        })
        .unwrap_or_else(|| panic!("CloudFront's log delivery: {deliveries}"));
    let fields = delivery["recordFields"].as_array().expect("record fields");
    assert!(fields.contains(&json!("c-ip")), "{delivery}");
    assert!(
        !fields.contains(&json!("cs(Cookie)")),
        "no cookies in logs: {delivery}"
    );
    let (_, destination) = json_call(
        aws,
        "logs",
        "Logs_20140328.GetDeliveryDestination",
        json!({"name": "cloudforgex-local-site-access-logs"}),
    );
    assert_eq!(
        destination["deliveryDestination"]["deliveryDestinationConfiguration"]
            ["destinationResourceArn"],
        "arn:aws:s3:::cloudforgex-local-logs",
        "{delivery} {destination}"
    );

    let s3 = aws.s3().await;
    let recovery = AwsTarget {
        region: "us-west-2".into(),
        endpoint_url: aws.endpoint_url.clone(),
    }
    .s3()
    .await;
    for (bucket, replica) in [
        ("cloudforgex-local-site", "cloudforgex-local-site-us-west-2"),
        (
            "cloudforgex-local-certificates",
            "cloudforgex-local-certificates-us-west-2",
        ),
    ] {
        let replication = s3
            .get_bucket_replication()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{bucket} replicates: {e}"));
        let rule = &replication
            .replication_configuration()
            .expect("configuration")
            .rules()[0];
        assert_eq!(
            rule.destination().map(|d| d.bucket()),
            Some(format!("arn:aws:s3:::{replica}").as_str())
        );
        let encryption = recovery
            .get_bucket_encryption()
            .bucket(replica)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{replica} exists: {e}"));
        let sse = encryption
            .server_side_encryption_configuration()
            .map(|c| c.rules()[0].clone())
            .and_then(|r| r.apply_server_side_encryption_by_default().cloned())
            .expect("default encryption");
        assert_eq!(sse.sse_algorithm().as_str(), "aws:kms", "{replica}");
    }
}

/// Two exchanges in one session; returns the session id.
fn converse(url: &str) -> String {
    let first: Value = ureq::post(&format!("{url}/api/chat"))
        .send_json(json!({ "message": "What does Alex work on?" }))
        .expect("first chat")
        .into_json()
        .expect("json");
    assert!(!first["reply"].as_str().unwrap_or_default().is_empty());
    let session = first["session_id"].as_str().expect("session id").to_owned();
    let second: Value = ureq::post(&format!("{url}/api/chat"))
        .send_json(json!({ "message": "Which certificates?", "session_id": session }))
        .expect("second chat")
        .into_json()
        .expect("json");
    assert_eq!(second["session_id"], session.as_str());
    session
}

async fn check_conversation_stored(aws: &AwsTarget, session: &str) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws.sdk_config().await);
    let turns = dynamodb
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(session.into()))
        .send()
        .await
        .expect("query conversation");
    assert_eq!(
        turns.items().len(),
        2,
        "two exchanges stored, a question and its answer each"
    );
}

/// Checks every deployed part; returns the stack key's id, which outlives its alias.
async fn check_deployed(aws: &AwsTarget, zip: &[u8]) -> String {
    let sdk: SdkConfig = aws.sdk_config().await;

    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .expect("table");
    let keys: Vec<(String, KeyType)> = table
        .table()
        .expect("table")
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect();
    assert_eq!(
        keys,
        vec![("pk".into(), KeyType::Hash), ("sk".into(), KeyType::Range)]
    );
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(TABLE)
        .send()
        .await
        .expect("ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    let backups = dynamodb
        .describe_continuous_backups()
        .table_name(TABLE)
        .send()
        .await
        .expect("backups");
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_owned());
    assert_eq!(pitr.as_deref(), Some("ENABLED"));

    let ssm = aws_sdk_ssm::Client::new(&sdk);
    // More parameters than one page (10) holds: read them all, as EVE does.
    let mut pages = ssm
        .get_parameters_by_path()
        .path(SSM_PATH)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut parameters = Vec::new();
    while let Some(page) = pages.next().await {
        parameters.extend_from_slice(page.expect("parameters").parameters());
    }
    assert_eq!(parameters.len(), 13, "every EVE setting is a parameter");
    let value = |name: &str| {
        parameters
            .iter()
            .find(|p| p.name() == Some(&format!("{SSM_PATH}{name}")))
            .and_then(|p| p.value())
            .map(str::to_owned)
    };
    assert_eq!(value("table_name").as_deref(), Some(TABLE));
    assert_eq!(
        value("certificates_bucket").as_deref(),
        Some("cloudforgex-local-certificates")
    );

    let s3 = aws.s3().await;
    for bucket in STACK_BUCKETS {
        // moto 5.2 names the reply's root `GetBucketVersioningResponse`, which the Rust SDK
        // refuses to parse, so read it raw (moto does not check signatures).
        let endpoint = aws.endpoint_url.as_deref().expect("emulator endpoint");
        let versioning = ureq::get(&format!("{endpoint}/{bucket}?versioning"))
            .call()
            .unwrap_or_else(|e| panic!("{bucket} versioning: {e}"))
            .into_string()
            .expect("versioning body");
        assert!(
            versioning.contains("<Status>Enabled</Status>"),
            "{bucket} versioned: {versioning}"
        );
        s3.get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{bucket} encryption: {e:?}"));
        let block = s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{bucket} public access block: {e:?}"));
        let block = block
            .public_access_block_configuration()
            .expect("configuration");
        assert_eq!(
            (
                block.block_public_acls(),
                block.block_public_policy(),
                block.ignore_public_acls(),
                block.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true)),
            "{bucket} blocks public access"
        );
    }
    // The local stack turns TLS-only statements off (moto denies every upload under them),
    // so the policies hold just their grants: CloudFront reads the site, S3 logging writes logs.
    for (bucket, grantee) in [
        ("cloudforgex-local-site", "cloudfront.amazonaws.com"),
        ("cloudforgex-local-logs", "logging.s3.amazonaws.com"),
    ] {
        let policy = s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{bucket} policy: {e:?}"));
        let policy = policy.policy().unwrap_or_default();
        assert!(
            policy.contains(grantee),
            "{bucket} policy grants {grantee}: {policy}"
        );
        assert!(
            policy.to_lowercase().contains("aws:sourcearn"),
            "{bucket} grant is scoped to its source: {policy}"
        );
    }
    let index = s3
        .head_object()
        .bucket("cloudforgex-local-site")
        .key("index.html")
        .send()
        .await
        .expect("index.html published");
    assert_eq!(index.cache_control(), Some("no-cache"));
    assert!(index
        .content_type()
        .unwrap_or_default()
        .starts_with("text/html"));

    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let function = lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .expect("function");
    let configuration = function.configuration().expect("configuration");
    assert_eq!(
        configuration.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    use base64::Engine;
    use sha2::Digest;
    assert_eq!(
        configuration.code_sha256(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(zip))
                .as_str()
        ),
        "the deployed code is the packaged zip"
    );
    // The same package again, streaming chat replies behind an IAM-only function URL.
    let streaming = lambda
        .get_function()
        .function_name(format!("{FUNCTION}-stream"))
        .send()
        .await
        .expect("streaming function");
    let streaming = streaming.configuration().expect("configuration");
    assert_eq!(streaming.handler(), Some("stream"));
    assert_eq!(streaming.code_sha256(), configuration.code_sha256());
    let url = lambda
        .get_function_url_config()
        .function_name(format!("{FUNCTION}-stream"))
        .send()
        .await
        .expect("function URL");
    assert_eq!(url.auth_type().as_str(), "AWS_IAM");
    assert_eq!(
        url.invoke_mode().map(|m| m.as_str()),
        Some("RESPONSE_STREAM")
    );

    let apigateway = aws_sdk_apigateway::Client::new(&sdk);
    let apis = apigateway.get_rest_apis().send().await.expect("apis");
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(API))
        .expect("rest api");
    let api_id = api.id().expect("api id");
    let resources = apigateway
        .get_resources()
        .rest_api_id(api_id)
        .limit(500)
        .send()
        .await
        .expect("resources");
    let paths: Vec<&str> = resources.items().iter().filter_map(|r| r.path()).collect();
    for route in [
        "/api/chat",
        "/api/chat/stream",
        "/api/certificates/{id}",
        "/api/health",
    ] {
        assert!(paths.contains(&route), "route {route} in {paths:?}");
    }
    let stages = apigateway
        .get_stages()
        .rest_api_id(api_id)
        .send()
        .await
        .expect("stages");
    assert!(stages
        .item()
        .iter()
        .any(|s| s.stage_name() == Some("local")));
    let plans = apigateway
        .get_usage_plans()
        .send()
        .await
        .expect("usage plans");
    let plan = plans
        .items()
        .iter()
        .find(|p| p.api_stages().iter().any(|s| s.api_id() == Some(api_id)))
        .expect("usage plan on the API");
    let keys = apigateway
        .get_usage_plan_keys()
        .usage_plan_id(plan.id().expect("plan id"))
        .send()
        .await
        .expect("usage plan keys");
    assert!(
        !keys.items().is_empty(),
        "an API key is attached to the plan"
    );

    let stack_key_id = check_key_and_repository(aws);

    // The stack's seven (two per function, two on the API, the table's), and the edge
    // firewall's, which notifies the edge topic.
    let (edge, alarms): (Vec<String>, Vec<String>) = describe_alarms(aws)
        .into_iter()
        .partition(|a| a.starts_with("cloudforgex-local-edge-"));
    assert_eq!(alarms.len(), 7, "seven alarms: {alarms:?}");
    assert_eq!(edge.len(), 1, "one edge alarm: {edge:?}");
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topics = sns.list_topics().send().await.expect("topics");
    let topic = |name: &str| {
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|arn| arn.ends_with(&format!(":{name}")))
            .unwrap_or_else(|| panic!("topic {name}"))
            .to_string()
    };
    let edge_topic = topic("cloudforgex-local-edge-alarms");
    assert!(
        edge[0].starts_with("cloudforgex-local-edge-blocked-requests<")
            && edge[0].contains(&format!("<AlarmActions><member>{edge_topic}</member>")),
        "{edge:?}"
    );
    let topic = topic("cloudforgex-local-alarms");
    for alarm in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            assert!(
                alarm.contains(&format!("<{actions}><member>{topic}</member>")),
                "{actions} of {alarm} notify the topic"
            );
        }
    }
    stack_key_id
}

/// A POST to the emulator that moto routes to the service of credential scope `scope`; the
/// signature is a placeholder, as moto does not check it.
fn unsigned_post(aws: &AwsTarget, scope: &str) -> ureq::Request {
    let endpoint = aws.endpoint_url.as_deref().expect("emulator endpoint");
    ureq::post(endpoint).set(
        "Authorization",
        &format!(
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{scope}/aws4_request, \
             SignedHeaders=host, Signature=0"
        ),
    )
}

/// One call in the JSON protocol KMS and ECR speak, over plain HTTP: moto routes it by the
/// credential scope and the target and does not check the signature. Returns (status, body).
fn json_call(aws: &AwsTarget, scope: &str, target: &str, body: Value) -> (u16, Value) {
    let response = unsigned_post(aws, scope)
        .set("X-Amz-Target", target)
        .set("Content-Type", "application/x-amz-json-1.1")
        .send_json(body);
    let response = match response {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{target}: {error}"),
    };
    let status = response.status();
    let body = response
        .into_json()
        .unwrap_or_else(|e| panic!("{target}: body is not JSON: {e}"));
    (status, body)
}

fn key_metadata(aws: &AwsTarget, key_id: &str) -> Value {
    let (_, key) = json_call(
        aws,
        "kms",
        "TrentService.DescribeKey",
        json!({ "KeyId": key_id }),
    );
    key["KeyMetadata"].clone()
}

/// The stack key behind its alias, as `DescribeKey` reports it.
fn stack_key(aws: &AwsTarget) -> Value {
    let (_, aliases) = json_call(aws, "kms", "TrentService.ListAliases", json!({}));
    let key_id = aliases["Aliases"]
        .as_array()
        .expect("alias list")
        .iter()
        .find(|a| a["AliasName"] == KEY_ALIAS)
        .and_then(|a| a["TargetKeyId"].as_str())
        .unwrap_or_else(|| panic!("{KEY_ALIAS} points at a key: {aliases}"))
        .to_string();
    key_metadata(aws, &key_id)
}

/// The stack key (enabled, rotated) and the image repository; returns the key's id.
fn check_key_and_repository(aws: &AwsTarget) -> String {
    let key = stack_key(aws);
    assert_eq!(key["KeyState"], "Enabled", "{key}");
    let (_, rotation) = json_call(
        aws,
        "kms",
        "TrentService.GetKeyRotationStatus",
        json!({ "KeyId": key["KeyId"] }),
    );
    assert_eq!(rotation["KeyRotationEnabled"], true, "{rotation}");

    let (status, found) = json_call(
        aws,
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        json!({ "repositoryNames": [REPOSITORY] }),
    );
    assert_eq!(status, 200, "{found}");
    let repository = &found["repositories"][0];
    assert_eq!(
        repository["imageTagMutability"], "IMMUTABLE",
        "{repository}"
    );
    assert_eq!(
        repository["imageScanningConfiguration"]["scanOnPush"], true,
        "{repository}"
    );
    assert_eq!(
        repository["encryptionConfiguration"]["kmsKey"], key["Arn"],
        "images are encrypted with the stack key: {repository}"
    );
    let (_, lifecycle) = json_call(
        aws,
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.GetLifecyclePolicy",
        json!({ "repositoryName": REPOSITORY }),
    );
    let rules: Value = serde_json::from_str(
        lifecycle["lifecyclePolicyText"]
            .as_str()
            .unwrap_or_else(|| panic!("a lifecycle policy: {lifecycle}")),
    )
    .expect("lifecycle policy is JSON");
    assert_eq!(
        rules["rules"].as_array().map(Vec::len),
        Some(2),
        "untagged images expire and tagged ones are capped: {rules}"
    );
    key["KeyId"].as_str().expect("key id").to_string()
}

/// The stack's alarms, one XML fragment each. moto 5.2 does not route the CBOR protocol the
/// Rust CloudWatch SDK speaks, so this asks with the Query protocol (moto routes by the
/// credential scope and does not check the signature).
fn describe_alarms(aws: &AwsTarget) -> Vec<String> {
    let xml = unsigned_post(aws, "monitoring")
        .send_form(&[
            ("Action", "DescribeAlarms"),
            ("Version", "2010-08-01"),
            ("AlarmNamePrefix", "cloudforgex-local-"),
        ])
        .expect("DescribeAlarms")
        .into_string()
        .expect("DescribeAlarms body");
    xml.split("<member><AlarmName>")
        .skip(1)
        .map(str::to_owned)
        .collect()
}

async fn check_destroyed(aws: &AwsTarget, stack_key_id: &str) {
    let sdk = aws.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    assert!(dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .is_err());
    let s3 = aws.s3().await;
    let buckets = s3.list_buckets().send().await.expect("buckets");
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(
        names,
        vec!["cloudforgex-local-artifacts"],
        "only the bootstrap bucket (state history) remains"
    );
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    assert!(lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .is_err());
    let apigateway = aws_sdk_apigateway::Client::new(&sdk);
    assert!(apigateway
        .get_rest_apis()
        .send()
        .await
        .expect("apis")
        .items()
        .is_empty());
    assert!(apigateway
        .get_usage_plans()
        .send()
        .await
        .expect("plans")
        .items()
        .is_empty());
    assert!(apigateway
        .get_api_keys()
        .send()
        .await
        .expect("keys")
        .items()
        .is_empty());
    assert!(describe_alarms(aws).is_empty(), "no alarms left");
    let (status, _) = json_call(
        aws,
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        json!({ "repositoryNames": [REPOSITORY] }),
    );
    assert_eq!(status, 400, "the image repository is gone");
    // KMS never deletes a key at once: it waits out the deletion window.
    assert_eq!(
        key_metadata(aws, stack_key_id)["KeyState"],
        "PendingDeletion"
    );
    let sns = aws_sdk_sns::Client::new(&sdk);
    assert!(sns
        .list_topics()
        .send()
        .await
        .expect("topics")
        .topics()
        .is_empty());
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let left = ssm
        .get_parameters_by_path()
        .path(SSM_PATH)
        .send()
        .await
        .expect("parameters");
    assert!(left.parameters().is_empty(), "no parameters left");
}
