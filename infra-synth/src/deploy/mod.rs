//! Deploying what `synth` produces: packaging, the state backend, Terraform runs, publishing.
//!
//! Commands in `commands/` stay thin; the machinery they share lives here.

pub mod aws;
pub mod backend;
pub mod bundle;
pub mod drift;
pub mod drill;
pub mod exit;
pub mod front;
pub mod interrupt;
pub mod manifest_diff;
pub mod package;
pub mod plan_summary;
pub mod publish;
pub mod record;
pub mod rehearsal;
pub mod state;
pub mod terraform;
pub mod workflow;
