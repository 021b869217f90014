//! The CLI's output. `println!` and `eprintln!` panic when a stream's reader has gone
//! (`infra-synth graph | head`, `infra-synth apply 2>&1 | head`); these do not, so a closed
//! reader never cuts a command's work short. The macros `outln!`, `out!` and `errln!` (in
//! `lib.rs`) write through them.

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

/// Writes a command's output to stdout, at once. A reader that went away is not an error: what
/// is left to print is dropped and the command still does all its work (an apply is never cut
/// short by its reader). Any other failure to write (a full disk behind `>`) is the command's
/// error.
pub fn write_out(text: Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(std::io::Error::new(
            error.kind(),
            format!("cannot write the output to stdout: {error}"),
        )),
        Ok(()) => Ok(()),
    }
}

/// Writes a note, warning or error to stderr. A failure to write there has nobody to tell.
pub fn write_err(text: Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(text);
}
