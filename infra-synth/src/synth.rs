//! From a stack file to Terraform: load → the CloudForgeX app → checks → the emitter. What
//! `validate`, `synth`, `graph` and the deploy commands share, so each builds the tree once.

use config_diagnostics::Diagnostics;

use crate::app::cloudforgex;
use crate::config::Stack;
use crate::constructs::Assembly;
use crate::emit::terraform::{self, Synthesis};

/// Builds the stack's tree and runs the checks; every problem comes back at its config key.
pub fn assemble(config: &Stack) -> Result<Assembly, Diagnostics> {
    let stack = cloudforgex::build(config);
    let mut diagnostics = Vec::new();
    if let Err(unknown) = cloudforgex::apply_ignore_changes(&stack, config) {
        diagnostics.push(config.diagnostic("aws.ignore_changes", unknown.to_string()));
    }
    let assembly = stack.finish();
    for problem in &assembly.problems {
        diagnostics
            .push(config.diagnostic(cloudforgex::config_key(&problem.path), problem.to_string()));
    }
    if diagnostics.is_empty() {
        Ok(assembly)
    } else {
        Err(Diagnostics(diagnostics))
    }
}

/// Synthesizes the stack; the same config always gives byte-identical output.
pub fn synthesize(config: &Stack) -> anyhow::Result<Synthesis> {
    let assembly = assemble(config)?;
    terraform::render(
        &config.name,
        &format!("stacks/{}.toml", config.name),
        assembly,
    )
}
