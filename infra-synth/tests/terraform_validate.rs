//! Every stack's output passes real `terraform validate` against the real AWS provider schema.

mod common;

#[test]
fn every_stack_passes_terraform_validate() {
    let Some(terraform) = common::Validator::find("every_stack_passes_terraform_validate") else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    for name in ["dev", "prod", "local"] {
        let dir = common::synth(&common::repo_stacks(), name)
            .write(out.path())
            .expect("write");
        terraform.validate(name, &dir);
    }
}

/// The stack's numeric keys that reach the Terraform document, each with its kind. Ordered so
/// that a key whose range depends on another comes after it (the function timeout before EVE's
/// model timeout and the duration alarm that must stay below it).
const NUMERIC_KEYS: &[(&str, &str, Kind)] = &[
    // First: the AWS Budget's limit, which the worst month of what follows must stay under.
    ("cost", "monthly_ceiling_usd", Kind::Float),
    ("lambda", "memory_mb", Kind::Integer),
    ("lambda", "timeout_s", Kind::Integer),
    ("lambda", "reserved_concurrency", Kind::Integer),
    ("lambda", "log_retention_days", Kind::Integer),
    ("api", "throttle_rate_limit", Kind::Float),
    ("api", "throttle_burst_limit", Kind::Integer),
    ("api", "daily_quota", Kind::Integer),
    ("api", "log_retention_days", Kind::Integer),
    ("eve", "max_tokens", Kind::Integer),
    ("eve", "temperature", Kind::Float),
    ("eve", "history_turns", Kind::Integer),
    ("eve", "conversation_ttl_days", Kind::Integer),
    ("eve", "presign_seconds", Kind::Integer),
    ("eve", "daily_token_budget", Kind::Integer),
    ("eve", "session_rate_per_minute", Kind::Integer),
    ("eve", "ip_rate_per_minute", Kind::Integer),
    ("eve", "model_timeout_ms", Kind::Integer),
    ("alarms", "lambda_duration_ms", Kind::Float),
    ("alarms", "lambda_error_rate_percent", Kind::Float),
    ("alarms", "api_4xx_rate_percent", Kind::Float),
    ("alarms", "api_5xx_rate_percent", Kind::Float),
    ("alarms", "dynamodb_throttled_requests", Kind::Float),
    ("alarms", "eve_model_errors", Kind::Float),
    ("alarms", "eve_offline_share_percent", Kind::Float),
    ("alarms", "eve_budget_used_percent", Kind::Float),
    ("alarms", "period_seconds", Kind::Integer),
    ("buckets", "log_expiry_days", Kind::Integer),
    ("waf", "api_rate_limit", Kind::Integer),
    ("waf", "blocked_requests_alarm", Kind::Float),
    ("waf", "log_retention_days", Kind::Integer),
    ("network", "flow_log_retention_days", Kind::Integer),
];

#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Float,
}

impl Kind {
    /// The TOML of the value at `step`, where steps order values from 0 up: integers are
    /// their own step, and a non-negative float's bits order it as its value does.
    fn value(self, step: u64) -> String {
        match self {
            Kind::Integer => step.to_string(),
            Kind::Float => format!("{:?}", f64::from_bits(step)),
        }
    }

    /// How near the edge bisection goes: the exact integer, a float to about seven digits.
    fn precision(self) -> u64 {
        match self {
            Kind::Integer => 1,
            Kind::Float => 1 << 29,
        }
    }

    /// The last step: past any limit the file can hold.
    fn last(self) -> u64 {
        match self {
            Kind::Integer => i64::MAX as u64,
            Kind::Float => f64::MAX.to_bits(),
        }
    }
}

/// A stack file of `kept`'s `(section, key, value)`s beside the fixture content.
fn stack_file(kept: &[(&str, &str, String)]) -> String {
    let mut text = format!(
        "env = \"edge\"\nregion = \"eu-west-1\"\ndomain = \"example.com\"\ncontent = {:?}\n",
        common::fixtures()
            .join("portfolio.toml")
            .display()
            .to_string()
    );
    let mut sections: Vec<&str> = kept.iter().map(|(section, ..)| *section).collect();
    sections.sort_unstable();
    sections.dedup();
    for section in sections {
        text.push_str(&format!("\n[{section}]\n"));
        for (_, key, value) in kept.iter().filter(|(s, ..)| *s == section) {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    text
}

/// The stack whose every numeric key is at the end of its range `validate` accepts (the
/// largest with `largest`, else the smallest), each found by bisection beside those already
/// set, with the network and recovery region on so their resources are in the tree.
fn stack_at_the_edges(stacks: &std::path::Path, largest: bool) -> String {
    let accepts = |kept: &[(&str, &str, String)]| {
        std::fs::write(stacks.join("edge.toml"), stack_file(kept)).expect("write");
        infra_synth::config::load(stacks, "edge")
            .ok()
            .is_some_and(|stack| infra_synth::synth::assemble(&stack).is_ok())
    };
    let mut kept = vec![
        ("network", "enabled", "true".to_string()),
        ("dr", "region", "\"eu-west-2\"".to_string()),
    ];
    assert!(accepts(&kept), "the base stack:\n{}", stack_file(&kept));
    for &(section, key, kind) in NUMERIC_KEYS {
        let accepted = |step: u64| {
            let mut tried = kept.clone();
            tried.push((section, key, kind.value(step)));
            accepts(&tried)
        };
        // Some accepted step, found among 1 to 64 and the powers of two past them, then
        // bisection towards the edge between it and a refused step (0, or past the last).
        let known = (1..=64u64)
            .chain(std::iter::successors(Some(128u64), |step| {
                step.checked_mul(2)
            }))
            .map(|whole| match kind {
                Kind::Integer => whole,
                Kind::Float => (whole as f64).to_bits(),
            })
            .take_while(|step| *step <= kind.last())
            .find(|step| accepted(*step))
            .unwrap_or_else(|| panic!("no value of {section}.{key} is accepted"));
        let (mut inside, mut outside) = if largest {
            (known, kind.last().saturating_add(1))
        } else {
            (known, 0)
        };
        if !largest && accepted(0) {
            inside = 0;
            outside = 0;
        }
        while inside.abs_diff(outside) > kind.precision() {
            let middle = inside.min(outside) + inside.abs_diff(outside) / 2;
            if accepted(middle) {
                inside = middle;
            } else {
                outside = middle;
            }
        }
        kept.push((section, key, kind.value(inside)));
    }
    let text = stack_file(&kept);
    std::fs::write(stacks.join("edge.toml"), &text).expect("write");
    text
}

/// A limit of AWS's that `validate` lets past fails later, at `plan`, with the provider's
/// words and no file, line or key: every value `validate` accepts must also pass the provider.
#[test]
fn the_ends_of_every_range_validate_accepts_pass_terraform_validate() {
    let Some(terraform) =
        common::Validator::find("the_ends_of_every_range_validate_accepts_pass_terraform_validate")
    else {
        return;
    };
    for largest in [true, false] {
        let stacks = tempfile::tempdir().expect("tempdir");
        let text = stack_at_the_edges(stacks.path(), largest);
        let out = tempfile::tempdir().expect("tempdir");
        let dir = common::synth(stacks.path(), "edge")
            .write(out.path())
            .expect("write");
        println!("{text}");
        terraform.validate(if largest { "largest" } else { "smallest" }, &dir);
    }
}
