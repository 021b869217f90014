//! SSM Parameter Store: a set of SecureString parameters under one path, read by path.

use serde::Serialize;

use super::core::{statement_id, Store};
use super::iam::Grantee;
use super::iam::Statement;
use super::kms::{grant_on_store, Key};
use super::{Id, Scope};
use crate::tf::{Block, Dependency, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Expr>,
}

impl Block for Parameter {
    const TYPE: &'static str = "aws_ssm_parameter";
}

#[derive(Clone)]
pub struct ParameterSetProps {
    /// `/<app>/<env>/`: every parameter is `<path><name>`.
    pub path: String,
    /// (name, value, description); SSM rejects empty values, so those are left out and the
    /// reader falls back to its default.
    pub values: Vec<(&'static str, String, String)>,
    /// Encrypts every value (SecureString); `None` uses the AWS-managed key.
    pub encryption_key: Option<Key>,
}

/// Parameters under one path; a grantee reads them all with one `GetParametersByPath`.
#[derive(Clone)]
pub struct ParameterSet {
    parameters: Vec<Ref<Parameter>>,
    path: String,
    key: Option<Key>,
    sid: String,
    region: String,
    account_id: Expr,
}

impl ParameterSet {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: ParameterSetProps) -> ParameterSet {
        let scope = scope.child(id);
        let parameters = props
            .values
            .into_iter()
            .filter(|(_, value, _)| !value.is_empty())
            .map(|(name, value, description)| {
                let parameter = scope.add_suffixed(
                    name,
                    Parameter {
                        name: format!("{}{name}", props.path),
                        description,
                        kind: "SecureString",
                        value: Expr::lit(value),
                        key_id: props.encryption_key.as_ref().map(Key::arn),
                    },
                );
                scope.with_tree(|tree| {
                    tree.stores.push(Store {
                        path: scope.path(),
                        address: parameter.address(),
                        encrypted: true,
                    })
                });
                parameter
            })
            .collect();
        ParameterSet {
            parameters,
            path: props.path,
            key: props.encryption_key,
            sid: statement_id(&scope),
            region: scope.region().to_string(),
            account_id: super::iam::account_id(&scope),
        }
    }

    /// Dependencies on every parameter, for a reader that finds them by path (nothing else
    /// references them, so Terraform would not order them first).
    pub fn dependencies(&self) -> Vec<Dependency> {
        self.parameters.iter().map(Ref::dependency).collect()
    }

    /// `GetParametersByPath` on exactly this path (and decrypting with its key).
    pub fn grant_read(&self, grantee: &impl Grantee) {
        let path = self.path.trim_end_matches('/');
        let arn = |suffix: &str| {
            Expr::concat([
                &Expr::lit(format!("arn:aws:ssm:{}:", self.region)),
                &self.account_id,
                &Expr::lit(format!(":parameter{path}{suffix}")),
            ])
        };
        grant_on_store(
            grantee,
            Statement::allow(
                &format!("{}ByPath", self.sid),
                &["ssm:GetParametersByPath"],
                vec![arn(""), arn("/")],
            ),
            self.key.as_ref(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn parameters_live_under_the_path_and_empty_values_are_left_out() {
        let stack = stack();
        ParameterSet::new(
            &stack,
            "settings",
            ParameterSetProps {
                path: "/app/test/".into(),
                values: vec![
                    ("model_id", "offline".into(), "d".into()),
                    ("allowed_origins", String::new(), "d".into()),
                ],
                encryption_key: None,
            },
        );
        let json = json_of(stack);
        let parameters = json["resource"]["aws_ssm_parameter"]
            .as_object()
            .expect("parameters");
        assert_eq!(parameters.len(), 1);
        let model = &parameters["settings_model_id"];
        assert_eq!(model["name"], "/app/test/model_id");
        assert_eq!(model["type"], "SecureString");
    }
}
