//! Drift: what changed in the deployed infrastructure since the last apply, read from a
//! refresh-only plan (`terraform show -json`, its documented `resource_drift` list).
//!
//! Each row is one attribute the configuration sets whose deployed value differs from the state
//! Terraform recorded at apply time, with the stack file key that sets it where the app recorded
//! one. Attributes the configuration leaves to AWS (computed ones, such as a certificate's
//! status), a `null` read back as a zero value (`[]`, `{}`, `0`), and attributes under the resource's
//! `lifecycle.ignore_changes` are not drift.

use std::fmt;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

use super::plan_summary::RawResourceChange;
use crate::constructs::AttributeSource;
use crate::emit::terraform::Synthesis;

/// Widest value shown in the table; longer ones (policies) are cut with `…`.
const MAX_VALUE_CHARS: usize = 60;

/// One attribute that moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftedAttribute {
    pub address: String,
    /// Dotted path inside the resource (`memory_size`, `tags.owner`); `-` when the whole
    /// resource is gone.
    pub attribute: String,
    /// What the state says was applied.
    pub expected: String,
    /// What is deployed now.
    pub actual: String,
    /// The stack file key that sets the attribute, when one does.
    pub key: Option<String>,
}

/// Every drifted attribute, in Terraform's address order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    pub attributes: Vec<DriftedAttribute>,
    /// Resources the state holds. None means nothing was compared: the stack was never
    /// applied there, or the state read is not the one it was applied to.
    pub deployed: usize,
}

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    resource_drift: Vec<RawResourceChange>,
    /// The state the plan started from; absent when there is none.
    #[serde(default)]
    prior_state: Value,
}

/// Managed resources in a state's `values` module and the modules under it.
fn managed_resources(module: &Value) -> usize {
    let here = module["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["mode"] == "managed")
        .count();
    let below: usize = module["child_modules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(managed_resources)
        .sum();
    here + below
}

impl Drift {
    /// Reads the drift out of `terraform show -json` of a refresh-only plan of `synthesis`.
    pub fn parse(show_json: &str, synthesis: &Synthesis) -> Result<Drift> {
        let config: Value = serde_json::from_str(&synthesis.main_tf_json)?;
        Self::parse_with(show_json, &config, &synthesis.manifest.sources)
    }

    fn parse_with(show_json: &str, config: &Value, sources: &[AttributeSource]) -> Result<Drift> {
        let plan: ShowJson = serde_json::from_str(show_json)
            .context("`terraform show -json` did not print a plan")?;
        let mut attributes = Vec::new();
        for drift in plan.resource_drift {
            let key_of = |attribute: &str| {
                let top = attribute.split('.').next().unwrap_or(attribute);
                sources
                    .iter()
                    .find(|s| s.address == drift.address && s.attribute == top)
                    .map(|s| s.key.clone())
            };
            let body = drift
                .address
                .split_once('.')
                .map(|(kind, name)| &config["resource"][kind][name])
                .unwrap_or(&Value::Null);
            let ignored: Vec<String> = body["lifecycle"]["ignore_changes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|path| path.replace("[", ".").replace("]", ""))
                .collect();
            let counts = |attribute: &str| {
                let top = attribute.split('.').next().unwrap_or(attribute);
                body.get(top).is_some()
                    && !ignored
                        .iter()
                        .any(|i| attribute == i || attribute.starts_with(&format!("{i}.")))
            };
            if drift.change.actions.iter().any(|a| a == "delete") || drift.change.after.is_null() {
                attributes.push(DriftedAttribute {
                    address: drift.address.clone(),
                    attribute: "-".into(),
                    expected: "exists".into(),
                    actual: "deleted outside Terraform".into(),
                    key: None,
                });
                continue;
            }
            let mut moved = Vec::new();
            differences("", &drift.change.before, &drift.change.after, &mut moved);
            for (attribute, expected, actual) in moved.into_iter().filter(|(a, _, _)| counts(a)) {
                attributes.push(DriftedAttribute {
                    key: key_of(&attribute),
                    address: drift.address.clone(),
                    attribute,
                    expected,
                    actual,
                });
            }
        }
        Ok(Drift {
            attributes,
            deployed: managed_resources(&plan.prior_state["values"]["root_module"]),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }
}

/// Leaf paths where `before` and `after` differ, with both values as compact JSON.
fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<(String, String, String)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                differences(&join(key), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&join(&index.to_string()), x, y, out);
            }
        }
        _ if is_unset(before) && is_unset(after) => {}
        _ if before != after => out.push((path.to_owned(), compact(before), compact(after))),
        _ => {}
    }
}

/// `null` and the zero values (`[]`, `{}`, `""`, `0`, `false`): what the provider reads back
/// for an argument nobody set, interchangeably.
fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(text) => text.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
    }
}

