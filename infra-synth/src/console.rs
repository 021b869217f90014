//! The CLI's output. `println!` and `eprintln!` panic when a stream's reader has gone
//! (`infra-synth graph | head`, `infra-synth apply 2>&1 | head`); these do not, so a closed
//! reader never cuts a command's work short. The macros `outln!`, `out!` and `errln!` (in
//! `lib.rs`) write through them, and the output of the tools we run passes through us.
//!
//! Our own lines quote what the user gave (paths, names), so they are written as
//! [`PrintableLines`]: a terminal's escape sequence or a reordering mark in a folder's name is
//! shown, never played.

use std::fmt::Arguments;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::process::Child;

use config_diagnostics::PrintableLines;

/// Writes a command's output to stdout, at once. A reader that went away is not an error: what
/// is left to print is dropped and the command still does all its work (an apply is never cut
/// short by its reader). Any other failure to write (a full disk behind `>`) is the command's
/// error.
pub fn write_out(text: Arguments<'_>) -> std::io::Result<()> {
    write_stdout(format_args!("{}", PrintableLines(&text.to_string())))
}

/// Writes `value` to stdout as pretty JSON and a newline, as [`write_out`] writes text but
/// without its escapes: JSON escapes control characters itself, and a value it quotes keeps
/// every other character (`\u{200f}` is no JSON escape), so a program reads what was given.
pub fn write_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    write_stdout(format_args!("{json}\n"))
}

fn write_stdout(text: Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(std::io::Error::new(
            error.kind(),
            format!(
                "cannot write the output to stdout: {}",
                config_diagnostics::os_error_text(&error)
            ),
        )),
        Ok(()) => Ok(()),
    }
}

/// Writes a note, warning or error to stderr. A failure to write there has nobody to tell.
pub fn write_err(text: Arguments<'_>) {
    let text = text.to_string();
    let _ = write!(std::io::stderr().lock(), "{}", PrintableLines(&text));
}

/// Copies what `child` prints (its stdout and its stderr, both piped) to our stderr line by
/// line until both end, showing `each_error` every line of its stderr without the newline.
///
/// Tools run this way never write to a stream of ours: given one whose reader has gone, they
/// die of SIGPIPE (Terraform, in the middle of an apply with its state lock held) or fail
/// (cargo exits 101). Both streams are read to the end whatever becomes of the copies, so the
/// child never blocks on a full pipe.
pub fn pass_on_output(child: &mut Child, each_error: impl FnMut(&str)) {
    let output = child
        .stdout
        .take()
        .map(|output| std::thread::spawn(|| pass_on(output, |_| {})));
    if let Some(errors) = child.stderr.take() {
        pass_on(errors, each_error);
    }
    if let Some(output) = output {
        // The thread only copies; should it have panicked, the child's end still counts.
        let _ = output.join();
    }
}

fn pass_on(stream: impl Read, mut each: impl FnMut(&str)) {
    for mut line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
        line.push(b'\n');
        // One write a line, holding our stderr no longer: the interrupt watcher prints there
        // too, and must not wait for the child to finish. A failed write has nobody to tell.
        let _ = std::io::stderr().write_all(&line);
        each(&String::from_utf8_lossy(&line[..line.len() - 1]));
    }
}

/// For tests of the tools we run, with our stderr's reader gone.
#[cfg(test)]
pub(crate) mod testing {
    use std::ffi::OsString;
    use std::path::Path;
    use std::process::{Command, ExitStatus, Stdio};

    /// Set in a test run again by [`rerun_with_stderr_unread`]: the directory of its fake tool.
    pub const RERUN_DIR: &str = "CFX_TEST_RERUN_DIR";

    /// A stand-in for the tool `name` in `dir`: it prints 200 lines to each of its streams,
    /// then leaves the file `done`, as a tool that finished its work.
    pub fn fake_tool(dir: &Path, name: &str) {
        let fake = dir.join(name);
        std::fs::write(
            &fake,
            "#!/bin/sh\nfor i in $(seq 1 200); do echo \"out $i\"; echo \"err $i\" >&2; done\n\
             touch done\n",
        )
        .expect("write the fake");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("make it runnable");
    }

    /// Runs the test `name` of this binary again, with [`RERUN_DIR`] set to `dir`, `envs`
    /// besides, and its stderr a pipe whose reader has gone (as after `2>&1 | head`).
    pub fn rerun_with_stderr_unread(
        name: &str,
        dir: &Path,
        envs: &[(&str, OsString)],
    ) -> ExitStatus {
        let (reader, unread) = std::io::pipe().expect("pipe");
        drop(reader);
        Command::new(std::env::current_exe().expect("this test binary"))
            .args(["--exact", name, "--nocapture"])
            .env(RERUN_DIR, dir)
            .envs(envs.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::null())
            .stderr(unread)
            .status()
            .expect("the test runs itself")
    }
}
