//! The `[traffic]` section (the usage `infra-synth cost` prices) and `[cost]` (the monthly
//! ceiling `validate` enforces), with their checks.

use config_diagnostics::{short_number, Checker};
use serde::Deserialize;

use super::Stack;

/// What a month of visitors does. Every figure is an average; `infra-synth cost --visitors N`
/// replaces `visitors_per_month` for one run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    #[serde(default = "default_visitors")]
    pub visitors_per_month: f64,
    /// Pages a visitor opens; the first also loads the site's assets.
    #[serde(default = "default_pages")]
    pub pages_per_visitor: f64,
    /// Messages a visitor sends EVE.
    #[serde(default = "default_chats")]
    pub chats_per_visitor: f64,
    /// Percent of messages EVE answers from the model; the rest are curated answers.
    #[serde(default = "default_model_share")]
    pub model_answer_percent: f64,
    /// Prompt tokens of one model answer: instructions, knowledge and history.
    #[serde(default = "default_input_tokens")]
    pub input_tokens_per_chat: f64,
    #[serde(default = "default_output_tokens")]
    pub output_tokens_per_chat: f64,
    /// Billed function time of a model answer (mostly waiting on the model) and of any other
    /// request.
    #[serde(default = "default_model_answer_ms")]
    pub model_answer_ms: f64,
    #[serde(default = "default_local_answer_ms")]
    pub local_answer_ms: f64,
    /// Certificate PDFs a visitor fetches (presigned S3 URLs), and their average size.
    #[serde(default = "default_certificate_downloads")]
    pub certificate_downloads_per_visitor: f64,
    #[serde(default = "default_certificate_mb")]
    pub certificate_mb: f64,
    /// Share of CloudFront requests answered from its cache (the rest go to the site bucket).
    #[serde(default = "default_cache_hit")]
    pub cache_hit_percent: f64,
    /// `publish` runs a month (each uploads the changed site and replicates it).
    #[serde(default = "default_deploys")]
    pub deploys_per_month: f64,
    /// Log bytes one API request writes to each log it reaches.
    #[serde(default = "default_log_bytes")]
    pub log_bytes_per_request: f64,
    /// Size of the eve-server image kept in ECR.
    #[serde(default = "default_image_mb")]
    pub container_image_mb: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            visitors_per_month: default_visitors(),
            pages_per_visitor: default_pages(),
            chats_per_visitor: default_chats(),
            model_answer_percent: default_model_share(),
            input_tokens_per_chat: default_input_tokens(),
            output_tokens_per_chat: default_output_tokens(),
            model_answer_ms: default_model_answer_ms(),
            local_answer_ms: default_local_answer_ms(),
            certificate_downloads_per_visitor: default_certificate_downloads(),
            certificate_mb: default_certificate_mb(),
            cache_hit_percent: default_cache_hit(),
            deploys_per_month: default_deploys(),
            log_bytes_per_request: default_log_bytes(),
            container_image_mb: default_image_mb(),
        }
    }
}

/// Guard rails on what the stack may cost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// The most the stack may cost in a month at the worst its limits allow (`infra-synth cost`
    /// prints that figure). Set: `validate` refuses a stack above it, and synth adds an AWS
    /// Budget at this amount that alerts the alarm topic.
    #[serde(default)]
    pub monthly_ceiling_usd: Option<f64>,
}

fn default_visitors() -> f64 {
    2_000.0
}
fn default_pages() -> f64 {
    3.0
}
fn default_chats() -> f64 {
    1.5
}
fn default_model_share() -> f64 {
    70.0
}
fn default_input_tokens() -> f64 {
    1_500.0
}
fn default_output_tokens() -> f64 {
    250.0
}
fn default_model_answer_ms() -> f64 {
    2_000.0
}
fn default_local_answer_ms() -> f64 {
    40.0
}
fn default_certificate_downloads() -> f64 {
    0.05
}
fn default_certificate_mb() -> f64 {
    0.5
}
fn default_cache_hit() -> f64 {
    90.0
}
fn default_deploys() -> f64 {
    4.0
}
fn default_log_bytes() -> f64 {
    1_000.0
}
fn default_image_mb() -> f64 {
    40.0
}

/// The most visitors a month `[traffic]` (and `cost --visitors`) takes.
pub const MOST_VISITORS_PER_MONTH: u32 = 1_000_000_000;

/// The largest monthly ceiling taken: past it, the check could never fail.
const MOST_CEILING_USD: f64 = 1e9;

pub fn check(stack: &Stack, check: &mut Checker<'_>) {
    let t = &stack.traffic;
    // Each figure's largest believable value: far past any portfolio, yet small enough that an
    // estimate stays a sum a person can read (1e300 visitors priced to 300 digits before).
    let counts = [
        (
            "traffic.visitors_per_month",
            t.visitors_per_month,
            f64::from(MOST_VISITORS_PER_MONTH),
        ),
        ("traffic.pages_per_visitor", t.pages_per_visitor, 1e3),
        ("traffic.chats_per_visitor", t.chats_per_visitor, 1e3),
        (
            "traffic.input_tokens_per_chat",
            t.input_tokens_per_chat,
            1e6,
        ),
        (
            "traffic.output_tokens_per_chat",
            t.output_tokens_per_chat,
            1e6,
        ),
        // Lambda runs for 15 minutes at most.
        ("traffic.model_answer_ms", t.model_answer_ms, 900_000.0),
        ("traffic.local_answer_ms", t.local_answer_ms, 900_000.0),
        (
            "traffic.certificate_downloads_per_visitor",
            t.certificate_downloads_per_visitor,
            1e3,
        ),
        ("traffic.certificate_mb", t.certificate_mb, 1e4),
        ("traffic.deploys_per_month", t.deploys_per_month, 1e4),
        (
            "traffic.log_bytes_per_request",
            t.log_bytes_per_request,
            1e7,
        ),
        ("traffic.container_image_mb", t.container_image_mb, 1e5),
    ];
    for (key, value, most) in counts {
        check.check((0.0..=most).contains(&value), key, || {
            format!(
                "must be a number from 0 to {}, got {}",
                short_number(most),
                short_number(value)
            )
        });
    }
    for (key, value) in [
        ("traffic.model_answer_percent", t.model_answer_percent),
        ("traffic.cache_hit_percent", t.cache_hit_percent),
    ] {
        check.check((0.0..=100.0).contains(&value), key, || {
            format!("is a percentage, 0 to 100; got {}", short_number(value))
        });
    }
    if let Some(ceiling) = stack.cost.monthly_ceiling_usd {
        check.check(
            ceiling > 0.0 && ceiling <= MOST_CEILING_USD,
            "cost.monthly_ceiling_usd",
            || {
                format!(
                    "must be an amount in USD above 0 and at most {MOST_CEILING_USD}, got {}",
                    short_number(ceiling)
                )
            },
        );
    }
}
