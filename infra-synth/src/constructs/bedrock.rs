//! Bedrock: the models a function may invoke. Models are not resources of the stack, so this
//! module only grants.

use super::iam::Grantee;
use super::iam::Statement;
use crate::tf::Expr;

/// A foundation model, or a cross-region inference profile (`eu.anthropic...`), which is
/// invoked through its own ARN and routes to the foundation model in each of its regions.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    /// Regions whose foundation model may serve the calls.
    pub regions: Vec<String>,
}

impl Model {
    fn is_profile(&self) -> bool {
        eve_contract::settings::is_inference_profile(&self.id)
    }

    /// Exactly this model's ARNs: the foundation model in each region, plus the profile.
    fn arns(&self, profile_region: &str, account_id: &Expr) -> Vec<Expr> {
        let foundation_id = if self.is_profile() {
            self.id
                .split_once('.')
                .map_or(self.id.as_str(), |(_, rest)| rest)
        } else {
            self.id.as_str()
        };
        let mut arns: Vec<Expr> = self
            .regions
            .iter()
            .map(|region| {
                Expr::lit(format!(
                    "arn:aws:bedrock:{region}::foundation-model/{foundation_id}"
                ))
            })
            .collect();
        if self.is_profile() {
            arns.push(Expr::concat([
                &Expr::lit(format!("arn:aws:bedrock:{profile_region}:")),
                account_id,
                &Expr::lit(format!(":inference-profile/{}", self.id)),
            ]));
        }
        arns
    }

    /// Invoke the model, streaming or not, from `region` (where a profile is called).
    pub fn grant_invoke(&self, grantee: &impl Grantee, region: &str, account_id: &Expr) {
        grantee.grant_role().grant(Statement::allow(
            "BedrockInvoke",
            &[
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream",
            ],
            self.arns(region, account_id),
        ));
    }
}
