//! infra-synth: a library of typed AWS constructs that synthesizes Terraform JSON, and the
//! CLI that validates, synthesizes, plans and applies the CloudForgeX stack built from it.
//!
//! # The model in a page
//!
//! - **Scope.** A [`constructs::Stack`] is the root of a tree; every construct is created
//!   under a [`constructs::Scope`] with an id. Terraform addresses and AWS names derive from the
//!   path, so two instances under different ids never collide: a bucket `site` under a scope
//!   `dr` is `aws_s3_bucket.dr_site`, named `<stack>-dr-site`. `scope.in_region("us-east-1")`
//!   places constructs under an aliased provider for that region; [`constructs::Id::at_address`]
//!   pins a deployed address, and `stack.moved(from, to)` renames one without replacing it.
//! - **Props.** Each construct takes a plain props struct with secure defaults
//!   (`..Default::default()`): encryption, public access blocked, TLS-only, log retention,
//!   tracing, point-in-time recovery, deletion protection.
//! - **Handles.** `::new` returns a cheap handle whose accessors are typed references
//!   (`bucket.arn()`, `function.invoke_arn()`, `table.name()`): [`tf::Expr`] values that carry
//!   the addresses they refer to. No `"${...}"` string is written outside [`tf`].
//! - **Grants.** Permissions live on the resource: `table.grant_read_write(&function)`,
//!   `bucket.grant_read(&function, &keys)`, `parameters.grant_read(&function)`,
//!   `queue.grant_send(&function)`. A role's policy is the union of what was granted to it,
//!   every resource an exact ARN, written once when the stack is finished.
//! - **Checks.** `stack.finish()` runs [`constructs::checks`] over the finished tree: no
//!   wildcard IAM action or resource, encryption at rest on every store, tags through every
//!   provider, CloudFront's certificate in us-east-1, every derived name within the length AWS
//!   takes. `validate` reports them; `synth` refuses a stack that has any.
//! - **Synth.** [`emit::terraform::render`] writes the finished document as `main.tf.json` with a
//!   manifest; the same input always gives byte-identical output.
//!
//! ```no_run
//! use infra_synth::constructs::{dynamodb, lambda, Stack, StackProps};
//!
//! let stack = Stack::new("shop-dev", StackProps { region: "eu-west-1".into(), ..StackProps::default() });
//! let orders = dynamodb::Table::new(&stack, "orders", dynamodb::TableProps::default());
//! let code = lambda::Code { package: "shop", binary: "bootstrap", artifact_bucket: "shop-artifacts".into() };
//! let api = lambda::Function::new(&stack, "api", lambda::FunctionProps::new("Orders API", code));
//! orders.grant_read_write(&api);
//! let synthesis = infra_synth::emit::terraform::render("shop-dev", "an example", stack.finish())?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! # Layers (imports only point down)
//!
//! - [`commands`]: one module per CLI command, with its clap arguments; [`console`]: their
//!   output, which a reader that went away cannot make panic.
//! - [`deploy`]: packaging, the state backend and the Terraform runner behind plan/apply.
//! - [`synth`]: config → app → checks → emitter, shared by the commands.
//! - [`emit`]: Terraform JSON and Kubernetes manifests; [`graph`]: a Mermaid diagram;
//!   [`cost`]: the model priced from the table shipped with the crate.
//! - [`app`]: CloudForgeX, the only code that reads [`config::Stack`] and maps it onto props.
//! - [`constructs`]: one module per AWS service: props, handles, grants; and the checks.
//! - [`tf`]: the Terraform document: blocks, typed references, escaping, providers, `moved`.
//! - [`config`]: the typed stack files and their diagnostics; knows nothing above it.

/// `println!` for a command's output, but an `io::Result`: see [`console::write_out`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for a command's output, but an `io::Result`: see [`console::write_out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::console::write_out(format_args!($($arg)*))
    };
}

/// `eprintln!` that cannot panic: see [`console::write_err`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod app;
pub mod commands;
pub mod config;
pub mod console;
pub mod constructs;
pub mod cost;
pub mod deploy;
pub mod digest;
pub mod emit;
pub mod files;
pub mod graph;
pub mod synth;
pub mod tf;
