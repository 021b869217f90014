//! `infra-synth cost` over the real stacks: every resource priced, the properties any estimate
//! must have, the ceiling `validate` enforces, the budget it adds, and the plan's cost change.

mod common;

use std::path::Path;

use infra_synth::config;
use infra_synth::cost::{self, CostChange, Estimate, Options};
use infra_synth::synth::assemble_priced;
use serde_json::{json, Value};

const STACKS: &[&str] = &["prod", "dev", "local"];

fn estimate_of(stacks_dir: &Path, name: &str, visitors: Option<f64>) -> Estimate {
    let stack = config::load(stacks_dir, name).unwrap_or_else(|d| panic!("{name}: {d}"));
    let (assembly, inputs) = assemble_priced(&stack).unwrap_or_else(|d| panic!("{name}: {d}"));
    let inputs = inputs.unwrap_or_else(|| cost::Inputs::measure(&stack).expect("weighed"));
    cost::price_stack(&stack, &assembly.doc, &inputs, visitors, Options::default())
}

#[test]
fn every_resource_of_every_stack_is_priced_or_known_to_be_free() {
    for name in STACKS {
        let estimate = estimate_of(&common::repo_stacks(), name, None);
        assert!(
            estimate.unpriced.is_empty(),
            "{name}: unpriced {:?}",
            estimate.unpriced
        );
        // Lambda, API Gateway, CloudFront, S3, DynamoDB and KMS.
        for service in &cost::SERVICES[..6] {
            assert!(
                estimate.service(service).is_some(),
                "{name} has no {service} lines"
            );
        }
    }
}

/// Fixed lines do not move with visitors, usage lines scale linearly, and no line (so no total)
/// is ever worse in the estimate than in the worst case.
#[test]
fn fixed_lines_stay_usage_lines_scale_and_the_worst_case_is_never_below_the_estimate() {
    for name in STACKS {
        for visitors in [0.0, 1_000.0, 250_000.0] {
            let one = estimate_of(&common::repo_stacks(), name, Some(visitors));
            let two = estimate_of(&common::repo_stacks(), name, Some(2.0 * visitors));
            assert!(
                one.worst_case_usd >= one.total_usd - 1e-9,
                "{name} at {visitors}: worst {} below estimate {}",
                one.worst_case_usd,
                one.total_usd
            );
            for (a, b) in one.services.iter().zip(&two.services) {
                assert_eq!(a.service, b.service);
                for (x, y) in a.lines.iter().zip(&b.lines) {
                    assert_eq!(x.item, y.item);
                    assert!(x.worst_case_usd >= x.monthly_usd - 1e-12, "{}", x.item);
                    let expected = if x.scales_with_traffic {
                        2.0 * x.quantity
                    } else {
                        x.quantity
                    };
                    assert!(
                        (y.quantity - expected).abs() <= 1e-9 * expected.max(1.0),
                        "{name} {} / {} at {visitors}: {} then {} visitors gave {} then {}",
                        a.service,
                        x.item,
                        visitors,
                        2.0 * visitors,
                        x.quantity,
                        y.quantity
                    );
                }
            }
        }
    }
}

#[test]
fn the_json_has_the_documented_shape() {
    let output = common::infra_synth()
        .args(["cost", "--stack", "prod", "--format", "json"])
        .args(["--compare", "kubernetes"])
        .current_dir(common::repo_root())
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let body: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(body["stack"], "prod");
    assert_eq!(body["currency"], "USD");
    assert!(body["prices_as_of"].as_str().is_some_and(|d| d.len() == 10));
    let total = body["total_usd"].as_f64().expect("total");
    let worst = body["worst_case_usd"].as_f64().expect("worst");
    assert!(total > 0.0 && worst >= total);
    let services = body["services"].as_array().expect("services");
    let sum: f64 = services
        .iter()
        .map(|s| s["monthly_usd"].as_f64().expect("service total"))
        .sum();
    assert!((sum - total).abs() < 0.01 * services.len() as f64);
    let line = &services[0]["lines"][0];
    for field in ["item", "quantity", "unit", "unit_usd", "monthly_usd"] {
        assert!(!line[field].is_null(), "a line has no `{field}`: {line}");
    }
    let kubernetes = &body["compare"]["kubernetes"];
    assert!(kubernetes["kubernetes_usd"].as_f64().expect("k8s") > total);
    assert!(kubernetes["rows"].as_array().is_some_and(|r| !r.is_empty()));
}

