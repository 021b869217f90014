//! infra-synth: stack config → typed model → emitters → CLI commands.
//!
//! - [`config`]: the typed, validated stack files in `stacks/`.
//! - [`model`]: one module per AWS service; resources reference each other through typed handles.
//! - [`emit`]: Terraform JSON (and Kubernetes manifests) from the model, byte-for-byte deterministic.
//! - [`commands`]: one module per CLI command.

pub mod commands;
pub mod deploy;
