//! Terraform JSON primitives: expressions, typed references and the document builder.
//!
//! Terraform JSON treats every string as a template, so a literal `${` would be evaluated.
//! [`Expr::lit`] escapes literals once, here; references come only from [`Ref`] accessors, so
//! no `"${...}"` string is ever written by hand elsewhere. Every expression also carries the
//! addresses it refers to, so the dependency graph comes from the typed references themselves.

mod provider;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use serde::{Serialize, Serializer};
use serde_json::Value;

pub use provider::{Backend, DefaultTags, Emulator, Provider, RequiredProvider, Settings};

/// A Terraform string template: escaped literal text and `${...}` interpolations, with the
/// addresses of the blocks it refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expr {
    template: String,
    refs: Vec<String>,
}

impl Expr {
    /// Literal text, with `${` and `%{` escaped so Terraform keeps them verbatim.
    pub fn lit(text: impl AsRef<str>) -> Self {
        Expr {
            template: text.as_ref().replace("${", "$${").replace("%{", "%%{"),
            refs: Vec::new(),
        }
    }

    /// An interpolation of one Terraform expression that refers to no block (e.g. `each.value`).
    pub fn code(expression: impl AsRef<str>) -> Self {
        Expr {
            template: format!("${{{}}}", expression.as_ref()),
            refs: Vec::new(),
        }
    }

    /// An interpolation of an expression over the blocks `over` (e.g. a `for` over a
    /// resource's attribute); `over` is what the expression refers to.
    pub fn code_over<T: Block>(expression: impl AsRef<str>, over: &Ref<T>) -> Self {
        Expr {
            template: format!("${{{}}}", expression.as_ref()),
            refs: vec![over.address()],
        }
    }

    /// Concatenation of templates (literal parts must already be `Expr::lit`).
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a Expr>) -> Self {
        let mut out = Expr::lit("");
        for part in parts {
            out.template.push_str(&part.template);
            out.refs.extend(part.refs.iter().cloned());
        }
        out
    }

    /// This template followed by literal text.
    pub fn join_lit(&self, suffix: &str) -> Self {
        Expr::concat([self, &Expr::lit(suffix)])
    }

    /// A JSON text whose string values are the templates of `parts`, itself as one template:
    /// JSON punctuation never forms `${` or `%{`, so only the values' interpolations
    /// interpolate. `parts` are the expressions the JSON was built from (for their references).
    pub fn json_template<'a>(value: &Value, parts: impl IntoIterator<Item = &'a Expr>) -> Self {
        Expr {
            template: value.to_string(),
            refs: parts
                .into_iter()
                .flat_map(|p| p.refs.iter().cloned())
                .collect(),
        }
    }

    /// The template exactly as it appears in the JSON.
    pub fn as_template(&self) -> &str {
        &self.template
    }

    /// The addresses of the blocks this expression refers to.
    pub fn references(&self) -> &[String] {
        &self.refs
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

thread_local! {
    /// The references met while one block is serialized ([`Document::add`]).
    static MET: RefCell<Option<BTreeSet<String>>> = const { RefCell::new(None) };
}

fn note_references<'a>(addresses: impl IntoIterator<Item = &'a String>) {
    MET.with(|met| {
        if let Some(met) = met.borrow_mut().as_mut() {
            met.extend(addresses.into_iter().cloned());
        }
    });
}

/// Serializes `block` and returns the addresses its expressions and dependencies refer to.
fn serialize_with_references<T: Serialize>(
    block: &T,
) -> Result<(Value, BTreeSet<String>), serde_json::Error> {
    MET.with(|met| *met.borrow_mut() = Some(BTreeSet::new()));
    let body = serde_json::to_value(block);
    let met = MET.with(|met| met.borrow_mut().take()).unwrap_or_default();
    Ok((body?, met))
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        note_references(&self.refs);
        s.serialize_str(&self.template)
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Self {
        Expr::lit(text)
    }
}

impl From<String> for Expr {
    fn from(text: String) -> Self {
        Expr::lit(text)
    }
}

