//! Emitters: turn the assembled model into files other tools read.

pub mod kubernetes;
pub mod terraform;
