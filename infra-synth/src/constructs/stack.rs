//! The root of a construct tree: one Terraform root module, its providers and outputs, and
//! `finish`, which completes the tree and runs the checks over it.

use std::collections::BTreeMap;
use std::ops::Deref;

use super::checks;
use super::core::{AttributeSource, CodeAsset, Problem, Scope, Tree};
use crate::tf::{
    Backend, DefaultTags, Document, Emulator, Expr, Lifecycle, Moved, Output, Provider,
    RequiredProvider, Settings, UnknownResource,
};

/// The Terraform releases the JSON is written for.
pub const REQUIRED_VERSION: &str = ">= 1.10";
/// AWS provider constraint (5.100 is what the plugin mirror and `terraform validate` use).
pub const AWS_PROVIDER_VERSION: &str = "~> 5.100";

/// Every service a stack may call, pointed at the emulator when one is set.
const EMULATED_SERVICES: &[&str] = &[
    "acm",
    "apigateway",
    "cloudfront",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "iam",
    "kms",
    "lambda",
    "logs",
    "route53",
    "s3",
    "sns",
    "sqs",
    "ssm",
    "sts",
    "wafv2",
];

/// How a stack is deployed: where, with which tags, and where its state lives.
#[derive(Debug, Clone, Default)]
pub struct StackProps {
    /// Region of every construct not placed elsewhere with [`Scope::in_region`].
    pub region: String,
    /// Default tags of every provider (so of every taggable resource).
    pub tags: BTreeMap<String, String>,
    /// A local emulator (moto) for every service, with test credentials.
    pub emulator_endpoint: Option<String>,
    /// State in S3 (`terraform init -backend-config=...`); otherwise a local state file.
    pub s3_backend: bool,
}

/// The root of a construct tree.
pub struct Stack {
    scope: Scope,
}

impl Deref for Stack {
    type Target = Scope;

    fn deref(&self) -> &Scope {
        &self.scope
    }
}

/// What a finished stack hands the emitters and `validate`.
#[derive(Debug)]
pub struct Assembly {
    pub doc: Document,
    pub assets: Vec<CodeAsset>,
    /// Every problem the checks found; `synth` refuses a stack with any.
    pub problems: Vec<Problem>,
    /// Which stack file key sets which attribute, as the app recorded it.
    pub sources: Vec<AttributeSource>,
}

impl Stack {
    /// A stack named `id` (the prefix of every AWS name in it, e.g. `cloudforgex-prod`).
    pub fn new(id: &str, props: StackProps) -> Stack {
        let mut tags: BTreeMap<String, Expr> = props
            .tags
            .iter()
            .map(|(key, value)| (key.clone(), Expr::lit(value)))
            .collect();
        tags.entry("managed-by".into())
            .or_insert_with(|| Expr::lit("infra-synth"));
        let mut doc = Document::default();
        doc.terraform = Settings {
            required_version: REQUIRED_VERSION.into(),
            required_providers: BTreeMap::from([(
                "aws",
                RequiredProvider {
                    source: "hashicorp/aws",
                    version: AWS_PROVIDER_VERSION.into(),
                },
            )]),
            backend: props.s3_backend.then(Backend::s3),
        };
        doc.providers = vec![Provider {
            region: props.region.clone(),
            default_tags: DefaultTags { tags },
            alias: None,
            emulator: props
                .emulator_endpoint
                .as_deref()
                .map(|endpoint| Emulator::at(endpoint, EMULATED_SERVICES)),
        }];
        Stack {
            scope: Scope::root(Tree {
                doc,
                id: id.to_string(),
                region: props.region,
                ..Tree::default()
            }),
        }
    }

    /// A stack output.
    pub fn output(&self, name: &str, description: &'static str, value: Expr) {
        self.with_tree(|tree| {
            tree.doc
                .outputs
                .insert(name.to_string(), Output { description, value })
        });
    }

    /// Records that the resource once at `from` is now at `to` (dropped when the finished
    /// stack has nothing at `to`).
    pub fn moved(&self, from: &str, to: &str) {
        self.with_tree(|tree| {
            tree.doc.moved.push(Moved {
                from: from.into(),
                to: to.into(),
            })
        });
    }

    /// Sets lifecycle options of the resource at `address` (e.g. `ignore_changes` for what an
    /// emulator does not read back); errors when the stack has no such resource.
    pub fn set_lifecycle(
        &self,
        address: &str,
        lifecycle: &Lifecycle,
    ) -> Result<(), UnknownResource> {
        self.with_tree(|tree| tree.doc.set_lifecycle(address, lifecycle))
    }

    /// Completes what constructs left for the end (each role's policy, the union of its
    /// grants; each bucket's policy), runs every check over the finished tree, and hands the
    /// document over.
    pub fn finish(self) -> Assembly {
        loop {
            let finishers = self.with_tree(|tree| std::mem::take(&mut tree.finishers));
            if finishers.is_empty() {
                break;
            }
            for finish in finishers {
                finish();
            }
        }
        let mut tree = self.scope.take_tree();
        let moved = std::mem::take(&mut tree.doc.moved);
        tree.doc.moved = moved
            .into_iter()
            .filter(|m| tree.doc.contains(&m.to))
            .collect();
        let mut problems = std::mem::take(&mut tree.problems);
        problems.extend(checks::run(&tree));
        Assembly {
            doc: tree.doc,
            assets: tree.assets,
            problems,
            sources: tree.sources,
        }
    }
}
