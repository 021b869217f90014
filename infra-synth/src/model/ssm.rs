//! SSM Parameter Store: EVE's settings under `/<app>/<env>/` (the contract of `docs/eve-settings.md`).

use serde::Serialize;

use super::kms::Key;
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Expr,
    /// The stack key (its ARN).
    pub key_id: Expr,
}

impl Block for Parameter {
    const TYPE: &'static str = "aws_ssm_parameter";
}

/// One parameter per EVE setting, from the one list both SSM and Kubernetes use. SSM rejects
/// empty values, so an empty setting (e.g. no CORS origins) has no parameter and EVE uses its
/// default, which is empty too.
pub fn eve_parameters(
    doc: &mut Document,
    stack: &Stack,
    key: &Ref<Key>,
) -> anyhow::Result<Vec<Ref<Parameter>>> {
    let path = stack.ssm_path();
    stack
        .eve_settings()
        .into_iter()
        .filter(|setting| !setting.value.is_empty())
        .map(|setting| {
            doc.add(
                setting.name,
                Parameter {
                    name: format!("{path}{}", setting.name),
                    description: format!("EVE setting `{}` (docs/eve-settings.md)", setting.name),
                    // All encrypted with the stack key; `secret` is for the Kubernetes
                    // emitter, which must choose between a Secret and a ConfigMap.
                    kind: "SecureString",
                    value: Expr::lit(setting.value),
                    key_id: key.arn(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn every_setting_lives_under_the_stack_path() {
        let stack = test_stack();
        let mut doc = Document::default();
        let key = crate::model::kms::test_key(&mut doc);
        let params = eve_parameters(&mut doc, &stack, &key).expect("params");
        let non_empty = stack
            .eve_settings()
            .iter()
            .filter(|s| !s.value.is_empty())
            .count();
        assert_eq!(params.len(), non_empty);
        let json = doc.to_json("t").expect("json");
        let model = &json["resource"]["aws_ssm_parameter"]["model_id"];
        assert_eq!(model["name"], "/cloudforgex/test/model_id");
        assert_eq!(model["type"], "SecureString");
        assert_eq!(model["key_id"], "${aws_kms_key.stack.arn}");
        assert_eq!(
            json["resource"]["aws_ssm_parameter"]["table_name"]["value"],
            "cloudforgex-test-conversations"
        );
    }
}
