//! The construct tree: a [`Stack`] at the root, [`Scope`]s with ids below it, and the facts
//! constructs record for the checks that run over the finished tree.
//!
//! A construct's Terraform address and AWS names derive from its path, so two instances under
//! different ids never collide: `site` under `dr` is `aws_s3_bucket.dr_site`, named
//! `cloudforgex-prod-dr-site`. [`Scope::with_address`] pins an address that is already
//! deployed (renaming one needs a `moved` block instead: [`Stack::moved`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::rc::Rc;

use super::checks::{self, Problem};
use super::iam::{CallerIdentity, PolicyDocument, RolePolicy, Statement};
use crate::tf::{
    Backend, Block, DefaultTags, Dependency, Document, Emulator, Expr, Lifecycle, Moved, Output,
    Provider, ProviderRef, Ref, RequiredProvider, Settings, UnknownResource, Variable,
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

/// A Lambda code package the deploy step must build and upload before `plan`: the
/// variables the function reads it from, which `plan` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeAsset {
    /// Path of the function construct that runs it.
    pub function: String,
    /// The binary and crate it is built from.
    pub binary: &'static str,
    pub package: &'static str,
    pub architecture: crate::config::Architecture,
    pub bucket_variable: String,
    pub key_variable: String,
    pub sha256_variable: String,
}

/// An IAM role and the statements granted to it, written as its inline policy at the end.
#[derive(Debug, Clone)]
pub(crate) struct RoleGrants {
    pub path: String,
    pub address: String,
    pub role: Ref<super::iam::RoleBlock>,
    pub policy_name: String,
    pub statements: Vec<Statement>,
}

/// A bucket's policy, written once from every statement added to it.
#[derive(Debug, Clone)]
pub(crate) struct ResourcePolicy {
    pub bucket: Ref<super::s3::BucketBlock>,
    pub statements: Vec<Statement>,
    pub tls_only: bool,
}

/// What a check needs to know about a data store.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub path: String,
    pub address: String,
    pub encrypted: bool,
}

/// A resource AWS only accepts in one region (CloudFront's certificate, its WAF).
#[derive(Debug, Clone)]
pub(crate) struct RegionBound {
    pub path: String,
    pub address: String,
    pub what: &'static str,
    pub required: &'static str,
    pub actual: String,
}

#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub doc: Document,
    pub id: String,
    pub region: String,
    pub roles: BTreeMap<String, RoleGrants>,
    pub bucket_policies: BTreeMap<String, ResourcePolicy>,
    pub stores: Vec<Store>,
    pub region_bound: Vec<RegionBound>,
    pub assets: Vec<CodeAsset>,
    /// Problems met while building (e.g. two constructs with one address).
    pub problems: Vec<Problem>,
    finished: bool,
}

/// A construct's id under its scope, optionally pinned to a Terraform name that is already
/// deployed: `Id::from("api").at_address("eve")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    id: String,
    address: Option<String>,
}

impl Id {
    pub fn at_address(mut self, name: &str) -> Id {
        self.address = Some(name.to_string());
        self
    }
}

impl From<&str> for Id {
    fn from(id: &str) -> Id {
        Id {
            id: id.to_string(),
            address: None,
        }
    }
}

impl From<String> for Id {
    fn from(id: String) -> Id {
        Id { id, address: None }
    }
}

/// A place in the tree: constructs are created under a scope with an id.
#[derive(Clone)]
pub struct Scope {
    tree: Rc<RefCell<Tree>>,
    /// The stack's id (kept here so names never need the tree borrowed).
    stack_id: Rc<str>,
    /// Ids below the stack.
    path: Vec<String>,
    address: Option<String>,
    provider: Option<ProviderRef>,
    region: String,
}

