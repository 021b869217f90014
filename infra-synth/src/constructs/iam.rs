//! IAM: policy documents (as `aws_iam_policy_document` data sources), roles and policies.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;

use super::core::{GrantedStatement, Problem};
use super::{Id, Scope};
use crate::tf::{Block, Dependency, Expr, Ref};

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
        let text = |e: &'_ Expr| e.as_template().to_string();
        let statement = self
            .statement
            .iter()
            .map(|s| {
                let principals: BTreeMap<&str, Vec<String>> = s
                    .principals
                    .iter()
                    .map(|p| (p.kind, p.identifiers.iter().map(text).collect()))
                    .collect();
                let mut condition: BTreeMap<&str, BTreeMap<&str, Vec<String>>> = BTreeMap::new();
                for c in &s.condition {
                    condition
                        .entry(c.test)
                        .or_default()
                        .insert(c.variable, c.values.iter().map(text).collect());
                }
                PolicyStatementJson {
                    sid: &s.sid,
                    effect: s.effect,
                    action: &s.actions,
                    resource: s.resources.iter().map(text).collect(),
                    principal: if principals.contains_key("*") {
                        Some(PrincipalJson::Anyone("*"))
                    } else {
                        (!principals.is_empty()).then_some(PrincipalJson::Of(principals))
                    },
                    condition,
                }
            })
            .collect();
        let parts = self.statement.iter().flat_map(|s| {
            s.resources
                .iter()
                .chain(s.principals.iter().flat_map(|p| &p.identifiers))
                .chain(s.condition.iter().flat_map(|c| &c.values))
        });
        let document = PolicyJson {
            version: "2012-10-17",
            statement,
        };
        Expr::json_template(
            &serde_json::to_value(&document).unwrap_or(Value::Null),
            parts,
        )
    }
}

