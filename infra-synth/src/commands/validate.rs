//! `infra-synth validate`: check a stack config and the model synthesized from it.

use std::process::ExitCode;

use serde_json::json;

use super::StackArgs;

/// Check a stack: its file (names, region, limits, origins, EVE's settings as EVE reads them)
/// and the tree it builds (IAM wildcards, encryption at rest, tags, region rules).
///
/// Every problem is reported at once with file, line, key and what is allowed; exit code 1
/// when there is any.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth validate --stack prod
  infra-synth validate --stack dev --format json      # for CI annotations
  infra-synth validate --stack prod --stacks-dir /tmp/stacks")]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The config first; then the tree it builds, checked once (the same checks `synth` runs).
    let result = args
        .stack
        .load()
        .and_then(|stack| crate::synth::assemble(&stack).map(|_| stack));
    match (args.format, result) {
        (Format::Text, Ok(stack)) => {
            outln!("ok: stack `{}` is valid", stack.name)?;
            Ok(ExitCode::SUCCESS)
        }
        (Format::Text, Err(diagnostics)) => Ok(super::report(&diagnostics)),
        (Format::Json, result) => {
            let (ok, mut body) = match &result {
                Ok(_) => (true, json!({ "errors": [], "count": 0 })),
                Err(diagnostics) => (false, diagnostics.to_json()),
            };
            body["stack"] = json!(args.stack.stack);
            body["ok"] = json!(ok);
            crate::console::write_json(&body)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
