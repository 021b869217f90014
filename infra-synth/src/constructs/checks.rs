//! Checks over the finished tree (CDK calls them aspects). `validate` and `synth` run the same
//! ones on the one tree they build; a stack with any problem is not synthesized.

pub use super::core::Problem;

/// The check that finds a name longer than AWS allows.
pub const NAME_LENGTH: &str = "name length";
use super::core::Tree;

/// Every check, in a fixed order so reports are stable.
pub(crate) fn run(tree: &Tree) -> Vec<Problem> {
    let mut problems = Vec::new();
    no_wildcards_in_identity_policies(tree, &mut problems);
    encryption_at_rest(tree, &mut problems);
    tags_on_every_resource(tree, &mut problems);
    region_rules(tree, &mut problems);
    names_within_aws_limits(tree, &mut problems);
    problems
}

/// The longest name AWS takes for each named argument constructs fill from the scope path,
/// from the services' API references and quotas. Some the provider checks at `validate`;
/// others fail only when `apply` creates the resource.
const NAME_LIMITS: &[(&str, &str, usize)] = &[
    ("aws_budgets_budget", "name", 100),
    ("aws_cloudfront_origin_access_control", "name", 64),
    ("aws_cloudfront_response_headers_policy", "name", 128),
    ("aws_cloudwatch_dashboard", "dashboard_name", 255),
    ("aws_cloudwatch_log_delivery_destination", "name", 60),
    ("aws_cloudwatch_log_delivery_source", "name", 60),
    ("aws_cloudwatch_log_group", "name", 512),
    ("aws_cloudwatch_metric_alarm", "alarm_name", 255),
    ("aws_dynamodb_table", "name", 255),
    ("aws_ecr_repository", "name", 256),
    ("aws_iam_role", "name", 64),
    ("aws_iam_role_policy", "name", 128),
    ("aws_kms_alias", "name", 256),
    ("aws_lambda_function", "function_name", 64),
    ("aws_s3_bucket", "bucket", 63),
    ("aws_security_group", "name", 255),
    ("aws_sns_topic", "name", 256),
    ("aws_sqs_queue", "name", 80),
    ("aws_wafv2_web_acl", "name", 128),
];

/// Names start with the stack id, so a long one can push a derived name past what AWS takes.
fn names_within_aws_limits(tree: &Tree, problems: &mut Vec<Problem>) {
    for entry in tree.doc.entries() {
        let kind = entry.address.split('.').next().unwrap_or_default();
        for (_, argument, limit) in NAME_LIMITS.iter().filter(|(k, ..)| *k == kind) {
            // A name that refers to another block is only known at apply.
            let Some(name) = entry
                .body
                .get(*argument)
                .and_then(|n| n.as_str())
                .filter(|n| !n.contains("${"))
            else {
                continue;
            };
            let length = name.chars().count();
            if length > *limit {
                problems.push(Problem {
                    path: tree.id.clone(),
                    check: NAME_LENGTH,
                    message: format!(
                        "`{}` {argument} `{name}` is {length} characters; AWS takes at most \
                         {limit}, and every name starts with the stack id",
                        entry.address
                    ),
                });
            }
        }
    }
}

/// Identity policies name every action and grant exact ARNs. The exceptions are
/// `:log-stream:*` under a log group, because Lambda names its streams at run time, and
/// `<bucket>/*` in the statements a replication construct declared, because replication
/// copies every object.
fn no_wildcards_in_identity_policies(tree: &Tree, problems: &mut Vec<Problem>) {
    for statement in &tree.identity_statements {
        let whole_bucket = tree
            .whole_bucket_grants
            .iter()
            .any(|(path, sid)| *path == statement.path && *sid == statement.sid);
        let problem = |message| Problem {
            path: statement.path.clone(),
            check: "no IAM wildcards",
            message,
        };
        for action in statement.actions.iter().filter(|a| a.contains('*')) {
            problems.push(problem(format!(
                "IAM statement `{}` allows action `{action}`; name every action (no `*`)",
                statement.sid
            )));
        }
        for resource in &statement.resources {
            let allowed = resource.ends_with(":log-stream:*")
                || (whole_bucket && resource.matches('*').count() == 1 && resource.ends_with("/*"));
            if resource.contains('*') && !allowed {
                problems.push(problem(format!(
                    "IAM statement `{}` grants resource `{resource}`; use exact ARNs (no `*`)",
                    statement.sid
                )));
            }
        }
    }
}

fn encryption_at_rest(tree: &Tree, problems: &mut Vec<Problem>) {
    for store in tree.stores.iter().filter(|s| !s.encrypted) {
        problems.push(Problem {
            path: store.path.clone(),
            check: "encryption at rest",
            message: format!(
                "`{}` is not encrypted at rest: give it a KMS key",
                store.address
            ),
        });
    }
}