fn compact(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = ["RESOURCE", "ATTRIBUTE", "EXPECTED", "ACTUAL", "STACK KEY"];
        let rows: Vec<[String; 5]> = self
            .attributes
            .iter()
            .map(|a| {
                [
                    a.address.clone(),
                    a.attribute.clone(),
                    a.expected.clone(),
                    a.actual.clone(),
                    a.key.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 5]| {
            let text: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            writeln!(f, "{}", text.join("  ").trim_end())
        };
        line(f, header)?;
        for row in &rows {
            line(f, row.each_ref().map(String::as_str))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = r#"{
      "format_version": "1.2",
      "resource_drift": [
        {"address": "aws_lambda_function.eve", "change": {"actions": ["update"],
          "before": {"memory_size": 256, "timeout": 10, "tags": {"env": "local"}, "status": "PENDING",
            "layers": null, "environment": [{"variables": {"A": "1"}}]},
          "after": {"memory_size": 512, "timeout": 10, "tags": {"env": "local", "owner": "ops"},
            "status": "ISSUED", "layers": [], "timeout_ms": 0, "environment": [{"variables": {"A": "2"}}]}}},
        {"address": "aws_sqs_queue.dlq", "change": {"actions": ["delete"],
          "before": {"name": "q"}, "after": null}}
      ]
    }"#;

    const CONFIG: &str = r#"{"resource": {
      "aws_lambda_function": {"eve": {"memory_size": 256, "timeout": 10, "tags": {},
        "environment": {}, "lifecycle": {"ignore_changes": ["environment[0].variables"]}}},
      "aws_sqs_queue": {"dlq": {"name": "q"}}
    }}"#;

    #[test]
    fn moved_attributes_are_named_with_the_key_that_sets_them() {
        let sources = [AttributeSource {
            address: "aws_lambda_function.eve".into(),
            attribute: "memory_size".into(),
            key: "lambda.memory_mb".into(),
        }];
        let config: Value = serde_json::from_str(CONFIG).expect("config");
        let drift = Drift::parse_with(SHOW, &config, &sources).expect("parse");
        let rows: Vec<(&str, &str, &str, &str, Option<&str>)> = drift
            .attributes
            .iter()
            .map(|a| {
                (
                    a.address.as_str(),
                    a.attribute.as_str(),
                    a.expected.as_str(),
                    a.actual.as_str(),
                    a.key.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "aws_lambda_function.eve",
                    "memory_size",
                    "256",
                    "512",
                    Some("lambda.memory_mb")
                ),
                ("aws_lambda_function.eve", "tags.owner", "null", "ops", None),
                (
                    "aws_sqs_queue.dlq",
                    "-",
                    "exists",
                    "deleted outside Terraform",
                    None
                ),
            ]
        );
        let table = drift.to_string();
        assert!(table.starts_with("RESOURCE"), "{table}");
        assert!(table.contains("lambda.memory_mb"), "{table}");
    }

    #[test]
    fn a_plan_without_drift_is_empty() {
        let drift =
            Drift::parse_with(r#"{"format_version": "1.2"}"#, &Value::Null, &[]).expect("parse");
        assert!(drift.is_empty());
        assert_eq!(drift.deployed, 0, "no state, nothing deployed");
    }

    #[test]
    fn the_resources_of_the_state_are_counted_data_sources_not() {
        let show = r#"{"prior_state": {"values": {"root_module": {
          "resources": [{"mode": "managed"}, {"mode": "data"}],
          "child_modules": [{"resources": [{"mode": "managed"}]}]}}}}"#;
        let drift = Drift::parse_with(show, &Value::Null, &[]).expect("parse");
        assert_eq!(drift.deployed, 2);
    }
}
