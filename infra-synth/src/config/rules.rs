//! Semantic checks of a stack. Each error names the key and what is allowed; all are collected.

use config_diagnostics::{short_number, Checker};

use eve_contract::aws::check_bucket_name;
use eve_contract::settings::{is_secure_url, Setting};

use super::{Stack, OWN_TAGS};

/// Region ids AWS offers (commercial partition); a typo here would only fail at apply time.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Retention periods CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// API Gateway cuts integrations off at 29 s, so the function must finish before that.
pub const API_GATEWAY_LIMIT_S: u32 = 29;

/// An AWS endpoint (a stack's `[aws] endpoint`, `--endpoint-url`): a URL with a host and a
/// port that exists, over https (http only for a loopback host).
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let parsed = url::Url::parse(endpoint);
    let reachable = parsed.is_ok_and(|url| url.host_str().is_some() && url.port() != Some(0));
    if is_secure_url(endpoint) && reachable {
        Ok(())
    } else {
        Err(format!(
            "`{endpoint}` must be an https:// URL (http:// only for localhost or 127.0.0.1), \
             with a port from 1 to 65535 if it has one"
        ))
    }
}

pub fn check_stack(stack: &Stack, check: &mut Checker<'_>) {
    check_names(stack, check);
    check_lambda(stack, check);
    check_eve(stack, check);
    check_api_and_alarms(stack, check);
    if let Some(endpoint) = &stack.aws.endpoint {
        if let Err(problem) = check_endpoint(endpoint) {
            check.check(false, "aws.endpoint", || problem);
        }
    }
    check_ignore_changes(stack, check);
    check_tags(stack, check);
}

/// AWS's tag rules, which every resource applies to the provider's default tags: a plan would
/// pass and the first apply fail on each resource.
fn check_tags(stack: &Stack, check: &mut Checker<'_>) {
    let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
    for (key, value) in &stack.tags {
        let at = format!("tags.{key}");
        let problem = if OWN_TAGS.contains(&key.as_str()) {
            Some(format!(
                "the stack sets `{key}` itself (from `app` and `env`; the `stack` tag is what \
                 the cost budget selects)"
            ))
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            Some("the `aws:` prefix is reserved for AWS".to_string())
        } else if !(1..=128).contains(&key.chars().count()) {
            Some("a tag key is 1-128 characters".to_string())
        } else if value.chars().count() > 256 {
            Some("a tag value is at most 256 characters".to_string())
        } else if !key.chars().chain(value.chars()).all(allowed) {
            Some(
                "tag keys and values take letters, digits, spaces and `_ . : / = + - @` only"
                    .to_string(),
            )
        } else {
            None
        };
        if let Some(problem) = problem {
            check.error(&at, problem);
        }
    }
}

fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `aws_<type>.<name>`.
fn is_resource_address(address: &str) -> bool {
    address.split_once('.').is_some_and(|(kind, name)| {
        kind.starts_with("aws_") && is_identifier(kind) && is_identifier(name)
    })
}

/// `name`, `block[0].name`: the traversals `ignore_changes` accepts.
fn is_attribute_path(path: &str) -> bool {
    path.split('.').all(|step| {
        let name = match step.split_once('[') {
            Some((name, index)) => index
                .strip_suffix(']')
                .is_some_and(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()))
                .then_some(name),
            None => Some(step),
        };
        name.is_some_and(is_identifier)
    })
}

/// Ignoring drift hides real changes, so only an emulator stack may do it, and only for
/// named attributes of named resources.
fn check_ignore_changes(stack: &Stack, check: &mut Checker<'_>) {
    let ignore = &stack.aws.ignore_changes;
    if ignore.is_empty() {
        return;
    }
    check.check(stack.aws.endpoint.is_some(), "aws.ignore_changes", || {
        "is for emulator stacks only: set `aws.endpoint`, or remove it so drift in real \
         infrastructure shows in plans"
            .to_string()
    });
    for (address, attributes) in ignore {
        check.check(is_resource_address(address), "aws.ignore_changes", || {
            format!("`{address}` is not a resource address like `aws_lambda_function.eve`")
        });
        check.check(
            !attributes.is_empty() && attributes.iter().all(|a| is_attribute_path(a)),
            "aws.ignore_changes",
            || {
                format!(
                    "`{address}` needs a list of attribute paths, e.g. [\"logging_config\", \
                     \"default_cache_behavior[0].forwarded_values\"]"
                )
            },
        );
    }
}

