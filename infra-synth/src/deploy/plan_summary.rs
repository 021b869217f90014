//! A readable summary of a saved plan, parsed from `terraform show -json PLAN`.
//!
//! Terraform's own plan output is long; reviewers want one line per resource saying what
//! happens to it and which attributes move. Only the documented JSON plan format is read
//! (`resource_changes[].change.{actions,before,after,after_unknown,replace_paths}`).

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Read,
    NoOp,
}

impl Action {
    fn from_actions(actions: &[String]) -> Self {
        let has = |a: &str| actions.iter().any(|x| x == a);
        match (has("create"), has("delete"), has("update"), has("read")) {
            (true, true, _, _) => Action::Replace,
            (true, false, _, _) => Action::Create,
            (false, true, _, _) => Action::Delete,
            (_, _, true, _) => Action::Update,
            (_, _, _, true) => Action::Read,
            _ => Action::NoOp,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Read => "<=",
            Action::NoOp => " ",
        }
    }
}

/// One resource that the plan changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChange {
    pub address: String,
    pub action: Action,
    /// Top-level attributes whose value changes or becomes known only after apply (updates and
    /// replacements only), sorted.
    pub changed_attributes: Vec<String>,
    /// Attributes that force the replacement, as dotted paths.
    pub forces_replacement: Vec<String>,
}

/// Every change in a plan, in Terraform's (address) order; no-ops and reads are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSummary {
    pub changes: Vec<ResourceChange>,
}

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    resource_changes: Vec<RawResourceChange>,
}

/// One entry of the JSON plan's `resource_changes` or `resource_drift`.
#[derive(Deserialize)]
pub(super) struct RawResourceChange {
    pub(super) address: String,
    pub(super) change: RawChange,
}

#[derive(Deserialize)]
pub(super) struct RawChange {
    pub(super) actions: Vec<String>,
    #[serde(default)]
    pub(super) before: Value,
    #[serde(default)]
    pub(super) after: Value,
    #[serde(default)]
    after_unknown: Value,
    #[serde(default)]
    replace_paths: Vec<Vec<Value>>,
}

impl PlanSummary {
    /// Parses the output of `terraform show -json PLAN`.
    pub fn parse(show_json: &str) -> Result<Self> {
        let show: ShowJson = serde_json::from_str(show_json)
            .context("`terraform show -json` output is not a Terraform JSON plan")?;
        let changes = show
            .resource_changes
            .into_iter()
            .filter_map(|raw| {
                let action = Action::from_actions(&raw.change.actions);
                if matches!(action, Action::NoOp | Action::Read) {
                    return None;
                }
                let changed_attributes = if matches!(action, Action::Update | Action::Replace) {
                    changed_attributes(&raw.change)
                } else {
                    Vec::new()
                };
                let forces_replacement = raw
                    .change
                    .replace_paths
                    .iter()
                    .map(|path| dotted_path(path))
                    .collect();
                Some(ResourceChange {
                    address: raw.address,
                    action,
                    changed_attributes,
                    forces_replacement,
                })
            })
            .collect();
        Ok(Self { changes })
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            write!(f, "{:>3} {}", change.action.symbol(), change.address)?;
            if !change.changed_attributes.is_empty() {
                write!(f, "  [{}]", change.changed_attributes.join(", "))?;
            }
            if !change.forces_replacement.is_empty() {
                write!(
                    f,
                    "  (replaced because of {})",
                    change.forces_replacement.join(", ")
                )?;
            }
            writeln!(f)?;
        }
        if self.is_empty() {
            write!(
                f,
                "No changes. The infrastructure matches the configuration."
            )
        } else {
            write!(
                f,
                "Plan: {} to add, {} to change, {} to replace, {} to destroy.",
                self.count(Action::Create),
                self.count(Action::Update),
                self.count(Action::Replace),
                self.count(Action::Delete)
            )
        }
    }
}

fn changed_attributes(change: &RawChange) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = change.before.as_object().unwrap_or(&empty);
    let after = change.after.as_object().unwrap_or(&empty);
    let unknown = change.after_unknown.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            let becomes_unknown = unknown.get(*key).is_some_and(|u| u != &Value::Bool(false));
            if becomes_unknown {
                return true;
            }
            // A key absent from `after` while unknown is "known after apply", handled above;
            // otherwise absence means null.
            before.get(*key).unwrap_or(&Value::Null) != after.get(*key).unwrap_or(&Value::Null)
        })
        .cloned()
        .collect()
}

fn dotted_path(path: &[Value]) -> String {
    path.iter()
        .map(|step| match step {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from Terraform 1.11.4: `terraform_data` resources kept, updated, replaced (via
    /// `triggers_replace`), added and removed.
    const SHOW_JSON: &str = include_str!("testdata/plan_show_terraform_data.json");

    #[test]
    fn summarises_every_kind_of_change() {
        let summary = PlanSummary::parse(SHOW_JSON).expect("parses");
        let lines: Vec<(&str, Action)> = summary
            .changes
            .iter()
            .map(|c| (c.address.as_str(), c.action))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("terraform_data.added", Action::Create),
                ("terraform_data.changed", Action::Update),
                ("terraform_data.removed", Action::Delete),
                ("terraform_data.replaced", Action::Replace),
            ]
        );
        let changed = &summary.changes[1];
        assert_eq!(changed.changed_attributes, vec!["input", "output"]);
        let replaced = &summary.changes[3];
        assert_eq!(replaced.forces_replacement, vec!["triggers_replace"]);
        let text = summary.to_string();
        assert!(
            text.ends_with("Plan: 1 to add, 1 to change, 1 to replace, 1 to destroy."),
            "{text}"
        );
        assert!(text.contains("-/+ terraform_data.replaced"), "{text}");
    }

    #[test]
    fn no_changes_reads_as_such() {
        let summary = PlanSummary::parse(r#"{"format_version":"1.2"}"#).expect("parses");
        assert!(summary.is_empty());
        assert!(summary.to_string().starts_with("No changes."));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = PlanSummary::parse("not json").expect_err("must fail");
        assert!(format!("{err:#}").contains("not a Terraform JSON plan"));
    }
}