impl Scope {
    /// The scope of a construct `id` under this one.
    pub fn child(&self, id: impl Into<Id>) -> Scope {
        let id = id.into();
        let mut path = self.path.clone();
        path.push(id.id);
        let address = id.address.or_else(|| {
            self.address
                .as_ref()
                .map(|parent| format!("{parent}_{}", path.last().map_or("", String::as_str)))
        });
        Scope {
            tree: self.tree.clone(),
            stack_id: self.stack_id.clone(),
            path,
            address: address.map(|a| a.replace('-', "_")),
            provider: self.provider.clone(),
            region: self.region.clone(),
        }
    }

    /// Pins this scope's Terraform name (a deployed address kept through a redesign).
    pub fn with_address(mut self, name: &str) -> Scope {
        self.address = Some(name.to_string());
        self
    }

    /// This scope in another region: its constructs use an aliased provider for it.
    pub fn in_region(&self, region: &str) -> Scope {
        let mut scope = self.clone();
        let mut tree = self.tree.borrow_mut();
        if region == tree.region {
            scope.provider = None;
        } else {
            let alias = region.replace('-', "_");
            if !tree
                .doc
                .providers
                .iter()
                .any(|p| p.alias.as_deref() == Some(&alias))
            {
                let mut provider = tree.doc.providers[0].clone();
                provider.region = region.to_string();
                provider.alias = Some(alias.clone());
                tree.doc.providers.push(provider);
            }
            scope.provider = Some(ProviderRef::aws_alias(&alias));
        }
        scope.region = region.to_string();
        scope
    }

    /// This scope with the stack's own provider (for global services such as Route 53).
    pub fn in_default_region(&self) -> Scope {
        let region = self.tree.borrow().region.clone();
        self.in_region(&region)
    }