/// The largest value of AWS's 32-bit integer fields: S3 keeps a lifecycle rule's days in one,
/// API Gateway a burst. Past it the provider refuses the days at plan and wraps the burst
/// into a negative one at apply.
const AWS_INTEGER_MAX: u32 = i32::MAX.unsigned_abs();

fn check_names(stack: &Stack, check: &mut Checker<'_>) {
    let mut slugs_valid = true;
    for (key, value) in [("app", &stack.app), ("env", &stack.env)] {
        let valid = portfolio::content::is_slug(value) && value.len() <= 24;
        slugs_valid &= valid;
        check.check(valid, key, || {
            format!(
                "`{value}` must be 1-24 {} (it prefixes resource names)",
                portfolio::content::SLUG_CHARACTERS
            )
        });
    }
    check.check(is_dns_name(&stack.domain), "domain", || {
        format!(
            "`{}` is not a DNS name: dot-separated labels of 1-63 letters, digits or dashes, \
             at least two labels, 253 characters at most",
            stack.domain
        )
    });
    if let Some(zone) = &stack.dns.zone_name {
        let inside = stack.domain == *zone || stack.domain.ends_with(&format!(".{zone}"));
        check.check(is_dns_name(zone) && inside, "dns.zone_name", || {
            format!(
                "`{zone}` must be a DNS name that `{}` is in (equal to it or a parent)",
                stack.domain
            )
        });
    }
    check.check(
        AWS_REGIONS.contains(&stack.region.as_str()),
        "region",
        || {
            format!(
                "`{}` is not an AWS region id (e.g. eu-west-1, us-east-1)",
                stack.region
            )
        },
    );
    // Bucket names are built from `buckets.prefix`, or else from `app` and `env`: a name that
    // breaks S3's rules is blamed on the key the file sets (app has a default). Names built
    // from an app or env already refused above would only repeat that error.
    let bucket_key = if stack.buckets.prefix.is_some() {
        "buckets.prefix"
    } else if check.source().has_key("app") {
        "app"
    } else {
        "env"
    };
    let replicas = stack.dr.iter().flat_map(|dr| {
        super::RECOVERY_BUCKETS
            .iter()
            .map(|role| stack.replica_bucket_name(role, &dr.region))
    });
    let built_from_refused_names = bucket_key != "buckets.prefix" && !slugs_valid;
    if !built_from_refused_names {
        let names = [
            stack.site_bucket_name(),
            stack.certificates_bucket_name(),
            stack.logs_bucket_name(),
            stack.artifact_bucket_name(),
        ];
        for name in names.into_iter().chain(replicas) {
            if let Err(why) = check_bucket_name(&name) {
                check.error(
                    bucket_key,
                    format!("bucket name `{name}` is invalid: {why}"),
                );
            }
        }
    }
    check.check(
        (1..=AWS_INTEGER_MAX).contains(&stack.buckets.log_expiry_days),
        "buckets.log_expiry_days",
        || {
            format!(
                "{} is not allowed: S3 expires objects after 1 to {AWS_INTEGER_MAX} days",
                stack.buckets.log_expiry_days,
            )
        },
    );
}

