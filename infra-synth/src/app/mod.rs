//! Apps: stacks composed from the construct library. [`cloudforgex`] is the one this
//! repository deploys; `infra-synth/examples/` has others.

pub mod cloudforgex;
pub mod recovery;