/// A copy of the repository's stacks and content, with `prod.toml` edited by `edit`.
fn stacks_with(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let stacks = dir.path().join("stacks");
    std::fs::create_dir_all(&stacks).expect("mkdir");
    for name in STACKS {
        let file = format!("{name}.toml");
        let text = std::fs::read_to_string(common::repo_stacks().join(&file)).expect("read");
        let text = if *name == "prod" { edit(text) } else { text };
        std::fs::write(stacks.join(file), text).expect("write");
    }
    let content = dir.path().join("site/content");
    std::fs::create_dir_all(&content).expect("mkdir");
    for entry in std::fs::read_dir(common::repo_root().join("site/content")).expect("content") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), content.join(entry.file_name())).expect("copy");
    }
    dir
}

fn validate(dir: &Path) -> (bool, String) {
    let output = common::infra_synth()
        .args(["validate", "--stack", "prod", "--stacks-dir"])
        .arg(dir.join("stacks"))
        .output()
        .expect("run");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn set_ceiling(text: String, ceiling: &str) -> String {
    text.replace(
        "monthly_ceiling_usd = 350",
        &format!("monthly_ceiling_usd = {ceiling}"),
    )
}

#[test]
fn validate_refuses_a_worst_case_above_the_ceiling_naming_the_keys_that_push_it_over() {
    let low = stacks_with(|text| set_ceiling(text, "180"));
    let (ok, stderr) = validate(low.path());
    assert!(!ok, "a $180 ceiling under a ~$300 worst case must fail");
    let ceiling_line = std::fs::read_to_string(low.path().join("stacks/prod.toml"))
        .expect("read")
        .lines()
        .position(|l| l.starts_with("monthly_ceiling_usd"))
        .expect("the ceiling line")
        + 1;
    assert!(
        stderr.contains(&format!("prod.toml:{ceiling_line}:")),
        "names the ceiling's line: {stderr}"
    );
    assert!(stderr.contains("`cost.monthly_ceiling_usd`"), "{stderr}");
    // The streaming function's reserved instances: no API throttle bounds a function URL.
    assert!(
        stderr.contains("`lambda.reserved_concurrency`"),
        "names the key that pushes it over: {stderr}"
    );
    // The same ceiling holds once the keys that drove it over are lowered (EVE's model timeout
    // must stay below the function's).
    let shorter = |text: String| {
        set_ceiling(text, "180")
            .replace(
                "reserved_concurrency = 6",
                "reserved_concurrency = 2\ntimeout_s = 8",
            )
            .replace("[eve]\n", "[eve]\nmodel_timeout_ms = 6000\n")
    };
    let (ok, stderr) = validate(stacks_with(shorter).path());
    assert!(ok, "an 8 s timeout fits under $180: {stderr}");
    // And the token budget is named when it is what pushes a stack over.
    let generous = stacks_with(|text| {
        shorter(text).replace("[eve]\n", "[eve]\ndaily_token_budget = 20000000\n")
    });
    let (ok, stderr) = validate(generous.path());
    assert!(!ok);
    assert!(stderr.contains("`eve.daily_token_budget`"), "{stderr}");
    // Traffic that puts the estimate itself over is named as the estimate, not fixed costs.
    let busy = stacks_with(|text| shorter(text) + "\n[traffic]\nvisitors_per_month = 100000000\n");
    let (ok, stderr) = validate(busy.path());
    assert!(!ok);
    assert!(
        stderr.contains("the estimate alone is over it") && stderr.contains("`[traffic]`"),
        "{stderr}"
    );
    assert!(!stderr.contains("fixed costs alone"), "{stderr}");
}

/// The API's requests are bounded by its daily quota and its throttle together, the lower
/// binding. A quota raised past what the throttle lets through pushed the stack over, and only
/// the throttle was named: the key that was changed must be named too, at its own line.
#[test]
fn a_limit_that_bounds_together_with_another_is_named_with_it() {
    let raised = stacks_with(|text| text.replace("daily_quota = ", "daily_quota = 4000000000 #"));
    let (ok, stderr) = validate(raised.path());
    assert!(!ok, "4e9 API requests a day cannot fit under $350");
    let text = std::fs::read_to_string(raised.path().join("stacks/prod.toml")).expect("read");
    let line_of = |key: &str| {
        text.lines()
            .position(|l| l.starts_with(&format!("{key} =")))
            .expect("the key's line")
            + 1
    };
    for key in ["daily_quota", "throttle_rate_limit"] {
        assert!(
            stderr.contains(&format!("prod.toml:{}:", line_of(key)))
                && stderr.contains(&format!("`api.{key}`")),
            "names `api.{key}` at its line: {stderr}"
        );
    }
}

#[test]
fn a_ceiling_adds_a_budget_on_the_stack_tag_that_alerts_the_alarm_topic() {
    let synthesis = common::synth(&common::repo_stacks(), "prod");
    let doc: Value = serde_json::from_str(&synthesis.main_tf_json).expect("json");
    let budget = &doc["resource"]["aws_budgets_budget"]["monthly"];
    assert_eq!(budget["limit_amount"], "350.00");
    assert_eq!(budget["time_unit"], "MONTHLY");
    assert_eq!(
        budget["cost_filter"][0]["values"],
        json!(["user:stack$cloudforgex-prod"])
    );
    let alerts: Vec<(&str, f64)> = budget["notification"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| {
            (
                n["notification_type"].as_str().expect("type"),
                n["threshold"].as_f64().expect("threshold"),
            )
        })
        .collect();
    assert_eq!(alerts, vec![("ACTUAL", 80.0), ("FORECASTED", 100.0)]);
    assert_eq!(
        budget["notification"][0]["subscriber_sns_topic_arns"][0],
        "${aws_sns_topic.alarms.arn}"
    );
    assert_eq!(
        doc["provider"]["aws"][0]["default_tags"]["tags"]["stack"],
        "cloudforgex-prod"
    );
    let policy: Value = serde_json::from_str(
        doc["resource"]["aws_sns_topic_policy"]["alarms"]["policy"]
            .as_str()
            .expect("topic policy"),
    )
    .expect("policy json");
    let publishers: Vec<&str> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter_map(|s| s["Principal"]["Service"][0].as_str())
        .collect();
    assert_eq!(
        publishers,
        vec!["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]
    );
    let local = common::synth(&common::repo_stacks(), "local");
    assert!(
        !local.main_tf_json.contains("aws_budgets_budget"),
        "no ceiling, no budget"
    );
}

#[test]
fn the_cost_change_of_a_plan_prices_both_sides() {
    let stack = config::load(&common::repo_stacks(), "prod").expect("prod");
    let key = |name: &str| {
        json!({"address": format!("aws_kms_key.{name}"), "mode": "managed",
               "type": "aws_kms_key", "values": {}})
    };
    let plan = json!({
        "configuration": {"provider_config": {"aws": {"name": "aws",
            "expressions": {"region": {"constant_value": "eu-west-1"}}}},
            "root_module": {"resources": []}},
        "prior_state": {"values": {"root_module": {"resources": [key("stack")]}}},
        "planned_values": {"root_module": {"resources": [key("stack"), key("extra")]}},
    });
    let change = CostChange::of_plan(&stack, &plan).expect("priced");
    assert!((change.before.total_usd - 1.0).abs() < 1e-9);
    assert!((change.after.total_usd - 2.0).abs() < 1e-9);
    let text = change.to_string();
    assert!(
        text.starts_with("monthly cost: $1.00 → $2.00 (+$1.00)"),
        "{text}"
    );
}