    /// `stack/dr/site`.
    pub fn path(&self) -> String {
        std::iter::once(&*self.stack_id)
            .chain(self.path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The Terraform name of this scope's blocks: the path below the stack, `_`-joined.
    pub fn address_name(&self) -> String {
        match &self.address {
            Some(name) => name.clone(),
            None if self.path.is_empty() => "stack".to_string(),
            None => self.path.join("_").replace('-', "_"),
        }
    }

    /// An AWS name unique to this scope: the stack id and the path, `-`-joined.
    pub fn physical_name(&self) -> String {
        std::iter::once(&*self.stack_id)
            .chain(self.path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The region this scope's constructs are created in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account the stack deploys to (one `aws_caller_identity` lookup per stack).
    pub fn account_id(&self) -> Expr {
        let identity = Ref::<CallerIdentity>::named("current");
        let mut tree = self.tree.borrow_mut();
        if !tree.doc.contains(&identity.address()) {
            if let Err(error) = tree.doc.add("current", CallerIdentity {}) {
                tree.problems.push(Problem::building(&self.path(), error));
            }
        }
        identity.account_id()
    }

    /// Adds `block` at this scope's address.
    pub(crate) fn add<T: Block>(&self, block: T) -> Ref<T> {
        self.add_named(&self.address_name(), block)
    }

    /// Adds `block` at this scope's address plus `_suffix`.
    pub(crate) fn add_suffixed<T: Block>(&self, suffix: &str, block: T) -> Ref<T> {
        self.add_named(&format!("{}_{suffix}", self.address_name()), block)
    }

    /// Adds `block` under an explicit Terraform name.
    pub(crate) fn add_named<T: Block>(&self, name: &str, block: T) -> Ref<T> {
        let path = self.path();
        let mut tree = self.tree.borrow_mut();
        match tree.doc.add_bound(name, block, self.provider.as_ref()) {
            Ok(handle) => handle,
            Err(error) => {
                tree.problems.push(Problem::building(&path, error));
                Ref::named(name)
            }
        }
    }

    /// The body of a block as added, e.g. to hash a definition.
    pub(crate) fn body_of<T: Block>(&self, handle: &Ref<T>) -> Option<serde_json::Value> {
        self.tree.borrow().doc.body(handle).cloned()
    }

    pub(crate) fn set_lifecycle<T: Block>(&self, handle: &Ref<T>, lifecycle: &Lifecycle) {
        let path = self.path();
        let mut tree = self.tree.borrow_mut();
        if let Err(error) = tree.doc.set_lifecycle(&handle.address(), lifecycle) {
            tree.problems.push(Problem::building(&path, error));
        }
    }

    /// Declares a string variable and returns a reference to it.
    pub(crate) fn variable(&self, name: &str, variable: Variable) -> Expr {
        self.tree
            .borrow_mut()
            .doc
            .variables
            .insert(name.to_string(), variable);
        Variable::reference(name)
    }

    pub(crate) fn with_tree<R>(&self, f: impl FnOnce(&mut Tree) -> R) -> R {
        f(&mut self.tree.borrow_mut())
    }
}

/// The root of a construct tree: one Terraform root module.
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
        let provider = Provider {
            region: props.region.clone(),
            default_tags: DefaultTags { tags },
            alias: None,
            emulator: props
                .emulator_endpoint
                .as_deref()
                .map(|endpoint| Emulator::at(endpoint, EMULATED_SERVICES)),
        };
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
        doc.providers = vec![provider];
        let tree = Tree {
            doc,
            id: id.to_string(),
            region: props.region.clone(),
            ..Tree::default()
        };
        Stack {
            scope: Scope {
                tree: Rc::new(RefCell::new(tree)),
                stack_id: id.into(),
                path: Vec::new(),
                address: None,
                provider: None,
                region: props.region,
            },
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

    /// Records that the resource once at `from` is now at `to`.
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

    /// Writes what the constructs left for the end (each role's policy, the union of its
    /// grants), runs every check over the finished tree, and hands the document over.
    pub fn finish(self) -> Assembly {
        self.write_policies();
        let mut tree = self.scope.tree.borrow_mut();
        let doc = &mut tree.doc;
        let moved = std::mem::take(&mut doc.moved);
        doc.moved = moved.into_iter().filter(|m| doc.contains(&m.to)).collect();
        let mut problems = std::mem::take(&mut tree.problems);
        problems.extend(checks::run(&tree));
        Assembly {
            doc: std::mem::take(&mut tree.doc),
            assets: std::mem::take(&mut tree.assets),
            problems,
        }
    }

    fn write_policies(&self) {
        let (roles, buckets) = self.with_tree(|tree| {
            if tree.finished {
                return (Vec::new(), Vec::new());
            }
            tree.finished = true;
            (
                tree.roles.values().cloned().collect::<Vec<_>>(),
                std::mem::take(&mut tree.bucket_policies)
                    .into_iter()
                    .collect::<Vec<_>>(),
            )
        });
        for (address, policy) in buckets {
            super::s3::write_policy(&self.scope.clone().with_address(&address), policy);
        }
        for grants in roles {
            if grants.statements.is_empty() {
                continue;
            }
            let scope = self.scope.clone().with_address(&grants.address);
            let mut statement: Vec<Statement> = Vec::new();
            for granted in grants.statements {
                // Grants of the same actions on one construct (e.g. two stores under one key)
                // are one statement over the union of their resources.
                match statement.iter_mut().find(|s| s.sid == granted.sid) {
                    Some(existing) => {
                        for resource in granted.resources {
                            if !existing.resources.contains(&resource) {
                                existing.resources.push(resource);
                            }
                        }
                    }
                    None => statement.push(granted),
                }
            }
            let document = scope.add_suffixed("policy", PolicyDocument { statement });
            scope.add(RolePolicy {
                name: grants.policy_name.clone(),
                role: grants.role.id(),
                policy: document.json(),
            });
        }
    }
}

/// Something permissions can be granted to (a role, or a construct that runs as one).
pub trait Grantee {
    /// The role that receives the statements.
    fn grant_role(&self) -> &super::iam::Role;
}

/// The dependency on a role's inline policy, which is written when the stack is finished.
pub(crate) fn role_policy_dependency(role_address: &str) -> Dependency {
    Dependency::on_address(format!("{}.{role_address}", RolePolicy::TYPE))
}

/// A statement id naming the construct a grant is on: `certificates` → `Certificates`,
/// `dr/site` → `DrSite`.
pub(crate) fn statement_id(scope: &Scope) -> String {
    scope
        .address_name()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}
