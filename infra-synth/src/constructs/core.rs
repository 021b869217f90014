//! The construct tree: a [`super::Stack`] at the root, [`Scope`]s with ids below it, and the
//! facts constructs record for the checks that run over the finished tree.
//!
//! A construct's Terraform address and AWS names derive from its path, so two instances under
//! different ids never collide: `site` under `dr` is `aws_s3_bucket.dr_site`, named
//! `cloudforgex-prod-dr-site`. [`Id::at_address`] pins an address that is already deployed
//! (renaming one needs a `moved` block instead: [`super::Stack::moved`]).

use std::cell::RefCell;
use std::rc::Rc;

use crate::tf::{Block, Document, Expr, Lifecycle, ProviderRef, Ref, Variable};

/// One problem, at the construct it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Construct path, e.g. `cloudforgex-prod/eve`.
    pub path: String,
    /// Which check found it.
    pub check: &'static str,
    pub message: String,
}

impl Problem {
    pub(crate) fn building(path: &str, error: impl std::fmt::Display) -> Problem {
        Problem {
            path: path.to_string(),
            check: "building",
            message: error.to_string(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.message, self.check)
    }
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

/// One statement of an identity policy as written, for the checks.
#[derive(Debug, Clone)]
pub(crate) struct GrantedStatement {
    pub path: String,
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
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

/// A resource attribute whose value comes from one key of the stack file, so that `drift` can
/// say which key to look at when the deployed value moved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttributeSource {
    pub address: String,
    pub attribute: String,
    /// The stack file key, dotted (`lambda.memory_mb`).
    pub key: String,
}

/// Work a construct leaves for when the tree is complete (e.g. a policy that is the union of
/// grants made after the construct was created).
pub(crate) type Finisher = Box<dyn FnOnce()>;

#[derive(Default)]
pub(crate) struct Tree {
    pub doc: Document,
    pub id: String,
    pub region: String,
    pub identity_statements: Vec<GrantedStatement>,
    pub stores: Vec<Store>,
    pub region_bound: Vec<RegionBound>,
    pub assets: Vec<CodeAsset>,
    /// (role path, statement sid) of statements that must name every object of a bucket
    /// (replication), which the wildcard check accepts.
    pub whole_bucket_grants: Vec<(String, String)>,
    /// Problems met while building (e.g. two constructs with one address).
    pub problems: Vec<Problem>,
    pub finishers: Vec<Finisher>,
    pub sources: Vec<AttributeSource>,
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

    /// Records that the stack file's `key` sets `attribute` of `handle`.
    pub(crate) fn record_source<T: Block>(&self, handle: &Ref<T>, attribute: &str, key: &str) {
        self.with_tree(|tree| {
            tree.sources.push(AttributeSource {
                address: handle.address(),
                attribute: attribute.to_owned(),
                key: key.to_owned(),
            })
        });
    }

    /// Declares a variable of the stack and returns a reference to it.
    pub fn variable(&self, name: &str, variable: Variable) -> Expr {
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

    /// Runs `finish` when the stack is finished, before the checks.
    pub(crate) fn when_finished(&self, finish: impl FnOnce() + 'static) {
        self.with_tree(|tree| tree.finishers.push(Box::new(finish)));
    }

    /// The root scope of a new tree (see [`super::Stack::new`]).
    pub(crate) fn root(tree: Tree) -> Scope {
        let region = tree.region.clone();
        Scope {
            stack_id: tree.id.as_str().into(),
            tree: Rc::new(RefCell::new(tree)),
            path: Vec::new(),
            address: None,
            provider: None,
            region,
        }
    }

    /// The whole tree, for the stack to take apart when finished.
    pub(crate) fn take_tree(&self) -> Tree {
        std::mem::take(&mut *self.tree.borrow_mut())
    }
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