/// An argument that takes a literal or, where Terraform allows, an expression: a variable or
/// another block's attribute can feed `memory_size` as well as a number can.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    Lit(T),
    Expr(Expr),
}

impl<T> From<T> for Field<T> {
    fn from(value: T) -> Self {
        Field::Lit(value)
    }
}

impl<T> Field<T> {
    /// An expression in place of a literal.
    pub fn expr(expr: Expr) -> Self {
        Field::Expr(expr)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Lit(value) => value.serialize(s),
            Field::Expr(expr) => expr.serialize(s),
        }
    }
}

/// A Terraform traversal such as `aws_s3_bucket.site.arn` — the inside of `${...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traversal(String);

impl Traversal {
    pub fn expr(&self) -> Expr {
        let address = self
            .0
            .split('.')
            .take(if self.0.starts_with("data.") { 3 } else { 2 });
        Expr {
            template: format!("${{{}}}", self.0),
            refs: vec![address.collect::<Vec<_>>().join(".")],
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Traversal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource or data source kind: its Terraform type and whether it is a data source.
pub trait Block: Serialize {
    /// Terraform type, e.g. `aws_s3_bucket`.
    const TYPE: &'static str;
    /// Data sources are addressed as `data.<type>.<name>`.
    const DATA: bool = false;
}

/// A typed handle to a resource in a [`Document`]; service modules add accessors per type.
#[derive(Debug)]
pub struct Ref<T> {
    name: String,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref {
            name: self.name.clone(),
            kind: PhantomData,
        }
    }
}

impl<T> Ref<T> {
    /// The handle of the block `name` of this type (whether or not it was added yet).
    pub(crate) fn named(name: &str) -> Self {
        Ref {
            name: name.to_string(),
            kind: PhantomData,
        }
    }
}

impl<T: Block> Ref<T> {
    /// The address, e.g. `aws_s3_bucket.site` or `data.aws_region.current`.
    pub fn address(&self) -> String {
        if T::DATA {
            format!("data.{}.{}", T::TYPE, self.name)
        } else {
            format!("{}.{}", T::TYPE, self.name)
        }
    }

    /// An attribute traversal; service modules wrap this in named accessors.
    pub fn traverse(&self, attribute: &str) -> Traversal {
        Traversal(format!("{}.{attribute}", self.address()))
    }

    pub fn attr(&self, attribute: &str) -> Expr {
        self.traverse(attribute).expr()
    }

    pub fn id(&self) -> Expr {
        self.attr("id")
    }

    pub fn arn(&self) -> Expr {
        self.attr("arn")
    }

    /// For `depends_on`, which takes bare addresses.
    pub fn dependency(&self) -> Dependency {
        Dependency(self.address())
    }
}

/// An entry of `depends_on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency(String);

impl Dependency {
    /// A dependency on a block known by address before it is added (e.g. a role's policy,
    /// written when the tree is finished).
    pub(crate) fn on_address(address: String) -> Self {
        Dependency(address)
    }
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        note_references([&self.0]);
        s.serialize_str(&self.0)
    }
}

/// The `lifecycle` meta-argument, available on every resource ([`Document::set_lifecycle`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prevent_destroy: bool,
    /// Attribute paths whose drift Terraform ignores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_changes: Vec<String>,
}

impl Lifecycle {
    /// Replace by creating the new object first (names that must never be missing).
    pub fn create_before_destroy() -> Self {
        Lifecycle {
            create_before_destroy: true,
            ..Lifecycle::default()
        }
    }
}

/// A provider configuration a resource is bound to, e.g. `aws.us_east_1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProviderRef(String);

impl ProviderRef {
    pub fn aws_alias(alias: &str) -> Self {
        ProviderRef(format!("aws.{alias}"))
    }

    /// The alias, or `None` for the default `aws` provider.
    pub fn alias(&self) -> Option<&str> {
        self.0.strip_prefix("aws.")
    }
}

