//! CloudWatch Embedded Metric Format: one JSON line per chat on stdout, which Lambda's log
//! pipeline turns into metrics without any API call.

use std::io::Write;

use eve_contract::metrics::{self as contract, DIMENSIONS, NAMESPACE, SOURCE, STAGE};
use serde_json::{json, Map, Value};

pub struct ChatMetrics<'a> {
    pub stage: &'a str,
    pub source: &'a str,
    pub latency_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub model_errors: u64,
    pub offline_answers: u64,
    /// Only for chats that reserved from the budget (or found it spent).
    pub budget_used_percent: Option<u64>,
}

/// The EMF document for one chat, dimensioned as the contract says (stage, stage + source).
pub fn document(m: &ChatMetrics<'_>, timestamp_ms: u64) -> Value {
    let mut values = vec![
        (contract::LATENCY, m.latency_ms),
        (contract::INPUT_TOKENS, m.input_tokens),
        (contract::OUTPUT_TOKENS, m.output_tokens),
        (contract::MODEL_ERRORS, m.model_errors),
        (contract::OFFLINE_ANSWERS, m.offline_answers),
    ];
    if let Some(percent) = m.budget_used_percent {
        values.push((contract::BUDGET_USED, percent));
    }
    let declared: Vec<Value> = values
        .iter()
        .map(|(metric, _)| json!({"Name": metric.name, "Unit": metric.unit}))
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": DIMENSIONS,
                "Metrics": declared,
            }],
        }),
    );
    document.insert(STAGE.into(), m.stage.into());
    document.insert(SOURCE.into(), m.source.into());
    for (metric, value) in values {
        document.insert(metric.name.into(), value.into());
    }
    Value::Object(document)
}

/// Writes one chat's metrics line to stdout, stamped `now_ms`.
pub fn emit(m: &ChatMetrics<'_>, now_ms: u64) {
    let line = document(m, now_ms).to_string();
    let mut out = std::io::stdout().lock();
    // A closed stdout must not fail the request; metrics are best effort.
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_has_a_value() {
        let m = ChatMetrics {
            stage: "prod",
            source: "model",
            latency_ms: 812,
            input_tokens: 900,
            output_tokens: 120,
            model_errors: 0,
            offline_answers: 0,
            budget_used_percent: None,
        };
        let doc = document(&m, 1_700_000_000_000);
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics list")
            .iter()
            .map(|d| d["Name"].as_str().expect("name").to_string())
            .collect::<Vec<_>>();
        for name in &declared {
            assert!(doc[name].is_u64(), "{name} has no value");
        }
        let contract: Vec<&str> = contract::CHAT_METRICS.iter().map(|m| m.name).collect();
        assert_eq!(declared, contract);
        assert_eq!(doc["Latency"], 812);
        assert_eq!(doc["Source"], "model");

        let spent = document(
            &ChatMetrics {
                budget_used_percent: Some(83),
                ..m
            },
            1_700_000_000_000,
        );
        let last = &spent["_aws"]["CloudWatchMetrics"][0]["Metrics"][contract::CHAT_METRICS.len()];
        assert_eq!(last["Name"], contract::BUDGET_USED.name);
        assert_eq!(spent[contract::BUDGET_USED.name], 83);
    }
}
