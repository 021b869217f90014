//! A Mermaid diagram of the synthesized stack: nodes are resources (or whole services), and an
//! arrow goes from each node to every node it references — the typed references each block
//! was built from, not a scan of its JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::tf::Entry;

/// How much detail the diagram shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// One node per resource and data source.
    Resources,
    /// One node per AWS service (readable in a README).
    Services,
}

/// `flowchart LR` with an edge from each node to every node it references.
pub fn mermaid(entries: &[Entry], level: Level) -> String {
    let label = |address: &str| match level {
        Level::Resources => address.to_string(),
        Level::Services => service_of(address).to_string(),
    };
    let nodes: BTreeSet<String> = entries.iter().map(|e| label(&e.address)).collect();
    let ids: BTreeMap<&String, usize> = nodes.iter().enumerate().map(|(i, n)| (n, i)).collect();
    let mut edges = BTreeSet::new();
    for entry in entries {
        let from = label(&entry.address);
        for target in entry.references {
            let to = label(target);
            if let (Some(&a), Some(&b)) = (ids.get(&from), ids.get(&to)) {
                if a != b {
                    edges.insert((a, b));
                }
            }
        }
    }
    let mut out = String::from("flowchart LR\n");
    for (i, node) in nodes.iter().enumerate() {
        let _ = writeln!(out, "  n{i}[\"{node}\"]");
    }
    for (from, to) in edges {
        let _ = writeln!(out, "  n{from} --> n{to}");
    }
    out
}

/// The AWS service a resource type belongs to (the construct module it comes from).
pub fn service_of(address: &str) -> &'static str {
    let kind = address.trim_start_matches("data.");
    const SERVICES: &[(&str, &str)] = &[
        ("aws_s3_", "S3"),
        ("aws_cloudfront_", "CloudFront"),
        ("aws_acm_", "ACM"),
        ("aws_route53_", "Route 53"),
        ("aws_api_gateway_", "API Gateway"),
        ("aws_lambda_", "Lambda"),
        ("aws_iam_", "IAM"),
        ("aws_caller_identity", "IAM"),
        ("aws_dynamodb_", "DynamoDB"),
        ("aws_ssm_", "SSM"),
        ("aws_cloudwatch_", "CloudWatch"),
        ("aws_sns_", "SNS"),
        ("aws_sqs_", "SQS"),
        ("aws_kms_", "KMS"),
        ("aws_ecr_", "ECR"),
        ("aws_wafv2_", "WAF"),
        ("aws_vpc", "VPC"),
        ("aws_subnet", "VPC"),
        ("aws_route_table", "VPC"),
        ("aws_security_group", "VPC"),
        ("aws_default_security_group", "VPC"),
        ("aws_flow_log", "VPC"),
        ("aws_budgets_", "Budgets"),
    ];
    SERVICES
        .iter()
        .find(|(prefix, _)| kind.starts_with(prefix))
        .map_or("other", |(_, service)| service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    static NO_BODY: Value = Value::Null;

    /// The tests' blocks, each with the addresses it refers to.
    const BLOCKS: [(&str, &[&str]); 5] = [
        ("aws_s3_bucket.site", &[]),
        ("aws_s3_bucket.site_logs", &[]),
        ("aws_s3_bucket_policy.site", &["aws_s3_bucket.site"]),
        (
            "data.aws_iam_policy_document.site",
            &["aws_s3_bucket.site_logs"],
        ),
        ("aws_kms_key.stack", &["data.aws_caller_identity.current"]),
    ];

    /// The diagram of the tests' blocks.
    fn diagram(level: Level) -> String {
        let references: Vec<BTreeSet<String>> = BLOCKS
            .iter()
            .map(|(_, to)| to.iter().map(|r| r.to_string()).collect())
            .collect();
        let entries: Vec<Entry> = BLOCKS
            .iter()
            .zip(&references)
            .map(|((address, _), references)| Entry {
                address: address.to_string(),
                body: &NO_BODY,
                references,
            })
            .collect();
        mermaid(&entries, level)
    }

    #[test]
    fn edges_follow_references_only() {
        let graph = diagram(Level::Resources);
        let id = |address: &str| {
            graph
                .lines()
                .find(|l| l.ends_with(&format!("[\"{address}\"]")))
                .and_then(|l| l.trim().split('[').next())
                .expect("node")
                .to_string()
        };
        let (site, logs) = (id("aws_s3_bucket.site"), id("aws_s3_bucket.site_logs"));
        let (policy, doc) = (
            id("aws_s3_bucket_policy.site"),
            id("data.aws_iam_policy_document.site"),
        );
        assert!(graph.contains(&format!("{policy} --> {site}\n")), "{graph}");
        assert!(graph.contains(&format!("{doc} --> {logs}\n")), "{graph}");
        assert!(!graph.contains(&format!("{doc} --> {site}\n")), "{graph}");
        assert!(
            !graph.contains(&format!("{policy} --> {logs}\n")),
            "{graph}"
        );
    }

    #[test]
    fn services_collapse_resources_and_every_service_is_named() {
        let graph = diagram(Level::Services);
        assert_eq!(
            graph,
            "flowchart LR\n  n0[\"IAM\"]\n  n1[\"KMS\"]\n  n2[\"S3\"]\n  n0 --> n2\n  n1 --> n0\n"
        );
        for address in ["aws_ecr_repository.x", "aws_sns_topic.x", "aws_sqs_queue.x"] {
            assert_ne!(service_of(address), "other", "{address}");
        }
    }
}
