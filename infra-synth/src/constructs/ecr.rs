//! ECR: image repositories with immutable tags, scanning on push, KMS encryption and a
//! lifecycle policy.

use serde::Serialize;

use super::core::Store;
use super::kms::Key;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct RepositoryBlock {
    pub name: String,
    /// A pushed tag never moves, so a deployed tag always means the same image.
    pub image_tag_mutability: &'static str,
    pub force_delete: bool,
    pub image_scanning_configuration: ScanningConfiguration,
    pub encryption_configuration: EncryptionConfiguration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanningConfiguration {
    pub scan_on_push: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncryptionConfiguration {
    pub encryption_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<Expr>,
}

impl Block for RepositoryBlock {
    const TYPE: &'static str = "aws_ecr_repository";
}

#[derive(Debug, Clone, Serialize)]
pub struct LifecyclePolicy {
    pub repository: Expr,
    pub policy: Expr,
}

impl Block for LifecyclePolicy {
    const TYPE: &'static str = "aws_ecr_lifecycle_policy";
}

/// An ECR lifecycle policy in ECR's own JSON shape.
#[derive(Serialize)]
struct LifecycleRules {
    rules: Vec<LifecycleRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LifecycleRule {
    rule_priority: u32,
    description: String,
    selection: Selection,
    action: Action,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selection {
    tag_status: &'static str,
    count_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    count_unit: Option<&'static str>,
    count_number: u32,
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Untagged layers (superseded builds) go after a week; the newest images are kept so a
/// rollback target always exists.
const UNTAGGED_DAYS: u32 = 7;
const KEEP_IMAGES: u32 = 30;

#[derive(Clone, Default)]
pub struct RepositoryProps {
    /// Default: the scope's physical name.
    pub name: Option<String>,
    /// KMS with this key; `None` uses the AWS-managed ECR key (still KMS).
    pub encryption_key: Option<Key>,
    /// Let `destroy` delete a repository that still holds images (throwaway stacks).
    pub force_delete: bool,
}

/// A repository whose pushed tags never move, so a deployed tag always means one image.
#[derive(Clone)]
pub struct Repository {
    repository: Ref<RepositoryBlock>,
}

impl Repository {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: RepositoryProps) -> Repository {
        let scope = scope.child(id);
        let repository = scope.add(RepositoryBlock {
            name: props.name.unwrap_or_else(|| scope.physical_name()),
            image_tag_mutability: "IMMUTABLE",
            force_delete: props.force_delete,
            image_scanning_configuration: ScanningConfiguration { scan_on_push: true },
            encryption_configuration: EncryptionConfiguration {
                encryption_type: "KMS",
                kms_key: props.encryption_key.as_ref().map(Key::arn),
            },
        });
        scope.with_tree(|tree| {
            tree.stores.push(Store {
                path: scope.path(),
                address: repository.address(),
                encrypted: true,
            })
        });
        let rules = LifecycleRules {
            rules: vec![
                LifecycleRule {
                    rule_priority: 1,
                    description: format!("Expire untagged images after {UNTAGGED_DAYS} days"),
                    selection: Selection {
                        tag_status: "untagged",
                        count_type: "sinceImagePushed",
                        count_unit: Some("days"),
                        count_number: UNTAGGED_DAYS,
                    },
                    action: Action { kind: "expire" },
                },
                LifecycleRule {
                    rule_priority: 2,
                    description: format!("Keep the newest {KEEP_IMAGES} images"),
                    selection: Selection {
                        tag_status: "any",
                        count_type: "imageCountMoreThan",
                        count_unit: None,
                        count_number: KEEP_IMAGES,
                    },
                    action: Action { kind: "expire" },
                },
            ],
        };
        scope.add(LifecyclePolicy {
            repository: repository.attr("name"),
            policy: Expr::lit(serde_json::to_string(&rules).unwrap_or_default()),
        });
        Repository { repository }
    }

    pub fn repository_url(&self) -> Expr {
        self.repository.attr("repository_url")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::kms::KeyProps;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn repository_is_immutable_scanned_encrypted_and_pruned() {
        let stack = stack();
        let key = Key::new(&stack, "stack", KeyProps::default());
        let repository = Repository::new(
            &stack,
            "eve-server",
            RepositoryProps {
                encryption_key: Some(key),
                ..RepositoryProps::default()
            },
        );
        assert_eq!(
            repository.repository_url().as_template(),
            "${aws_ecr_repository.eve_server.repository_url}"
        );
        let json = json_of(stack);
        let repo = &json["resource"]["aws_ecr_repository"]["eve_server"];
        assert_eq!(repo["name"], "test-eve-server");
        assert_eq!(repo["image_tag_mutability"], "IMMUTABLE");
        assert_eq!(repo["image_scanning_configuration"]["scan_on_push"], true);
        assert_eq!(
            repo["encryption_configuration"]["kms_key"],
            "${aws_kms_key.stack.arn}"
        );
        let policy: serde_json::Value = serde_json::from_str(
            json["resource"]["aws_ecr_lifecycle_policy"]["eve_server"]["policy"]
                .as_str()
                .expect("policy"),
        )
        .expect("lifecycle policy is JSON");
        assert_eq!(policy["rules"].as_array().map(Vec::len), Some(2));
    }
}