fn check_lambda(stack: &Stack, check: &mut Checker<'_>) {
    let lambda = &stack.lambda;
    check.check(
        (128..=10240).contains(&lambda.memory_mb),
        "lambda.memory_mb",
        || format!("{} MB is outside Lambda's 128-10240 MB", lambda.memory_mb),
    );
    check.check(
        (1..API_GATEWAY_LIMIT_S).contains(&lambda.timeout_s),
        "lambda.timeout_s",
        || {
            format!(
                "{} s is not allowed: 1-{} s (API Gateway stops waiting at {API_GATEWAY_LIMIT_S} s)",
                lambda.timeout_s,
                API_GATEWAY_LIMIT_S - 1
            )
        },
    );
    check.check(
        lambda.reserved_concurrency >= 2,
        "lambda.reserved_concurrency",
        || {
            "must be at least 2: EVE's two functions (API and streaming) share it, and 0 would disable one".into()
        },
    );
    // Every log group the stack makes takes its retention from one of these.
    for (key, days) in [
        ("lambda.log_retention_days", lambda.log_retention_days),
        ("api.log_retention_days", stack.api.log_retention_days),
        ("waf.log_retention_days", stack.waf.log_retention_days),
        (
            "network.flow_log_retention_days",
            stack.network.flow_log_retention_days,
        ),
    ] {
        check.check(LOG_RETENTION_DAYS.contains(&days), key, || {
            format!("{days} is not a CloudWatch retention period; allowed: {LOG_RETENTION_DAYS:?}")
        });
    }
}

fn check_eve(stack: &Stack, check: &mut Checker<'_>) {
    let eve = &stack.eve;
    // A profile routes each call to one of its regions, and is refused in any whose
    // foundation model the role may not invoke.
    check.check(
        !eve_contract::settings::is_inference_profile(&eve.model_id)
            || !eve.model_regions.is_empty(),
        "eve.model_regions",
        || {
            format!(
                "`{}` is a cross-region inference profile: list the regions it routes to (its \
                 page in the Bedrock console), or name the model without its geography",
                eve.model_id
            )
        },
    );
    // Any other model is called in the stack's region only: regions listed for it would be
    // granted to the role for nothing.
    check.check(
        eve_contract::settings::is_inference_profile(&eve.model_id) || eve.model_regions.is_empty(),
        "eve.model_regions",
        || {
            format!(
                "`{}` is not a cross-region inference profile, so EVE calls it in the \
                 stack's region only: remove `model_regions`, or name a profile",
                eve.model_id
            )
        },
    );
    for (i, region) in eve.model_regions.iter().enumerate() {
        check.check(
            AWS_REGIONS.contains(&region.as_str()),
            &format!("eve.model_regions[{i}]"),
            || format!("`{region}` is not an AWS region id"),
        );
    }
    // EVE reads the origins joined by commas: a blank entry would vanish from that value and
    // one holding a comma would become two, so the positions below would not be the file's.
    let mut origins_as_written = true;
    for (i, origin) in eve.allowed_origins.iter().enumerate() {
        let problem = if origin.trim().is_empty() {
            "an origin cannot be blank: remove the entry, or name an origin".to_string()
        } else if origin.contains(',') {
            format!("one origin per entry: `{origin}` holds a comma")
        } else {
            continue;
        };
        origins_as_written = false;
        check.error(&format!("eve.allowed_origins[{i}]"), problem);
    }
    // Every value EVE will read is checked with EVE's own rules (eve-contract), so a stack
    // that validates is one EVE starts with.
    // Those the file does not set are defaults or names the stack derives (the table's, the
    // bucket's), which are checked at the keys they come from.
    for setting in stack.eve_settings() {
        let Some(rule) = Setting::named(setting.name) else {
            continue;
        };
        if !check.source().has_key(&format!("eve.{}", setting.name)) {
            continue;
        }
        // A list's entries are each held to EVE's rule, at their index in the file's array.
        if let Setting::List(list) = rule {
            if list.name == eve_contract::settings::ALLOWED_ORIGINS.name && !origins_as_written {
                continue;
            }
            for (i, why) in list.refused(&setting.value) {
                check.error(
                    &format!("eve.{}[{i}]", setting.name),
                    format!("{why} (EVE refuses it at start-up)"),
                );
            }
            continue;
        }
        if let Err(allowed) = rule.check(&setting.value) {
            check.error(
                &format!("eve.{}", setting.name),
                format!(
                    "`{}` is not allowed: EVE refuses it at start-up ({allowed})",
                    setting.value
                ),
            );
        }
    }
    let function_ms = stack.lambda.timeout_s.saturating_mul(1000);
    // Point at whichever of the two the file actually sets.
    let key = if check.source().has_key("eve.model_timeout_ms")
        || !check.source().has_key("lambda.timeout_s")
    {
        "eve.model_timeout_ms"
    } else {
        "lambda.timeout_s"
    };
    let within_contract = Setting::Integer(eve_contract::settings::MODEL_TIMEOUT_MS)
        .check(&eve.model_timeout_ms.to_string())
        .is_ok();
    check.check(
        !within_contract || eve.model_timeout_ms < function_ms,
        key,
        || {
            format!(
                "EVE's model timeout ({} ms) must be below the function timeout ({function_ms} ms)",
                eve.model_timeout_ms
            )
        },
    );
}

