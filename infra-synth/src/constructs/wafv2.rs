//! WAFv2: a web ACL for CloudFront (which AWS only accepts in us-east-1) with AWS's managed
//! rule groups, a per-IP rate limit on a path prefix, and logging with secrets redacted.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::cloudwatch::{LogGroup, LogGroupProps, Source};
use super::core::RegionBound;
use super::kms::Key;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

/// AWS WAF's rate-based rules count over five minutes (the window we set explicitly).
pub const RATE_WINDOW_SECONDS: u32 = 300;

/// An AWS managed rule group, optionally applied only under a path prefix and with some of
/// its rules only counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedRuleGroup {
    pub name: &'static str,
    pub only_under: Option<&'static str>,
    pub count_only: &'static [&'static str],
}

impl ManagedRuleGroup {
    const fn everywhere(name: &'static str) -> Self {
        ManagedRuleGroup {
            name,
            only_under: None,
            count_only: &[],
        }
    }
}

/// The groups every ACL here starts with: the common rule set (OWASP top ten), known bad
/// inputs (Log4Shell and other exploit payloads), Amazon's IP reputation list, and on the API
/// only the anonymous-IP list. That last one blocks requests from hosting providers (bots
/// that would spend the model budget) but only counts VPN and Tor users, who may chat.
pub const BASELINE_RULE_GROUPS: &[ManagedRuleGroup] = &[
    ManagedRuleGroup::everywhere("AWSManagedRulesCommonRuleSet"),
    ManagedRuleGroup::everywhere("AWSManagedRulesKnownBadInputsRuleSet"),
    ManagedRuleGroup::everywhere("AWSManagedRulesAmazonIpReputationList"),
    ManagedRuleGroup {
        name: "AWSManagedRulesAnonymousIpList",
        only_under: Some("/api/"),
        count_only: &["AnonymousIPList"],
    },
];

/// Viewer headers that can carry credentials, never written to the WAF log.
pub const REDACTED_HEADERS: &[&str] = &["authorization", "cookie"];

#[derive(Debug, Clone, Serialize)]
pub struct WebAclBlock {
    pub name: String,
    pub description: &'static str,
    pub scope: &'static str,
    pub default_action: Value,
    pub rule: Vec<Value>,
    pub visibility_config: Visibility,
}

impl Block for WebAclBlock {
    const TYPE: &'static str = "aws_wafv2_web_acl";
}

#[derive(Debug, Clone, Serialize)]
pub struct Visibility {
    pub cloudwatch_metrics_enabled: bool,
    pub metric_name: String,
    pub sampled_requests_enabled: bool,
}

