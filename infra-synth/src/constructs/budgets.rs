//! AWS Budgets: a monthly cost budget over the resources carrying one tag, alerting a topic.

use serde::Serialize;

use super::sns::Topic;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct BudgetBlock {
    pub name: String,
    pub budget_type: &'static str,
    pub limit_amount: String,
    pub limit_unit: &'static str,
    pub time_unit: &'static str,
    pub cost_filter: Vec<CostFilter>,
    pub notification: Vec<Notification>,
}

impl Block for BudgetBlock {
    const TYPE: &'static str = "aws_budgets_budget";
}

#[derive(Debug, Clone, Serialize)]
pub struct CostFilter {
    pub name: &'static str,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub comparison_operator: &'static str,
    pub threshold: f64,
    pub threshold_type: &'static str,
    pub notification_type: &'static str,
    pub subscriber_sns_topic_arns: Vec<Expr>,
}

/// Whether an alert fires on what was spent or on what AWS forecasts for the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Actual,
    Forecasted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub percent: f64,
    pub spend: Spend,
}

/// The usual pair: a warning when 80 % of the limit is spent, and one when AWS forecasts the
/// month will pass it.
pub const WARN_AND_FORECAST: [Alert; 2] = [
    Alert {
        percent: 80.0,
        spend: Spend::Actual,
    },
    Alert {
        percent: 100.0,
        spend: Spend::Forecasted,
    },
];

pub struct BudgetProps {
    /// The month's limit in USD.
    pub limit_usd: f64,
    /// The cost allocation tag (key, value) that selects the stack's resources. The tag must be
    /// activated once in the Billing console before AWS attributes costs to it.
    pub tag: (String, String),
    pub alerts: Vec<Alert>,
    /// Where alerts go; it is granted to Budgets.
    pub topic: Topic,
}

#[derive(Clone)]
pub struct Budget {
    budget: Ref<BudgetBlock>,
}

impl Budget {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: BudgetProps) -> Budget {
        let scope = scope.child(id);
        props
            .topic
            .grant_publish_to_service("budgets.amazonaws.com");
        let (key, value) = props.tag;
        let budget = scope.add(BudgetBlock {
            name: scope.physical_name(),
            budget_type: "COST",
            limit_amount: format!("{:.2}", props.limit_usd),
            limit_unit: "USD",
            time_unit: "MONTHLY",
            cost_filter: vec![CostFilter {
                name: "TagKeyValue",
                values: vec![format!("user:{key}${value}")],
            }],
            notification: props
                .alerts
                .iter()
                .map(|alert| Notification {
                    comparison_operator: "GREATER_THAN",
                    threshold: alert.percent,
                    threshold_type: "PERCENTAGE",
                    notification_type: match alert.spend {
                        Spend::Actual => "ACTUAL",
                        Spend::Forecasted => "FORECASTED",
                    },
                    subscriber_sns_topic_arns: vec![props.topic.arn()],
                })
                .collect(),
        });
        Budget { budget }
    }

    pub fn name(&self) -> Expr {
        self.budget.attr("name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::kms::{Key, KeyProps};
    use crate::constructs::sns::TopicProps;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn a_budget_filters_on_the_tag_and_alerts_the_topic_it_is_granted() {
        let stack = stack();
        let key = Key::new(&stack, "key", KeyProps::default());
        let topic = Topic::new(
            &stack,
            "alarms",
            TopicProps {
                encryption_key: Some(key),
            },
        );
        Budget::new(
            &stack,
            "monthly",
            BudgetProps {
                limit_usd: 120.0,
                tag: ("stack".into(), "test".into()),
                alerts: WARN_AND_FORECAST.to_vec(),
                topic,
            },
        );
        let json = json_of(stack);
        let budget = &json["resource"]["aws_budgets_budget"]["monthly"];
        assert_eq!(budget["name"], "test-monthly");
        assert_eq!(budget["limit_amount"], "120.00");
        assert_eq!(budget["cost_filter"][0]["values"][0], "user:stack$test");
        assert_eq!(budget["notification"][0]["notification_type"], "ACTUAL");
        assert_eq!(budget["notification"][1]["threshold"], 100.0);
        assert_eq!(
            budget["notification"][1]["subscriber_sns_topic_arns"][0],
            "${aws_sns_topic.alarms.arn}"
        );
        assert!(json["resource"]["aws_sns_topic_policy"]["alarms"].is_object());
    }
}
