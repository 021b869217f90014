//! A Mermaid diagram of the synthesized stack: one node per resource, one edge per reference.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::tf::Entry;

/// `flowchart LR` with an edge from each block to every block it references.
pub fn mermaid(entries: &[Entry]) -> String {
    let bodies: Vec<String> = entries.iter().map(|e| e.body.to_string()).collect();
    let mut out = String::from("flowchart LR\n");
    for (i, entry) in entries.iter().enumerate() {
        let _ = writeln!(out, "  n{i}[\"{}\"]", entry.address);
    }
    let mut edges = BTreeSet::new();
    for (from, body) in bodies.iter().enumerate() {
        for (to, target) in entries.iter().enumerate() {
            if from != to && references(body, &target.address) {
                edges.insert((from, to));
            }
        }
    }
    for (from, to) in edges {
        let _ = writeln!(out, "  n{from} --> n{to}");
    }
    out
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

    #[test]
    fn edges_follow_references_only() {
        let entries = vec![
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
        ];
        let graph = mermaid(&entries);
        assert!(graph.contains("n2 --> n0"), "{graph}");
        assert!(graph.contains("n3 --> n1"), "{graph}");
        assert!(!graph.contains("n3 --> n0"), "{graph}");
        assert!(!graph.contains("n2 --> n1"), "{graph}");
    }
}