impl Visibility {
    fn named(metric_name: &str) -> Self {
        Visibility {
            cloudwatch_metrics_enabled: true,
            metric_name: metric_name.to_string(),
            sampled_requests_enabled: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggingConfiguration {
    pub resource_arn: Expr,
    pub log_destination_configs: Vec<Expr>,
    pub redacted_fields: Vec<Value>,
}

impl Block for LoggingConfiguration {
    const TYPE: &'static str = "aws_wafv2_web_acl_logging_configuration";
}

/// A per-IP request limit on paths starting with `path_prefix`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub path_prefix: &'static str,
    /// Requests per IP in [`RATE_WINDOW_SECONDS`].
    pub limit: u32,
}

#[derive(Clone)]
pub struct WebAclProps {
    pub description: &'static str,
    pub rate_limits: Vec<RateLimit>,
    pub log_retention_days: u32,
    /// Encrypts the log group; must be a key in the ACL's region (us-east-1).
    pub encryption_key: Option<Key>,
}

/// A web ACL for a CloudFront distribution.
#[derive(Clone)]
pub struct WebAcl {
    acl: Ref<WebAclBlock>,
    name: String,
}

impl WebAcl {
    /// `scope` must be in us-east-1 (`Scope::in_region`); a check reports it otherwise.
    pub fn new(scope: &Scope, id: impl Into<Id>, props: WebAclProps) -> WebAcl {
        let scope = scope.child(id);
        let name = scope.physical_name();
        let managed = BASELINE_RULE_GROUPS.iter().map(|group| {
            let mut statement = json!({
                "name": group.name,
                "vendor_name": "AWS",
            });
            if let Some(prefix) = group.only_under {
                statement["scope_down_statement"] = json!([starts_with(prefix)]);
            }
            if !group.count_only.is_empty() {
                statement["rule_action_override"] = group
                    .count_only
                    .iter()
                    .map(|rule| json!({"name": rule, "action_to_use": [{"count": [{}]}]}))
                    .collect();
            }
            json!({
                "name": group.name,
                "override_action": [{"none": [{}]}],
                "statement": [{"managed_rule_group_statement": [statement]}],
            })
        });
        let rates = props.rate_limits.iter().map(|rate| {
            let metric = format!("rate{}", rate.path_prefix.replace('/', "-"));
            json!({
                "name": metric.trim_end_matches('-'),
                "action": [{"block": [{}]}],
                "statement": [{"rate_based_statement": [{
                    "limit": rate.limit,
                    "aggregate_key_type": "IP",
                    "evaluation_window_sec": RATE_WINDOW_SECONDS,
                    "scope_down_statement": [starts_with(rate.path_prefix)],
                }]}],
            })
        });
        let rule = managed
            .chain(rates)
            .enumerate()
            .map(|(priority, mut rule)| {
                let metric = rule["name"].as_str().unwrap_or_default().to_string();
                rule["priority"] = json!(priority);
                rule["visibility_config"] = json!([Visibility::named(&metric)]);
                rule
            })
            .collect();
        let acl = scope.add(WebAclBlock {
            name: name.clone(),
            description: props.description,
            scope: "CLOUDFRONT",
            default_action: json!([{"allow": [{}]}]),
            rule,
            visibility_config: Visibility::named(&name),
        });
        scope.with_tree(|tree| {
            tree.region_bound.push(RegionBound {
                path: scope.path(),
                address: acl.address(),
                what: "a CloudFront web ACL",
                required: "us-east-1",
                actual: scope.region().to_string(),
            })
        });
        // WAF only logs to groups named `aws-waf-logs-*`, and takes the group's ARN without
        // the `:*` the provider's `arn` attribute has not got.
        let logs = LogGroup::in_scope(
            &scope.child("logs"),
            LogGroupProps {
                name: Some(format!("aws-waf-logs-{name}")),
                retention_days: props.log_retention_days,
                encryption_key: props.encryption_key,
            },
        );
        scope.add(LoggingConfiguration {
            resource_arn: acl.arn(),
            log_destination_configs: vec![logs.arn()],
            redacted_fields: REDACTED_HEADERS
                .iter()
                .map(|header| json!({"single_header": [{"name": header}]}))
                .collect(),
        });
        WebAcl { acl, name }
    }

    pub fn arn(&self) -> Expr {
        self.acl.arn()
    }

    /// Metrics of every rule together (`Rule=ALL`); CloudFront ACLs have no Region dimension.
    pub fn metrics(&self) -> Source {
        Source {
            namespace: "AWS/WAFV2",
            dimensions: BTreeMap::from([
                ("WebACL", self.name.clone()),
                ("Rule", "ALL".to_string()),
            ]),
        }
    }
}

/// A statement matching request paths that start with `prefix`.
fn starts_with(prefix: &str) -> Value {
    json!({"byte_match_statement": [{
        "search_string": prefix,
        "positional_constraint": "STARTS_WITH",
        "field_to_match": [{"uri_path": [{}]}],
        "text_transformation": [{"priority": 0, "type": "NONE"}],
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::stack;

    fn build(region: &str) -> crate::constructs::Assembly {
        let stack = stack();
        WebAcl::new(
            &stack.in_region(region),
            "edge",
            WebAclProps {
                description: "test",
                rate_limits: vec![RateLimit {
                    path_prefix: "/api/",
                    limit: 300,
                }],
                log_retention_days: 30,
                encryption_key: None,
            },
        );
        stack.finish()
    }

    #[test]
    fn managed_groups_then_a_rate_limit_and_redacted_logs() {
        let assembly = build("us-east-1");
        assert!(assembly.problems.is_empty(), "{:?}", assembly.problems);
        let json = assembly.doc.to_json("t").expect("json");
        let acl = &json["resource"]["aws_wafv2_web_acl"]["edge"];
        assert_eq!(acl["scope"], "CLOUDFRONT");
        assert_eq!(acl["provider"], "aws.us_east_1");
        let rules = acl["rule"].as_array().expect("rules");
        let names: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "AWSManagedRulesCommonRuleSet",
                "AWSManagedRulesKnownBadInputsRuleSet",
                "AWSManagedRulesAmazonIpReputationList",
                "AWSManagedRulesAnonymousIpList",
                "rate-api"
            ]
        );
        let anonymous = &rules[3]["statement"][0]["managed_rule_group_statement"][0];
        assert_eq!(
            anonymous["scope_down_statement"][0]["byte_match_statement"][0]["search_string"],
            "/api/"
        );
        assert_eq!(
            anonymous["rule_action_override"][0]["name"],
            "AnonymousIPList"
        );
        let rate = &rules[4]["statement"][0]["rate_based_statement"][0];
        assert_eq!(rate["limit"], 300);
        assert_eq!(rate["aggregate_key_type"], "IP");
        let scope_down = &rate["scope_down_statement"][0]["byte_match_statement"][0];
        assert_eq!(scope_down["search_string"], "/api/");
        assert_eq!(scope_down["positional_constraint"], "STARTS_WITH");
        assert_eq!(rules[4]["priority"], 4);
        let logs = &json["resource"]["aws_cloudwatch_log_group"]["edge_logs"];
        assert_eq!(logs["name"], "aws-waf-logs-test-edge");
        let logging = &json["resource"]["aws_wafv2_web_acl_logging_configuration"]["edge"];
        assert_eq!(
            logging["redacted_fields"][0]["single_header"][0]["name"],
            "authorization"
        );
    }

    #[test]
    fn an_acl_outside_us_east_1_is_refused() {
        let problems = build("eu-west-1").problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("web ACL"), "{problems:?}");
    }
}
