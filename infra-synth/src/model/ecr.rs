//! ECR: the repository `docker.yml` pushes the `eve-server` image to, for container runs
//! (Kubernetes manifests from `synth --target kubernetes`).

use serde::Serialize;
use serde_json::json;

use super::kms::Key;
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct Repository {
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
    pub kms_key: Expr,
}

impl Block for Repository {
    const TYPE: &'static str = "aws_ecr_repository";
}

impl Ref<Repository> {
    pub fn repository_url(&self) -> Expr {
        self.attr("repository_url")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LifecyclePolicy {
    pub repository: Expr,
    pub policy: Expr,
}

impl Block for LifecyclePolicy {
    const TYPE: &'static str = "aws_ecr_lifecycle_policy";
}

/// Untagged layers (superseded builds) go after a week; the newest images are kept so a
/// rollback target always exists.
const UNTAGGED_DAYS: u32 = 7;
const KEEP_IMAGES: u32 = 30;

/// `<app>/<env>/eve-server`, encrypted with the stack key, scanned on push, immutable tags.
pub fn eve_server_repository(
    doc: &mut Document,
    stack: &Stack,
    key: &Ref<Key>,
) -> anyhow::Result<Ref<Repository>> {
    let repository = doc.add(
        "eve_server",
        Repository {
            name: stack.container_repository_name(),
            image_tag_mutability: "IMMUTABLE",
            force_delete: stack.buckets.force_destroy,
            image_scanning_configuration: ScanningConfiguration { scan_on_push: true },
            encryption_configuration: EncryptionConfiguration {
                encryption_type: "KMS",
                kms_key: key.arn(),
            },
        },
    )?;
    let rules = json!({
        "rules": [
            {
                "rulePriority": 1,
                "description": format!("Expire untagged images after {UNTAGGED_DAYS} days"),
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": UNTAGGED_DAYS,
                },
                "action": { "type": "expire" },
            },
            {
                "rulePriority": 2,
                "description": format!("Keep the newest {KEEP_IMAGES} images"),
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_IMAGES,
                },
                "action": { "type": "expire" },
            },
        ]
    });
    doc.add(
        "eve_server",
        LifecyclePolicy {
            repository: repository.attr("name"),
            policy: Expr::lit(rules.to_string()),
        },
    )?;
    Ok(repository)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn repository_is_immutable_scanned_encrypted_and_pruned() {
        let stack = test_stack();
        let mut doc = Document::default();
        let key = crate::model::kms::test_key(&mut doc);
        let repository = eve_server_repository(&mut doc, &stack, &key).expect("repository");
        let json = doc.to_json("t").expect("json");
        let repo = &json["resource"]["aws_ecr_repository"]["eve_server"];
        assert_eq!(repo["name"], "cloudforgex/test/eve-server");
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
        assert_eq!(
            repository.repository_url().as_template(),
            "${aws_ecr_repository.eve_server.repository_url}"
        );
    }
}