/// A `moved` block: the resource once at `from` is now at `to`, so Terraform renames it in
/// state instead of replacing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

/// A typed Terraform output.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub description: &'static str,
    pub value: Expr,
}

/// A Terraform input variable of type string.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'static str,
    pub default: Option<String>,
}

impl Variable {
    /// A reference to this variable by name.
    pub fn reference(name: &str) -> Expr {
        Expr::code(format!("var.{name}"))
    }
}

/// One block as it will be written, for the checks, the manifest, pricing and the graph:
/// borrowed from the document, which every one of them reads and none changes.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub address: String,
    pub body: &'a Value,
    /// Addresses of the blocks this one refers to (typed references and `depends_on`).
    pub references: &'a BTreeSet<String>,
}

/// A block's body and what it refers to.
#[derive(Debug, Clone)]
struct Stored {
    body: Value,
    references: BTreeSet<String>,
}

/// The whole Terraform JSON file, ordered by type and name so output is byte-identical.
#[derive(Debug, Default)]
pub struct Document {
    pub terraform: Settings,
    pub providers: Vec<Provider>,
    pub variables: BTreeMap<String, Variable>,
    resources: BTreeMap<&'static str, BTreeMap<String, Stored>>,
    data: BTreeMap<&'static str, BTreeMap<String, Stored>>,
    pub outputs: BTreeMap<String, Output>,
    pub moved: Vec<Moved>,
}

/// Error when the model itself is inconsistent (a bug or a config the checks let through).
#[derive(Debug)]
pub struct DuplicateAddress(pub String);

impl fmt::Display for DuplicateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "two blocks share the address `{}`", self.0)
    }
}

impl std::error::Error for DuplicateAddress {}

/// Error when config names a resource the stack does not have.
#[derive(Debug)]
pub struct UnknownResource(pub String);

impl fmt::Display for UnknownResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the stack has no resource `{}`", self.0)
    }
}

impl std::error::Error for UnknownResource {}

impl Document {
    /// Adds a resource or data source under `name` and returns its typed handle.
    pub fn add<T: Block>(&mut self, name: &str, block: T) -> Result<Ref<T>, anyhow::Error> {
        self.add_bound(name, block, None)
    }

    /// Adds a block bound to a provider configuration (`None`: the default provider).
    pub fn add_bound<T: Block>(
        &mut self,
        name: &str,
        block: T,
        provider: Option<&ProviderRef>,
    ) -> Result<Ref<T>, anyhow::Error> {
        let (mut body, references) = serialize_with_references(&block)?;
        if let (Some(provider), Value::Object(fields)) = (provider, &mut body) {
            fields.insert("provider".into(), serde_json::to_value(provider)?);
        }
        let table = if T::DATA {
            &mut self.data
        } else {
            &mut self.resources
        };
        let slot = table.entry(T::TYPE).or_default();
        let handle = Ref {
            name: name.to_string(),
            kind: PhantomData,
        };
        if slot
            .insert(name.to_string(), Stored { body, references })
            .is_some()
        {
            return Err(DuplicateAddress(handle.address()).into());
        }
        Ok(handle)
    }

    fn resource_mut(&mut self, address: &str) -> Option<&mut Stored> {
        let (kind, name) = address.split_once('.')?;
        self.resources.get_mut(kind)?.get_mut(name)
    }

