//! Terraform JSON primitives: expressions, typed references and the document builder.
//!
//! Terraform JSON treats every string as a template, so a literal `${` would be evaluated.
//! [`Expr::lit`] escapes literals once, here; references come only from [`Ref`] accessors, so
//! no `"${...}"` string is ever written by hand elsewhere.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// A Terraform string template: escaped literal text and `${...}` interpolations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expr(String);

impl Expr {
    /// Literal text, with `${` and `%{` escaped so Terraform keeps them verbatim.
    pub fn lit(text: impl AsRef<str>) -> Self {
        Expr(text.as_ref().replace("${", "$${").replace("%{", "%%{"))
    }

    /// An interpolation of one Terraform expression, e.g. a function call over traversals.
    pub fn code(expression: impl AsRef<str>) -> Self {
        Expr(format!("${{{}}}", expression.as_ref()))
    }

    /// Concatenation of templates (literal parts must already be `Expr::lit`).
    pub fn concat<'a>(parts: impl IntoIterator<Item = &'a Expr>) -> Self {
        Expr(parts.into_iter().map(|p| p.0.as_str()).collect())
    }

    /// This template followed by literal text.
    pub fn join_lit(&self, suffix: &str) -> Self {
        Expr::concat([self, &Expr::lit(suffix)])
    }

    /// A JSON text whose string values are templates, itself as one template: JSON
    /// punctuation never forms `${` or `%{`, so only the values' interpolations interpolate.
    pub fn json_template(value: &Value) -> Self {
        Expr(value.to_string())
    }

    /// The template exactly as it appears in the JSON.
    pub fn as_template(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
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

/// A Terraform traversal such as `aws_s3_bucket.site.arn` — the inside of `${...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traversal(String);

impl Traversal {
    pub fn expr(&self) -> Expr {
        Expr::code(&self.0)
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Dependency(String);

/// `lifecycle { create_before_destroy = true }`, the one lifecycle rule this stack needs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CreateBeforeDestroy {
    create_before_destroy: bool,
}

pub const CREATE_BEFORE_DESTROY: CreateBeforeDestroy = CreateBeforeDestroy {
    create_before_destroy: true,
};

/// A provider configuration a resource is bound to, e.g. `aws.us_east_1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProviderRef(String);

impl ProviderRef {
    pub fn aws_alias(alias: &str) -> Self {
        ProviderRef(format!("aws.{alias}"))
    }
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

/// One block as it will be written, kept for the manifest and the graph.
#[derive(Debug, Clone)]
pub struct Entry {
    pub address: String,
    pub body: Value,
}

/// The whole Terraform JSON file, ordered by type and name so output is byte-identical.
#[derive(Debug, Default)]
pub struct Document {
    pub terraform: Value,
    pub providers: BTreeMap<String, Vec<Value>>,
    pub variables: BTreeMap<String, Variable>,
    resources: BTreeMap<&'static str, BTreeMap<String, Value>>,
    data: BTreeMap<&'static str, BTreeMap<String, Value>>,
    pub outputs: BTreeMap<String, Output>,
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
        let body = serde_json::to_value(&block)?;
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
        if slot.insert(name.to_string(), body).is_some() {
            return Err(DuplicateAddress(handle.address()).into());
        }
        Ok(handle)
    }

    /// Tells Terraform to ignore drift in `attributes` of the resource at `address`
    /// (`lifecycle.ignore_changes`); errors when the stack has no such resource.
    pub fn ignore_changes(
        &mut self,
        address: &str,
        attributes: &[String],
    ) -> Result<(), UnknownResource> {
        let body = address
            .split_once('.')
            .and_then(|(kind, name)| self.resources.get_mut(kind)?.get_mut(name))
            .ok_or_else(|| UnknownResource(address.to_string()))?;
        body["lifecycle"]["ignore_changes"] = serde_json::json!(attributes);
        Ok(())
    }

    /// The body of an added block, for hashing part of the model (e.g. API redeploy triggers).
    pub fn body<T: Block>(&self, handle: &Ref<T>) -> Option<&Value> {
        let table = if T::DATA { &self.data } else { &self.resources };
        table.get(T::TYPE).and_then(|t| t.get(&handle.name))
    }

    /// Every resource and data source with its address, in output order.
    pub fn entries(&self) -> Vec<Entry> {
        let data = self.data.iter().flat_map(|(kind, blocks)| {
            blocks.iter().map(move |(name, body)| Entry {
                address: format!("data.{kind}.{name}"),
                body: body.clone(),
            })
        });
        let resources = self.resources.iter().flat_map(|(kind, blocks)| {
            blocks.iter().map(move |(name, body)| Entry {
                address: format!("{kind}.{name}"),
                body: body.clone(),
            })
        });
        data.chain(resources).collect()
    }

    /// The JSON document, with a `"//"` banner marking it generated.
    pub fn to_json(&self, banner: &str) -> Result<Value, serde_json::Error> {
        let mut root = serde_json::Map::new();
        root.insert("//".into(), Value::String(banner.to_string()));
        root.insert("terraform".into(), self.terraform.clone());
        root.insert("provider".into(), serde_json::to_value(&self.providers)?);
        root.insert("variable".into(), serde_json::to_value(&self.variables)?);
        root.insert("data".into(), serde_json::to_value(&self.data)?);
        root.insert("resource".into(), serde_json::to_value(&self.resources)?);
        root.insert("output".into(), serde_json::to_value(&self.outputs)?);
        Ok(Value::Object(root))
    }
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
