//! EVE's own CloudWatch metrics (Embedded Metric Format): the namespace, names and dimensions
//! the function emits and the stack's dashboard and alarms read.

pub const NAMESPACE: &str = "CloudForgeX/EVE";

/// Dimension sets every metric is emitted under: per stage, and per stage and answer source.
pub const DIMENSIONS: &[&[&str]] = &[&[STAGE], &[STAGE, SOURCE]];
pub const STAGE: &str = "Stage";
pub const SOURCE: &str = "Source";

/// One metric and its CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
}

pub const LATENCY: Metric = Metric {
    name: "Latency",
    unit: "Milliseconds",
};
pub const INPUT_TOKENS: Metric = Metric {
    name: "InputTokens",
    unit: "Count",
};
pub const OUTPUT_TOKENS: Metric = Metric {
    name: "OutputTokens",
    unit: "Count",
};
pub const MODEL_ERRORS: Metric = Metric {
    name: "ModelErrors",
    unit: "Count",
};

/// 1 for an answer given offline, 0 otherwise: its average is the offline share, which is how
/// a Bedrock outage shows (visitors still get 200s).
pub const OFFLINE_ANSWERS: Metric = Metric {
    name: "OfflineAnswers",
    unit: "Count",
};
/// The share of the day's token budget spent or reserved, on chats that reserved from it (100
/// once it is spent).
pub const BUDGET_USED: Metric = Metric {
    name: "BudgetUsed",
    unit: "Percent",
};

/// Every metric of every chat line, in the order they are declared; [`BUDGET_USED`] follows
/// when the chat reserved from the budget.
pub const CHAT_METRICS: &[Metric] = &[
    LATENCY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    MODEL_ERRORS,
    OFFLINE_ANSWERS,
];