    /// Sets the `lifecycle` of the resource at `address`, merging `ignore_changes` with what
    /// is already there; errors when the stack has no such resource.
    pub fn set_lifecycle(
        &mut self,
        address: &str,
        lifecycle: &Lifecycle,
    ) -> Result<(), UnknownResource> {
        let stored = self
            .resource_mut(address)
            .ok_or_else(|| UnknownResource(address.to_string()))?;
        let current = stored
            .body
            .get("lifecycle")
            .cloned()
            .and_then(|v| serde_json::from_value::<LifecycleRead>(v).ok())
            .unwrap_or_default();
        let merged = Lifecycle {
            create_before_destroy: lifecycle.create_before_destroy || current.create_before_destroy,
            prevent_destroy: lifecycle.prevent_destroy || current.prevent_destroy,
            ignore_changes: current
                .ignore_changes
                .into_iter()
                .chain(lifecycle.ignore_changes.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        if let Value::Object(fields) = &mut stored.body {
            fields.insert(
                "lifecycle".into(),
                serde_json::to_value(&merged).unwrap_or(Value::Null),
            );
        }
        Ok(())
    }

    /// Whether a resource or data source exists at `address`.
    pub fn contains(&self, address: &str) -> bool {
        let (table, rest) = match address.strip_prefix("data.") {
            Some(rest) => (&self.data, rest),
            None => (&self.resources, address),
        };
        rest.split_once('.')
            .is_some_and(|(kind, name)| table.get(kind).is_some_and(|t| t.contains_key(name)))
    }

    /// The body of an added block, for hashing part of the model (e.g. API redeploy triggers).
    pub fn body<T: Block>(&self, handle: &Ref<T>) -> Option<&Value> {
        let table = if T::DATA { &self.data } else { &self.resources };
        table
            .get(T::TYPE)
            .and_then(|t| t.get(&handle.name))
            .map(|stored| &stored.body)
    }

    /// Every resource and data source with its address, in output order.
    pub fn entries(&self) -> Vec<Entry<'_>> {
        let data = self.data.iter().map(|table| ("data.", table));
        let resources = self.resources.iter().map(|table| ("", table));
        data.chain(resources)
            .flat_map(|(prefix, (kind, blocks))| {
                blocks.iter().map(move |(name, stored)| Entry {
                    address: format!("{prefix}{kind}.{name}"),
                    body: &stored.body,
                    references: &stored.references,
                })
            })
            .collect()
    }

    /// The JSON document as written, with a `"//"` banner marking it generated: borrowed, so
    /// writing it copies no block.
    pub fn written<'a>(&'a self, banner: &'a str) -> impl Serialize + 'a {
        Written {
            banner,
            terraform: &self.terraform,
            provider: Providers {
                aws: &self.providers,
            },
            variable: &self.variables,
            data: Blocks(&self.data),
            resource: Blocks(&self.resources),
            output: &self.outputs,
            moved: &self.moved,
        }
    }

    /// The JSON document as a value, for tests that look inside it.
    #[cfg(test)]
    pub fn to_json(&self, banner: &str) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self.written(banner))
    }
}

/// The top level of the document, in the order Terraform users expect to read it.
#[derive(Serialize)]
struct Written<'a> {
    #[serde(rename = "//")]
    banner: &'a str,
    terraform: &'a Settings,
    provider: Providers<'a>,
    variable: &'a BTreeMap<String, Variable>,
    data: Blocks<'a>,
    resource: Blocks<'a>,
    output: &'a BTreeMap<String, Output>,
    #[serde(skip_serializing_if = "<[Moved]>::is_empty")]
    moved: &'a [Moved],
}

#[derive(Serialize)]
struct Providers<'a> {
    aws: &'a [Provider],
}

/// Blocks by type, then name: each block's body.
struct Blocks<'a>(&'a BTreeMap<&'static str, BTreeMap<String, Stored>>);

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(kind, blocks)| (kind, Bodies(blocks))))
    }
}

struct Bodies<'a>(&'a BTreeMap<String, Stored>);

impl Serialize for Bodies<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, stored)| (name, &stored.body)))
    }
}

