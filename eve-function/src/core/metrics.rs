//! CloudWatch Embedded Metric Format: one JSON line per chat on stdout, which Lambda's log
//! pipeline turns into metrics without any API call.

use std::io::Write;

use serde_json::json;

pub const NAMESPACE: &str = "CloudForgeX/EVE";

pub struct ChatMetrics<'a> {
    pub stage: &'a str,
    pub source: &'a str,
    pub latency_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub model_errors: u64,
}

/// The EMF document for one chat, dimensioned by stage and by stage + source.
pub fn document(m: &ChatMetrics<'_>, timestamp_ms: u64) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stage"], ["Stage", "Source"]],
                "Metrics": [
                    {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "InputTokens", "Unit": "Count"},
                    {"Name": "OutputTokens", "Unit": "Count"},
                    {"Name": "ModelErrors", "Unit": "Count"},
                ],
            }],
        },
        "Stage": m.stage,
        "Source": m.source,
        "Latency": m.latency_ms,
        "InputTokens": m.input_tokens,
        "OutputTokens": m.output_tokens,
        "ModelErrors": m.model_errors,
    })
}

pub fn emit(m: &ChatMetrics<'_>) {
    let line = document(m, super::chat::unix_ms()).to_string();
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
        assert_eq!(doc["Latency"], 812);
        assert_eq!(doc["Source"], "model");
    }
}
