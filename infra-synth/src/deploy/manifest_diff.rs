//! The desired configuration against the last applied one, resource by resource and attribute
//! by attribute — from the two `main.tf.json` files alone, without any cloud access.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use serde_json::Value;

/// One attribute (a dotted path into the resource block, `[i]` for list items) that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeChange {
    pub path: String,
    pub applied: Option<Value>,
    pub desired: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed(Vec<AttributeChange>),
}

/// One resource (or data source) that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDiff {
    pub address: String,
    pub change: Change,
}

/// Every difference, sorted by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestDiff(pub Vec<ResourceDiff>);

impl ManifestDiff {
    /// Compares two synthesized `main.tf.json` texts.
    pub fn between(applied: &str, desired: &str) -> Result<Self> {
        let applied = blocks(applied).context("the applied manifest is not Terraform JSON")?;
        let desired = blocks(desired).context("the desired configuration is not Terraform JSON")?;
        let mut diffs = Vec::new();
        for (address, before) in &applied {
            match desired.get(address) {
                None => diffs.push(ResourceDiff {
                    address: address.clone(),
                    change: Change::Removed,
                }),
                Some(after) => {
                    let changes = attribute_changes(before, after);
                    if !changes.is_empty() {
                        diffs.push(ResourceDiff {
                            address: address.clone(),
                            change: Change::Changed(changes),
                        });
                    }
                }
            }
        }
        diffs.extend(
            desired
                .keys()
                .filter(|address| !applied.contains_key(*address))
                .map(|address| ResourceDiff {
                    address: address.clone(),
                    change: Change::Added,
                }),
        );
        diffs.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(Self(diffs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ManifestDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_owned(), Value::to_string);
        for diff in &self.0 {
            match &diff.change {
                Change::Added => writeln!(f, "+ {}", diff.address)?,
                Change::Removed => writeln!(f, "- {}", diff.address)?,
                Change::Changed(changes) => {
                    writeln!(f, "~ {}", diff.address)?;
                    for change in changes {
                        writeln!(
                            f,
                            "    {}: {} → {}",
                            change.path,
                            show(&change.applied),
                            show(&change.desired)
                        )?;
                    }
                }
            }
        }
        let count = |pred: fn(&Change) -> bool| self.0.iter().filter(|d| pred(&d.change)).count();
        write!(
            f,
            "{} to add, {} to change, {} to remove (against the last apply)",
            count(|c| matches!(c, Change::Added)),
            count(|c| matches!(c, Change::Changed(_))),
            count(|c| matches!(c, Change::Removed))
        )
    }
}

/// `resource` and `data` blocks keyed by address (`type.name`, `data.type.name`). Anything but
/// objects down to the block names is refused: read as no blocks, a damaged record would show
/// the whole stack as not yet applied.
fn blocks(main_tf_json: &str) -> Result<BTreeMap<String, Value>> {
    let doc: Value = serde_json::from_str(main_tf_json)?;
    let doc = object(&doc, || "the document".to_string())?;
    let mut out = BTreeMap::new();
    for (section, prefix) in [("resource", ""), ("data", "data.")] {
        let Some(types) = doc.get(section) else {
            continue;
        };
        for (kind, named) in object(types, || format!("`{section}`"))? {
            for (name, body) in object(named, || format!("`{section}.{kind}`"))? {
                out.insert(format!("{prefix}{kind}.{name}"), body.clone());
            }
        }
    }
    Ok(out)
}

/// `value` as an object, or an error naming `what` it is instead.
fn object(value: &Value, what: impl FnOnce() -> String) -> Result<&serde_json::Map<String, Value>> {
    value.as_object().with_context(|| {
        let instead = match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        format!("{} is {instead}, not an object", what())
    })
}

fn attribute_changes(applied: &Value, desired: &Value) -> Vec<AttributeChange> {
    let before = flatten(applied);
    let after = flatten(desired);
    let mut paths: Vec<&String> = before.keys().chain(after.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| before.get(*path) != after.get(*path))
        .map(|path| AttributeChange {
            path: path.clone(),
            applied: before.get(path).cloned(),
            desired: after.get(path).cloned(),
        })
        .collect()
}

/// Leaf values by path: `a.b`, `list[0].c`; empty objects and lists are leaves themselves.
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    let next = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, next, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{path}[{i}]"), out);
                }
            }
            leaf => {
                out.insert(path, leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLIED: &str = r#"{"resource":{
        "aws_lambda_function":{"eve":{"memory_size":512,"environment":[{"variables":{"A":"1"}}]}},
        "aws_sns_topic":{"alarms":{"name":"t"}}},
        "data":{"aws_caller_identity":{"current":{}}}}"#;
    const DESIRED: &str = r#"{"resource":{
        "aws_lambda_function":{"eve":{"memory_size":1024,"environment":[{"variables":{"A":"1","B":"2"}}]}},
        "aws_s3_bucket":{"site":{"bucket":"s"}}},
        "data":{"aws_caller_identity":{"current":{}}}}"#;

    #[test]
    fn reports_added_removed_and_changed_attributes() {
        let diff = ManifestDiff::between(APPLIED, DESIRED).expect("diff");
        let text = diff.to_string();
        assert_eq!(
            text,
            "~ aws_lambda_function.eve\n\
             \x20   environment[0].variables.B: (absent) → \"2\"\n\
             \x20   memory_size: 512 → 1024\n\
             + aws_s3_bucket.site\n\
             - aws_sns_topic.alarms\n\
             1 to add, 1 to change, 1 to remove (against the last apply)"
        );
    }

    #[test]
    fn identical_configs_have_no_diff() {
        assert!(ManifestDiff::between(DESIRED, DESIRED)
            .expect("diff")
            .is_empty());
    }

    /// JSON that is not a document infra-synth wrote (a record cut short and filled, a state
    /// object overwritten) would read as "nothing applied" and show every resource as new.
    #[test]
    fn json_that_is_not_a_terraform_document_is_an_error_not_an_empty_stack() {
        for (applied, why) in [
            ("null", "the document is null, not an object"),
            ("[]", "the document is an array, not an object"),
            (r#"{"resource":5}"#, "`resource` is a number, not an object"),
            (
                r#"{"data":{"aws_caller_identity":[]}}"#,
                "`data.aws_caller_identity` is an array, not an object",
            ),
        ] {
            let err = ManifestDiff::between(applied, DESIRED).expect_err(applied);
            assert_eq!(
                format!("{err:#}"),
                format!("the applied manifest is not Terraform JSON: {why}"),
                "{applied}"
            );
        }
        let err = ManifestDiff::between(DESIRED, "{}").err();
        assert!(err.is_none(), "a document with no blocks is one: {err:?}");
    }

    #[test]
    fn a_corrupt_manifest_is_an_error() {
        let err = ManifestDiff::between("{", DESIRED).expect_err("corrupt");
        assert!(format!("{err:#}").contains("applied manifest"));
    }
}