/// A `lifecycle` as already written into a body, for merging.
#[derive(Debug, Default, serde::Deserialize)]
struct LifecycleRead {
    #[serde(default)]
    create_before_destroy: bool,
    #[serde(default)]
    prevent_destroy: bool,
    #[serde(default)]
    ignore_changes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize)]
    struct Thing {
        value: Expr,
    }

    impl Block for Thing {
        const TYPE: &'static str = "aws_thing";
    }

    #[derive(Serialize)]
    struct Lookup {}

    impl Block for Lookup {
        const TYPE: &'static str = "aws_lookup";
        const DATA: bool = true;
    }

    #[test]
    fn literals_are_escaped_and_references_interpolate() {
        assert_eq!(Expr::lit("a ${b} %{c}").as_template(), "a $${b} %%{c}");
        let mut doc = Document::default();
        let thing = doc.add("one", Thing { value: "x".into() }).expect("add");
        assert_eq!(thing.arn().as_template(), "${aws_thing.one.arn}");
        let joined = thing.arn().join_lit("/${literal}");
        assert_eq!(joined.as_template(), "${aws_thing.one.arn}/$${literal}");
        assert_eq!(joined.references(), ["aws_thing.one"]);
        let lookup = doc.add("current", Lookup {}).expect("add");
        assert_eq!(lookup.address(), "data.aws_lookup.current");
    }

    #[test]
    fn duplicate_addresses_are_rejected() {
        let mut doc = Document::default();
        doc.add("one", Thing { value: "x".into() }).expect("first");
        let err = doc
            .add("one", Thing { value: "y".into() })
            .expect_err("dup");
        assert!(err.to_string().contains("aws_thing.one"), "{err}");
    }

    #[test]
    fn references_are_recorded_from_typed_handles() {
        let mut doc = Document::default();
        let one = doc.add("one", Thing { value: "x".into() }).expect("add");
        let lookup = doc.add("current", Lookup {}).expect("add");
        doc.add(
            "two",
            Thing {
                value: Expr::concat([&one.arn(), &Expr::lit("/${x}"), &lookup.id()]),
            },
        )
        .expect("add");
        let two = doc
            .entries()
            .into_iter()
            .find(|e| e.address == "aws_thing.two")
            .expect("two");
        let refs: Vec<&str> = two.references.iter().map(String::as_str).collect();
        assert_eq!(refs, ["aws_thing.one", "data.aws_lookup.current"]);
    }

    #[test]
    fn a_field_is_a_literal_or_an_expression() {
        #[derive(Serialize)]
        struct Sized {
            memory_size: Field<u32>,
        }
        let lit = serde_json::to_value(Sized {
            memory_size: 512.into(),
        })
        .expect("json");
        assert_eq!(lit["memory_size"], 512);
        let var = Sized {
            memory_size: Field::expr(Variable::reference("memory")),
        };
        assert_eq!(
            serde_json::to_value(var).expect("json")["memory_size"],
            "${var.memory}"
        );
    }

    #[test]
    fn lifecycle_merges_ignore_changes() {
        let mut doc = Document::default();
        doc.add("one", Thing { value: "x".into() }).expect("add");
        let ignore = |path: &str| Lifecycle {
            ignore_changes: vec![path.into()],
            ..Lifecycle::default()
        };
        doc.set_lifecycle("aws_thing.one", &Lifecycle::create_before_destroy())
            .expect("known");
        doc.set_lifecycle("aws_thing.one", &ignore("b"))
            .expect("known");
        doc.set_lifecycle("aws_thing.one", &ignore("a"))
            .expect("known");
        let json = doc.to_json("t").expect("json");
        let lifecycle = &json["resource"]["aws_thing"]["one"]["lifecycle"];
        assert_eq!(lifecycle["create_before_destroy"], true);
        assert_eq!(lifecycle["ignore_changes"], serde_json::json!(["a", "b"]));
        assert!(doc.set_lifecycle("aws_thing.two", &ignore("a")).is_err());
    }

    #[test]
    fn output_is_ordered_by_type_then_name() {
        let mut doc = Document::default();
        doc.add("b", Thing { value: "1".into() }).expect("add");
        doc.add("a", Thing { value: "2".into() }).expect("add");
        let names: Vec<_> = doc.entries().into_iter().map(|e| e.address).collect();
        assert_eq!(names, ["aws_thing.a", "aws_thing.b"]);
        let json = doc.to_json("generated").expect("json");
        assert_eq!(json["//"], "generated");
    }
}
