use std::process::ExitCode;

use config_diagnostics::{cause_text, error_text, parse_args, Diagnostics};
use infra_synth::commands::Cli;
use infra_synth::console::write_err;
use infra_synth::deploy::interrupt::{self, Interrupted};

fn main() -> ExitCode {
    let cli: Cli = parse_args();
    match cli.run() {
        Ok(code) => code,
        Err(err) if err.is::<Interrupted>() => {
            write_err(format_args!("error: {}\n", error_text(err.as_ref())));
            ExitCode::from(interrupt::EXIT_CODE)
        }
        Err(err) => {
            match err.downcast_ref::<Diagnostics>() {
                // Problems in the files print as `validate` prints them, each line already
                // `error: `-prefixed, after whatever context was added on the way up.
                Some(diagnostics) => {
                    for context in err.chain().take_while(|e| !e.is::<Diagnostics>()) {
                        write_err(format_args!("error: {}\n", cause_text(context)));
                    }
                    write_err(format_args!("{diagnostics}\n"));
                }
                None => write_err(format_args!("error: {}\n", error_text(err.as_ref()))),
            }
            ExitCode::FAILURE
        }
    }
}
