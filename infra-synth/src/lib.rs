//! infra-synth: stack config → typed model → emitters → CLI commands.
//!
//! - [`config`]: the typed, validated stack files in `stacks/`.
//! - [`model`]: one module per AWS service; resources reference each other through typed handles.
//! - [`tf`]: Terraform JSON primitives (expressions, references, the ordered document).
//! - [`synth`]: whole-stack assembly into `main.tf.json` and a manifest.
//! - [`emit`]: Terraform JSON (and Kubernetes manifests) from the model, byte-for-byte deterministic.
//! - [`graph`]: a Mermaid diagram of resources and their references.
//! - [`deploy`]: packaging, state backend and the terraform runner behind plan/apply.
//! - [`commands`]: one module per CLI command.

pub mod commands;
pub mod config;
pub mod deploy;
pub mod emit;
pub mod graph;
pub mod model;
pub mod synth;
pub mod tf;
