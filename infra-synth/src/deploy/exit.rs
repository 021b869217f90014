//! How a child process (Terraform, cargo) ended, in words for an error message.

use std::process::ExitStatus;

/// How a failed run ended, in words: its exit code, or the signal that killed it (a crash, the
/// out-of-memory killer), which leaves no exit code.
pub fn ended(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("failed (exit code {code})"),
        (None, Some(signal)) => match signal_name(signal) {
            Some(name) => format!("was killed by signal {signal} (SIG{name})"),
            None => format!("was killed by signal {signal}"),
        },
        (None, None) => format!("failed ({status})"),
    }
}

/// The names of the signals that end a process unasked (Linux numbering).
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        4 => "ILL",
        6 => "ABRT",
        7 => "BUS",
        8 => "FPE",
        9 => "KILL",
        11 => "SEGV",
        13 => "PIPE",
        15 => "TERM",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn an_exit_code_or_the_signal_that_ended_the_run() {
        // Wait statuses as the kernel gives them: the code in the second byte, a signal in the first.
        assert_eq!(ended(ExitStatus::from_raw(1 << 8)), "failed (exit code 1)");
        assert_eq!(
            ended(ExitStatus::from_raw(9)),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(ended(ExitStatus::from_raw(31)), "was killed by signal 31");
    }
}
