//! The contract between the infrastructure and EVE, defined once for both sides.
//!
//! `infra-synth` writes EVE's settings (SSM parameters, a Kubernetes ConfigMap), routes
//! (API Gateway methods) and alarms (over EVE's metrics); `eve-function` reads the settings,
//! serves the routes and emits the metrics. Each of those lives here exactly once, so a stack
//! that validates is a stack EVE accepts, and a route or metric cannot be renamed on one side
//! only. This crate knows nothing of AWS SDKs or HTTP libraries; its one dependency is strsim.

pub mod aws;
pub mod handlers;
pub mod metrics;
pub mod routes;
pub mod settings;
pub mod store;
