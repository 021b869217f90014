//! A Mermaid diagram of the synthesized stack: nodes are resources (or whole services), and an
//! arrow goes from each node to every node it references.

use std::collections::BTreeSet;
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
    let labels: Vec<String> = entries
        .iter()
        .map(|e| match level {
            Level::Resources => e.address.clone(),
            Level::Services => service_of(&e.address).to_string(),
        })
        .collect();
    let nodes: Vec<&String> = labels.iter().collect::<BTreeSet<_>>().into_iter().collect();
    let node_id = |label: &String| nodes.iter().position(|n| *n == label).unwrap_or(0);
    let bodies: Vec<String> = entries.iter().map(|e| e.body.to_string()).collect();
    let mut edges = BTreeSet::new();
    for (from, body) in bodies.iter().enumerate() {
        for (to, target) in entries.iter().enumerate() {
            let (a, b) = (node_id(&labels[from]), node_id(&labels[to]));
            if a != b && references(body, &target.address) {
                edges.insert((a, b));
            }
        }
    }
    let mut out = String::from("flowchart LR\n");
    for (i, label) in nodes.iter().enumerate() {
        let _ = writeln!(out, "  n{i}[\"{label}\"]");
    }
    for (from, to) in edges {
        let _ = writeln!(out, "  n{from} --> n{to}");
    }
    out
}

/// The AWS service a resource type belongs to (the model module it comes from).
fn service_of(address: &str) -> &'static str {
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
        ("aws_sns_", "CloudWatch"),
    ];
    SERVICES
        .iter()
        .find(|(prefix, _)| kind.starts_with(prefix))
        .map_or("other", |(_, service)| service)
}

/// Whether a serialized body mentions `address` as a traversal (`addr.attr`) or dependency.
fn references(body: &str, address: &str) -> bool {
    body.match_indices(address).any(|(at, _)| {
        let before = body[..at].chars().next_back();
        let after = body[at + address.len()..].chars().next();
        let starts_cleanly =
            !matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.');
        starts_cleanly && matches!(after, Some('.') | Some('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                address: "aws_s3_bucket.site".into(),
                body: json!({"bucket": "x"}),
            },
            Entry {
                address: "aws_s3_bucket.site_logs".into(),
                body: json!({"bucket": "y"}),
            },
            Entry {
                address: "aws_s3_bucket_policy.site".into(),
                body: json!({"bucket": "${aws_s3_bucket.site.id}"}),
            },
            Entry {
                address: "data.aws_iam_policy_document.site".into(),
                body: json!({"r": "${aws_s3_bucket.site_logs.arn}"}),
            },
        ]
    }

    #[test]
    fn edges_follow_references_only() {
        let graph = mermaid(&entries(), Level::Resources);
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
    fn services_collapse_resources() {
        let graph = mermaid(&entries(), Level::Services);
        assert_eq!(
            graph,
            "flowchart LR\n  n0[\"IAM\"]\n  n1[\"S3\"]\n  n0 --> n1\n"
        );
    }
}
