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

/// Every metric of one chat line, in the order they are declared.
pub const CHAT_METRICS: &[Metric] = &[LATENCY, INPUT_TOKENS, OUTPUT_TOKENS, MODEL_ERRORS];
