//! The alarms on EVE's own metrics read exactly what the function emits: the namespace, metric
//! names and dimensions of `eve_contract::metrics`, and the stage the function is told.

mod common;

use std::collections::BTreeSet;

use eve_contract::metrics::{BUDGET_USED, CHAT_METRICS, DIMENSIONS, NAMESPACE, STAGE};
use serde_json::Value;

#[test]
fn eve_alarms_watch_the_metrics_the_function_emits() {
    let synthesis = common::synth(&common::repo_stacks(), "prod");
    let document: Value = serde_json::from_str(&synthesis.main_tf_json).expect("json");
    let resources = &document["resource"];
    let stages: BTreeSet<&str> = resources["aws_lambda_function"]
        .as_object()
        .expect("functions")
        .values()
        .filter_map(|f| f["environment"]["variables"]["EVE_STAGE"].as_str())
        .collect();
    assert_eq!(stages.len(), 1, "{stages:?}");
    let emitted: BTreeSet<&str> = CHAT_METRICS
        .iter()
        .chain([&BUDGET_USED])
        .map(|m| m.name)
        .collect();
    let dimension_sets: Vec<BTreeSet<&str>> = DIMENSIONS
        .iter()
        .map(|set| set.iter().copied().collect())
        .collect();

    let mut watched = BTreeSet::new();
    for alarm in resources["aws_cloudwatch_metric_alarm"]
        .as_object()
        .expect("alarms")
        .values()
    {
        for query in alarm["metric_query"].as_array().expect("queries") {
            let Some(metric) = query["metric"].get(0) else {
                continue;
            };
            if metric["namespace"] != NAMESPACE {
                continue;
            }
            let name = metric["metric_name"].as_str().expect("name");
            assert!(emitted.contains(name), "{name} is not emitted by EVE");
            let dimensions = metric["dimensions"].as_object().expect("dimensions");
            let keys: BTreeSet<&str> = dimensions.keys().map(String::as_str).collect();
            assert!(dimension_sets.contains(&keys), "{keys:?}");
            assert!(
                stages.contains(dimensions[STAGE].as_str().unwrap_or_default()),
                "the alarm's stage is the function's"
            );
            watched.insert(name);
        }
    }
    assert_eq!(
        watched,
        BTreeSet::from(["ModelErrors", "OfflineAnswers", "BudgetUsed"]),
        "model errors, the offline share and the budget are alarmed"
    );
}
