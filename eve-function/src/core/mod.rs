//! The domain: everything EVE decides, behind ports, with no HTTP or AWS types.

pub mod certificates;
pub mod chat;
pub mod guards;
pub mod knowledge;
pub mod metrics;
pub mod offline;
pub mod ports;
pub mod prompt;
pub mod settings;
