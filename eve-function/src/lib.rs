//! EVE, the portfolio's assistant.
//!
//! `core` decides everything and knows nothing of HTTP or AWS; `adapters` connect its ports to
//! DynamoDB, Bedrock, SSM and S3 (or memory); `http` is the one router both front doors serve:
//! `bootstrap` (Lambda behind API Gateway) and `eve-server` (a plain HTTP server).

pub mod adapters;
pub mod core;
pub mod http;
pub mod startup;
