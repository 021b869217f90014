//! Port implementations: AWS services for deployments, memory for local runs and tests.

pub mod memory;