/// An IAM policy in AWS's own JSON shape (for policies passed as a string).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyJson<'a> {
    version: &'static str,
    statement: Vec<PolicyStatementJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyStatementJson<'a> {
    sid: &'a str,
    effect: Effect,
    action: &'a [String],
    resource: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<PrincipalJson<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    condition: BTreeMap<&'a str, BTreeMap<&'a str, Vec<String>>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PrincipalJson<'a> {
    Anyone(&'static str),
    Of(BTreeMap<&'a str, Vec<String>>),
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
pub struct RoleBlock {
    pub name: String,
    pub description: &'static str,
    pub assume_role_policy: Expr,
}

impl Block for RoleBlock {
    const TYPE: &'static str = "aws_iam_role";
}

impl Ref<RoleBlock> {
    pub fn name(&self) -> Expr {
        self.attr("name")
    }
}

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

/// A role a service assumes.
#[derive(Debug, Clone)]
pub struct RoleProps {
    /// The service principal allowed to assume it, e.g. `lambda.amazonaws.com`.
    pub service: &'static str,
    pub description: &'static str,
}

/// Something permissions can be granted to (a role, or a construct that runs as one).
pub trait Grantee {
    /// The role that receives the statements.
    fn grant_role(&self) -> &Role;
}

/// The account the stack deploys to (one `aws_caller_identity` lookup per stack).
pub fn account_id(scope: &Scope) -> Expr {
    let identity = Ref::<CallerIdentity>::named("current");
    let path = scope.path();
    scope.with_tree(|tree| {
        if !tree.doc.contains(&identity.address()) {
            if let Err(error) = tree.doc.add("current", CallerIdentity {}) {
                tree.problems.push(Problem::building(&path, error));
            }
        }
    });
    identity.account_id()
}

/// An IAM role whose inline policy is the union of what is granted to it: constructs call
/// [`Role::grant`] (through their `grant_*` methods) and the policy is written once, with
/// every statement, when the stack is finished.
#[derive(Clone)]
pub struct Role {
    scope: Scope,
    role: Ref<RoleBlock>,
    statements: Rc<RefCell<Vec<Statement>>>,
}

impl Role {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: RoleProps) -> Role {
        Role::in_scope(scope.child(id), props)
    }

    /// The role of a construct, at the construct's own address (`aws_iam_role.<fn>`).
    pub(crate) fn in_scope(scope: Scope, props: RoleProps) -> Role {
        let trust = scope.add_suffixed(
            "trust",
            PolicyDocument {
                statement: vec![
                    Statement::allow("AssumeRole", &["sts:AssumeRole"], Vec::new())
                        .principal("Service", props.service),
                ],
            },
        );
        let role = scope.add(RoleBlock {
            name: scope.physical_name(),
            description: props.description,
            assume_role_policy: trust.json(),
        });
        let statements = Rc::new(RefCell::new(Vec::new()));
        let finished = (scope.clone(), role.clone(), statements.clone());
        scope.when_finished(move || {
            let (scope, role, statements) = finished;
            write_policy(&scope, &role, statements.take());
        });
        Role {
            scope,
            role,
            statements,
        }
    }

    pub fn arn(&self) -> Expr {
        self.role.arn()
    }

    pub fn name(&self) -> Expr {
        self.role.name()
    }

    /// Adds a statement to the role's inline policy.
    pub fn grant(&self, statement: Statement) {
        self.statements.borrow_mut().push(statement);
    }

    /// Attaches an AWS managed policy (for services without resource-level permissions).
    pub fn attach_managed_policy(
        &self,
        suffix: Option<&str>,
        arn: &str,
    ) -> Ref<RolePolicyAttachment> {
        let attachment = RolePolicyAttachment {
            role: self.role.name(),
            policy_arn: Expr::lit(arn),
        };
        match suffix {
            Some(suffix) => self.scope.add_suffixed(suffix, attachment),
            None => self.scope.add(attachment),
        }
    }

    /// What a resource that needs the inline policy in place depends on.
    pub fn policy_dependency(&self) -> Dependency {
        Dependency::on_address(format!(
            "{}.{}",
            RolePolicy::TYPE,
            self.scope.address_name()
        ))
    }
}

impl Grantee for Role {
    fn grant_role(&self) -> &Role {
        self
    }
}

/// The role's inline policy. Grants of the same actions on one construct (e.g. two stores
/// under one key) are one statement over the union of their resources.
fn write_policy(scope: &Scope, role: &Ref<RoleBlock>, granted: Vec<Statement>) {
    let mut statement: Vec<Statement> = Vec::new();
    for grant in granted {
        match statement.iter_mut().find(|s| s.sid == grant.sid) {
            Some(existing) => {
                for resource in grant.resources {
                    if !existing.resources.contains(&resource) {
                        existing.resources.push(resource);
                    }
                }
            }
            None => statement.push(grant),
        }
    }
    if statement.is_empty() {
        return;
    }
    let path = scope.path();
    scope.with_tree(|tree| {
        tree.identity_statements.extend(statement.iter().map(|s| {
            GrantedStatement {
                path: path.clone(),
                sid: s.sid.clone(),
                actions: s.actions.clone(),
                resources: s
                    .resources
                    .iter()
                    .map(|r| r.as_template().to_string())
                    .collect(),
            }
        }))
    });
    let document = scope.add_suffixed("policy", PolicyDocument { statement });
    scope.add(RolePolicy {
        name: scope.physical_name(),
        role: role.id(),
        policy: document.json(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn a_role_trusts_only_its_service_and_its_policy_is_the_union_of_grants() {
        let stack = stack();
        let role = Role::new(
            &stack,
            "fn",
            RoleProps {
                service: "lambda.amazonaws.com",
                description: "test",
            },
        );
        role.grant(Statement::allow(
            "A",
            &["s3:GetObject"],
            vec![Expr::lit("arn:aws:s3:::b/k")],
        ));
        role.grant(Statement::allow(
            "B",
            &["sqs:SendMessage"],
            vec![Expr::lit("arn:aws:sqs:q")],
        ));
        assert_eq!(role.name().as_template(), "${aws_iam_role.fn.name}");
        let json = json_of(stack);
        let trust = &json["data"]["aws_iam_policy_document"]["fn_trust"]["statement"][0];
        assert_eq!(trust["actions"][0], "sts:AssumeRole");
        assert_eq!(
            trust["principals"][0]["identifiers"][0],
            "lambda.amazonaws.com"
        );
        assert_eq!(json["resource"]["aws_iam_role"]["fn"]["name"], "test-fn");
        let policy = &json["data"]["aws_iam_policy_document"]["fn_policy"]["statement"];
        assert_eq!(policy.as_array().map(Vec::len), Some(2));
        assert_eq!(
            json["resource"]["aws_iam_role_policy"]["fn"]["policy"],
            "${data.aws_iam_policy_document.fn_policy.json}"
        );
    }
}
