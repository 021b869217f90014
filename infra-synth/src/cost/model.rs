//! What is priced: the resources of a stack with their attribute values and regions, read
//! either from the synthesized document or from one side of a Terraform plan, so `cost` and the
//! cost change `plan` prints apply the same rules.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::tf::Document;

/// One managed resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource<'a> {
    /// `aws_lambda_function.eve`.
    pub address: String,
    /// `aws_lambda_function`.
    pub kind: String,
    pub region: String,
    /// Its arguments (synthesized) or attributes (planned or in state), borrowed from the
    /// document or plan it was read from.
    pub values: Cow<'a, Value>,
    /// Addresses of the resources it refers to.
    pub references: Vec<String>,
}

/// Every managed resource of a stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model<'a> {
    pub resources: Vec<Resource<'a>>,
}

/// Which side of a plan to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSide {
    /// What is deployed now (`prior_state`).
    Before,
    /// What the plan leaves deployed (`planned_values`).
    After,
}

impl<'a> Model<'a> {
    /// The synthesized stack: each resource in the region of the provider it is bound to.
    pub fn from_document(doc: &'a Document) -> Model<'a> {
        let default_region = doc
            .providers
            .iter()
            .find(|p| p.alias.is_none())
            .map(|p| p.region.clone())
            .unwrap_or_default();
        let regions: BTreeMap<String, String> = doc
            .providers
            .iter()
            .filter_map(|p| {
                p.alias
                    .as_ref()
                    .map(|alias| (format!("aws.{alias}"), p.region.clone()))
            })
            .collect();
        let resources = doc
            .entries()
            .into_iter()
            .filter(|entry| !entry.address.starts_with("data."))
            .filter_map(|entry| {
                let (kind, _) = entry.address.split_once('.')?;
                let region = entry
                    .body
                    .get("provider")
                    .and_then(Value::as_str)
                    .and_then(|provider| regions.get(provider))
                    .cloned()
                    .unwrap_or_else(|| default_region.clone());
                Some(Resource {
                    kind: kind.to_string(),
                    region,
                    references: entry.references.iter().cloned().collect(),
                    address: entry.address,
                    values: Cow::Borrowed(entry.body),
                })
            })
            .collect();
        Model { resources }
    }

    /// One side of `terraform show -json <plan>`. Regions come from the provider each resource
    /// is configured with; a resource the configuration no longer has (one being destroyed)
    /// takes the region in its ARN, or `default_region`.
    pub fn from_plan(plan: &'a Value, side: PlanSide, default_region: &str) -> Model<'a> {
        let configuration = &plan["configuration"];
        let provider_regions: BTreeMap<&str, &str> = configuration["provider_config"]
            .as_object()
            .map(|providers| {
                providers
                    .iter()
                    .filter_map(|(key, provider)| {
                        let region =
                            provider["expressions"]["region"]["constant_value"].as_str()?;
                        Some((key.as_str(), region))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let configured: BTreeMap<&str, &Value> = configuration["root_module"]["resources"]
            .as_array()
            .map(|resources| {
                resources
                    .iter()
                    .filter_map(|r| Some((r["address"].as_str()?, r)))
                    .collect()
            })
            .unwrap_or_default();
        let values = match side {
            PlanSide::Before => &plan["prior_state"]["values"]["root_module"]["resources"],
            PlanSide::After => &plan["planned_values"]["root_module"]["resources"],
        };
        let resources = values
            .as_array()
            .map(|resources| {
                resources
                    .iter()
                    .filter(|r| r["mode"] == "managed")
                    .filter_map(|r| {
                        let address = r["address"].as_str()?.to_string();
                        let kind = r["type"].as_str()?.to_string();
                        let config = configured.get(address.as_str());
                        let region = config
                            .and_then(|c| c["provider_config_key"].as_str())
                            .and_then(|key| provider_regions.get(key).copied())
                            .map(str::to_string)
                            .or_else(|| region_of_arn(&r["values"]))
                            .unwrap_or_else(|| default_region.to_string());
                        Some(Resource {
                            address,
                            kind,
                            region,
                            values: Cow::Borrowed(&r["values"]),
                            references: config.map(|c| references(c)).unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Model { resources }
    }

    /// The resources of one type.
    pub fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Resource<'a>> + 's {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    pub fn get(&self, address: &str) -> Option<&Resource<'a>> {
        self.resources.iter().find(|r| r.address == address)
    }
}

/// `arn:aws:<service>:<region>:...` → the region, when the ARN has one.
fn region_of_arn(values: &Value) -> Option<String> {
    let arn = values["arn"].as_str()?;
    let region = arn.split(':').nth(3)?;
    (!region.is_empty()).then(|| region.to_string())
}

/// The resource addresses a configured resource's expressions refer to (`aws_s3_bucket.site`
/// from `aws_s3_bucket.site.id`).
fn references(configured: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_references(&configured["expressions"], &mut found);
    found.sort();
    found.dedup();
    found
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::Array(references)) = fields.get("references") {
                for reference in references.iter().filter_map(Value::as_str) {
                    let mut parts = reference.split('.');
                    if let (Some(kind), Some(name)) = (parts.next(), parts.next()) {
                        if kind.starts_with("aws_") {
                            found.push(format!("{kind}.{name}"));
                        }
                    }
                }
            }
            for nested in fields.values() {
                collect_references(nested, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_references(item, found);
            }
        }
        _ => {}
    }
}

/// A number argument: a JSON number, or a string holding one (Terraform state keeps some
/// numbers as strings); `None` when it is an expression not known until apply.
pub fn number(values: &Value, key: &str) -> Option<f64> {
    match &values[key] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// How many of a nested block there are: an array of blocks, one block written as an object,
/// or none.
pub fn block_count(values: &Value, key: &str) -> usize {
    match &values[key] {
        Value::Array(items) => items.len(),
        Value::Object(_) => 1,
        _ => 0,
    }
}

/// Nested blocks as a list, whichever way they are written.
pub fn blocks<'a>(values: &'a Value, key: &str) -> Vec<&'a Value> {
    match &values[key] {
        Value::Array(items) => items.iter().collect(),
        block @ Value::Object(_) => vec![block],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plan_side_reads_resources_with_their_provider_regions_and_references() {
        let plan = json!({
            "configuration": {
                "provider_config": {
                    "aws": {"name": "aws", "expressions": {"region": {"constant_value": "eu-west-1"}}},
                    "aws.us_east_1": {"name": "aws", "alias": "us_east_1",
                        "expressions": {"region": {"constant_value": "us-east-1"}}}
                },
                "root_module": {"resources": [
                    {"address": "aws_wafv2_web_acl.edge_acl", "provider_config_key": "aws.us_east_1",
                     "expressions": {}},
                    {"address": "aws_s3_bucket_replication_configuration.site",
                     "provider_config_key": "aws",
                     "expressions": {"bucket": {"references": ["aws_s3_bucket.site.id", "aws_s3_bucket.site"]}}}
                ]}
            },
            "prior_state": {"values": {"root_module": {"resources": [
                {"address": "aws_kms_key.old", "mode": "managed", "type": "aws_kms_key",
                 "values": {"arn": "arn:aws:kms:eu-west-2:123456789012:key/abc"}},
                {"address": "data.aws_caller_identity.current", "mode": "data",
                 "type": "aws_caller_identity", "values": {}}
            ]}}},
            "planned_values": {"root_module": {"resources": [
                {"address": "aws_wafv2_web_acl.edge_acl", "mode": "managed",
                 "type": "aws_wafv2_web_acl", "values": {"rule": [{}, {}]}},
                {"address": "aws_s3_bucket_replication_configuration.site", "mode": "managed",
                 "type": "aws_s3_bucket_replication_configuration", "values": {}}
            ]}}
        });
        let before = Model::from_plan(&plan, PlanSide::Before, "eu-west-1");
        assert_eq!(before.resources.len(), 1, "data sources are not priced");
        assert_eq!(before.resources[0].region, "eu-west-2", "from the ARN");
        let after = Model::from_plan(&plan, PlanSide::After, "eu-west-1");
        let acl = after.get("aws_wafv2_web_acl.edge_acl").expect("acl");
        assert_eq!(acl.region, "us-east-1");
        assert_eq!(block_count(&acl.values, "rule"), 2);
        let replication = after
            .get("aws_s3_bucket_replication_configuration.site")
            .expect("replication");
        assert_eq!(replication.references, vec!["aws_s3_bucket.site"]);
    }

    #[test]
    fn numbers_are_read_from_numbers_or_numeric_strings_only() {
        let values = json!({"a": 512, "b": "30", "c": "${var.x}"});
        assert_eq!(number(&values, "a"), Some(512.0));
        assert_eq!(number(&values, "b"), Some(30.0));
        assert_eq!(number(&values, "c"), None);
        assert_eq!(number(&values, "missing"), None);
    }
}