fn check_api_and_alarms(stack: &Stack, check: &mut Checker<'_>) {
    let api = &stack.api;
    check.check(
        api.throttle_rate_limit > 0.0,
        "api.throttle_rate_limit",
        || "must be a positive number of requests per second".into(),
    );
    check.check(
        (1..=AWS_INTEGER_MAX).contains(&api.throttle_burst_limit),
        "api.throttle_burst_limit",
        || {
            format!(
                "{} is not allowed: API Gateway takes a burst of 1 to {AWS_INTEGER_MAX} requests",
                api.throttle_burst_limit,
            )
        },
    );
    check.check(api.daily_quota >= 1, "api.daily_quota", || {
        "must be at least 1".into()
    });

    let alarms = &stack.alarms;
    if let Some(email) = &alarms.email {
        check.check(is_email(email), "alarms.email", || {
            format!("`{email}` is not an email address (expected name@domain.tld)")
        });
    }
    let timeout_ms = f64::from(stack.lambda.timeout_s) * 1000.0;
    check.check(
        alarms.lambda_duration_ms > 0.0 && alarms.lambda_duration_ms < timeout_ms,
        "alarms.lambda_duration_ms",
        || {
            format!(
                "{} ms is not allowed: above 0 and below the function timeout ({timeout_ms} ms)",
                short_number(alarms.lambda_duration_ms)
            )
        },
    );
    for (key, percent) in [
        (
            "alarms.lambda_error_rate_percent",
            alarms.lambda_error_rate_percent,
        ),
        ("alarms.api_4xx_rate_percent", alarms.api_4xx_rate_percent),
        ("alarms.api_5xx_rate_percent", alarms.api_5xx_rate_percent),
        (
            "alarms.eve_offline_share_percent",
            alarms.eve_offline_share_percent,
        ),
        (
            "alarms.eve_budget_used_percent",
            alarms.eve_budget_used_percent,
        ),
    ] {
        check.check(percent > 0.0 && percent < 100.0, key, || {
            format!(
                "{} is not a usable rate: a percentage above 0 and below 100",
                short_number(percent)
            )
        });
    }
    check.check(
        alarms.dynamodb_throttled_requests >= 0.0,
        "alarms.dynamodb_throttled_requests",
        || "must be 0 or more requests".into(),
    );
    check.check(
        alarms.eve_model_errors >= 0.0,
        "alarms.eve_model_errors",
        || "must be 0 or more model errors".into(),
    );
    let period = alarms.period_seconds;
    check.check(
        period == 10 || period == 30 || (period >= 60 && period.is_multiple_of(60)),
        "alarms.period_seconds",
        || format!("{period} is not allowed: 10, 30 or a multiple of 60"),
    );
}

pub fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()))
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && is_dns_name(domain) && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_name("alexrivera.dev"));
        assert!(!is_dns_name("localhost"));
        assert!(!is_dns_name("bad_name.com"));
        assert!(!is_dns_name("-a.com"));
    }
}
