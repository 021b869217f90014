//! IAM: policy documents (as `aws_iam_policy_document` data sources), roles and policies.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::tf::{Block, Document, Expr, Ref};

/// A policy document; Terraform renders it to JSON, so statements hold typed references.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyDocument {
    pub statement: Vec<Statement>,
}

impl Block for PolicyDocument {
    const TYPE: &'static str = "aws_iam_policy_document";
    const DATA: bool = true;
}

impl PolicyDocument {
    /// The document as policy JSON in a string, for resource policies (a KMS key policy):
    /// checkov judges `aws_iam_policy_document` data sources as identity policies, where a
    /// key policy's `*` resource (meaning "this key") would read as "every resource".
    pub fn inline_json(&self) -> Expr {
        let template = |e: &Expr| Value::String(e.as_template().to_string());
        let statements = self.statement.iter().map(|s| {
            let mut out = Map::new();
            out.insert("Sid".into(), s.sid.clone().into());
            out.insert("Effect".into(), format!("{:?}", s.effect).into());
            out.insert("Action".into(), s.actions.clone().into());
            out.insert(
                "Resource".into(),
                s.resources.iter().map(template).collect(),
            );
            let principals: Map<String, Value> = s
                .principals
                .iter()
                .map(|p| {
                    (
                        p.kind.to_string(),
                        p.identifiers.iter().map(template).collect(),
                    )
                })
                .collect();
            if principals.contains_key("*") {
                out.insert("Principal".into(), "*".into());
            } else if !principals.is_empty() {
                out.insert("Principal".into(), principals.into());
            }
            let mut conditions = Map::new();
            for c in &s.condition {
                let test = conditions
                    .entry(c.test)
                    .or_insert_with(|| Value::Object(Map::new()));
                test[c.variable] = c.values.iter().map(template).collect();
            }
            if !conditions.is_empty() {
                out.insert("Condition".into(), conditions.into());
            }
            Value::Object(out)
        });
        Expr::json_template(&json!({
            "Version": "2012-10-17",
            "Statement": statements.collect::<Vec<_>>(),
        }))
    }
}

impl Ref<PolicyDocument> {
    pub fn json(&self) -> Expr {
        self.attr("json")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub sid: String,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<Principals>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub condition: Vec<Condition>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Principals {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub identifiers: Vec<Expr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub test: &'static str,
    pub variable: &'static str,
    pub values: Vec<Expr>,
}

impl Statement {
    pub fn allow(sid: &str, actions: &[&str], resources: Vec<Expr>) -> Self {
        Statement {
            sid: sid.to_string(),
            effect: Effect::Allow,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources,
            principals: Vec::new(),
            condition: Vec::new(),
        }
    }

    pub fn deny(sid: &str, actions: &[&str], resources: Vec<Expr>) -> Self {
        Statement {
            effect: Effect::Deny,
            ..Statement::allow(sid, actions, resources)
        }
    }

    pub fn principal(mut self, kind: &'static str, identifier: impl Into<Expr>) -> Self {
        self.principals.push(Principals {
            kind,
            identifiers: vec![identifier.into()],
        });
        self
    }

    pub fn when(
        mut self,
        test: &'static str,
        variable: &'static str,
        value: impl Into<Expr>,
    ) -> Self {
        self.condition.push(Condition {
            test,
            variable,
            values: vec![value.into()],
        });
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Role {
    pub name: String,
    pub description: &'static str,
    pub assume_role_policy: Expr,
}

impl Block for Role {
    const TYPE: &'static str = "aws_iam_role";
}

impl Ref<Role> {
    pub fn name(&self) -> Expr {
        self.attr("name")
    }
}

/// An inline policy: lives and dies with its role.
#[derive(Debug, Clone, Serialize)]
pub struct RolePolicy {
    pub name: String,
    pub role: Expr,
    pub policy: Expr,
}

impl Block for RolePolicy {
    const TYPE: &'static str = "aws_iam_role_policy";
}

#[derive(Debug, Clone, Serialize)]
pub struct RolePolicyAttachment {
    pub role: Expr,
    pub policy_arn: Expr,
}

impl Block for RolePolicyAttachment {
    const TYPE: &'static str = "aws_iam_role_policy_attachment";
}

/// The account running Terraform; ARNs that embed the account id use it.
#[derive(Debug, Clone, Serialize)]
pub struct CallerIdentity {}

impl Block for CallerIdentity {
    const TYPE: &'static str = "aws_caller_identity";
    const DATA: bool = true;
}

impl Ref<CallerIdentity> {
    pub fn account_id(&self) -> Expr {
        self.attr("account_id")
    }
}

/// A role that only `service` (e.g. `lambda.amazonaws.com`) can assume.
pub fn service_role(
    doc: &mut Document,
    label: &str,
    name: String,
    description: &'static str,
    service: &str,
) -> anyhow::Result<Ref<Role>> {
    let trust = doc.add(
        &format!("{label}_trust"),
        PolicyDocument {
            statement: vec![
                Statement::allow("AssumeRole", &["sts:AssumeRole"], Vec::new())
                    .principal("Service", service),
            ],
        },
    )?;
    doc.add(
        label,
        Role {
            name,
            description,
            assume_role_policy: trust.json(),
        },
    )
}

/// Attaches `statements` to `role` as one inline policy.
pub fn inline_policy(
    doc: &mut Document,
    label: &str,
    role: &Ref<Role>,
    name: String,
    statements: Vec<Statement>,
) -> anyhow::Result<Ref<RolePolicy>> {
    let policy = doc.add(
        &format!("{label}_policy"),
        PolicyDocument {
            statement: statements,
        },
    )?;
    doc.add(
        label,
        RolePolicy {
            name,
            role: role.id(),
            policy: policy.json(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_role_trusts_only_that_service() {
        let mut doc = Document::default();
        let role = service_role(
            &mut doc,
            "fn",
            "x-fn".into(),
            "test",
            "lambda.amazonaws.com",
        )
        .expect("role");
        assert_eq!(role.name().as_template(), "${aws_iam_role.fn.name}");
        let json = doc.to_json("t").expect("json");
        let trust = &json["data"]["aws_iam_policy_document"]["fn_trust"]["statement"][0];
        assert_eq!(trust["actions"][0], "sts:AssumeRole");
        assert_eq!(
            trust["principals"][0]["identifiers"][0],
            "lambda.amazonaws.com"
        );
        assert_eq!(
            json["resource"]["aws_iam_role"]["fn"]["assume_role_policy"],
            "${data.aws_iam_policy_document.fn_trust.json}"
        );
    }
}