/// Every resource is tagged through its provider's `default_tags`, so every provider needs
/// tags and every resource a provider that exists.
fn tags_on_every_resource(tree: &Tree, problems: &mut Vec<Problem>) {
    for provider in &tree.doc.providers {
        if provider.default_tags.tags.is_empty() {
            problems.push(Problem {
                path: tree.id.clone(),
                check: "tags",
                message: format!(
                    "provider `{}` has no default tags, so its resources are untagged",
                    provider.alias.as_deref().unwrap_or("aws")
                ),
            });
        }
    }
    for entry in tree.doc.entries() {
        let Some(alias) = entry.body.get("provider").and_then(|p| p.as_str()) else {
            continue;
        };
        let known = tree.doc.providers.iter().any(|p| {
            p.reference()
                .is_some_and(|r| r.alias() == alias.strip_prefix("aws."))
        });
        if !known {
            problems.push(Problem {
                path: tree.id.clone(),
                check: "tags",
                message: format!(
                    "`{}` uses provider `{alias}`, which the stack does not configure",
                    entry.address
                ),
            });
        }
    }
}

/// Resources AWS reads in one region only (CloudFront's certificate and web ACL).
fn region_rules(tree: &Tree, problems: &mut Vec<Problem>) {
    for bound in tree.region_bound.iter().filter(|b| b.actual != b.required) {
        problems.push(Problem {
            path: bound.path.clone(),
            check: "region",
            message: format!(
                "`{}` is {} and must be in {}, not {} (create it under `scope.in_region(\"{}\")`)",
                bound.address, bound.what, bound.required, bound.actual, bound.required
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::constructs::cloudwatch::{LogGroup, LogGroupProps};
    use crate::constructs::iam::Statement;
    use crate::constructs::iam::{Role, RoleProps};
    use crate::constructs::testing::stack;
    use crate::tf::Expr;

    #[test]
    fn wildcards_and_unencrypted_stores_are_reported_at_their_construct() {
        let stack = crate::constructs::Stack::new(
            "bare",
            crate::constructs::StackProps {
                region: "eu-west-1".into(),
                ..Default::default()
            },
        );
        let role = Role::new(
            &stack,
            "r",
            RoleProps {
                service: "lambda.amazonaws.com",
                description: "t",
            },
        );
        role.grant(Statement::allow(
            "Bad",
            &["s3:*"],
            vec![Expr::lit("arn:aws:s3:::x/*")],
        ));
        crate::constructs::sns::Topic::new(&stack, "plain", Default::default());
        let problems = stack.finish().problems;
        let checks: Vec<&str> = problems.iter().map(|p| p.check).collect();
        assert_eq!(
            checks,
            ["no IAM wildcards", "no IAM wildcards", "encryption at rest"],
            "{problems:?}"
        );
        assert_eq!(problems[0].path, "bare/r");
    }

    #[test]
    fn two_constructs_at_one_address_are_a_problem_and_ids_keep_instances_apart() {
        let stack = stack();
        let dr = stack.child("dr");
        crate::constructs::sqs::Queue::new(&stack, "jobs", Default::default());
        crate::constructs::sqs::Queue::new(&dr, "jobs", Default::default());
        crate::constructs::sqs::Queue::new(&stack, "jobs", Default::default());
        let pinned = crate::constructs::Id::from("orders").at_address("legacy_orders");
        crate::constructs::sqs::Queue::new(&stack, pinned, Default::default());
        let assembly = stack.finish();
        assert_eq!(assembly.problems.len(), 2, "{:?}", assembly.problems);
        assert!(assembly.problems[0].message.contains("aws_sqs_queue.jobs"));
        let json = assembly.doc.to_json("t").expect("json");
        assert_eq!(
            json["resource"]["aws_sqs_queue"]["dr_jobs"]["name"],
            "test-dr-jobs"
        );
    }

    #[test]
    fn a_name_longer_than_aws_takes_is_a_problem() {
        let long = crate::constructs::Stack::new(
            &"s".repeat(40),
            crate::constructs::StackProps {
                region: "eu-west-1".into(),
                tags: [("app".to_string(), "t".to_string())].into(),
                ..Default::default()
            },
        );
        let props = || RoleProps {
            service: "lambda.amazonaws.com",
            description: "t",
        };
        // 40 + "-" + 23 = 64 characters: the most an IAM role name takes.
        Role::new(&long, "a".repeat(23).as_str(), props());
        Role::new(&long, "b".repeat(24).as_str(), props());
        let problems = long.finish().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].check, super::NAME_LENGTH);
        assert!(
            problems[0]
                .message
                .contains("is 65 characters; AWS takes at most 64"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_stack_of_secure_defaults_has_no_problems() {
        let stack = stack();
        let key = crate::constructs::kms::Key::new(&stack, "k", Default::default());
        LogGroup::new(&stack, "logs", LogGroupProps::default());
        crate::constructs::sns::Topic::new(
            &stack,
            "alarms",
            crate::constructs::sns::TopicProps {
                encryption_key: Some(key),
            },
        );
        assert!(stack.finish().problems.is_empty());
    }
}
