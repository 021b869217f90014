//! Ties a child process to the process that starts it: when the parent dies, however it dies
//! (a SIGKILL, a CI job's timeout, a closed terminal), the kernel sends the child a signal, so
//! no emulator, build or Terraform run is left behind holding ports, locks or CPU.
//!
//! Linux sends that signal when the *thread* that spawned the child ends, not the process: a
//! moto started on a helper thread would be stopped as the helper returned. So every tied
//! child is spawned by one thread that lives as long as the process.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::OnceLock;

pub use rustix::process::Signal;

/// A command to spawn, and where its child goes.
type Job = (Command, SyncSender<io::Result<Child>>);

/// Spawns `command` tied to this process: when the process dies, the child receives `signal`.
/// A child whose parent died before it could be tied (between fork and exec) is not started.
pub fn spawn(mut command: Command, signal: Signal) -> io::Result<Child> {
    tie(&mut command, signal);
    let (reply, child) = mpsc::sync_channel(1);
    spawner()?
        .send((command, reply))
        .map_err(|_| io::Error::other("the thread that starts child processes has stopped"))?;
    child
        .recv()
        .map_err(|_| io::Error::other("the thread that starts child processes has stopped"))?
}

/// The thread that spawns every tied child: started once, it never ends before the process.
fn spawner() -> io::Result<&'static Sender<Job>> {
    static SPAWNER: OnceLock<Result<Sender<Job>, String>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (jobs, queue) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("child-spawner".into())
                .spawn(move || {
                    for (mut command, reply) in queue {
                        let _ = reply.send(command.spawn());
                    }
                })
                .map(|_| jobs)
                .map_err(|e| format!("cannot start the thread that starts child processes: {e}"))
        })
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

fn tie(command: &mut Command, signal: Signal) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec and makes two system calls (prctl,
    // getppid), both async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(signal))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::other("the parent process has already exited"));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether process `pid` still runs (a zombie has finished).
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z')
        })
    }

    /// Tied by the thread that spawned it, a child was stopped when that thread returned: two
    /// moto servers started on helper threads died before the test could ask them anything.
    #[test]
    fn a_child_started_from_a_thread_that_ends_runs_on() {
        let mut child = std::thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("30");
            spawn(command, Signal::TERM).expect("spawn sleep")
        })
        .join()
        .expect("the starting thread");
        std::thread::sleep(Duration::from_millis(300));
        let ran_on = running(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            ran_on,
            "the child stopped when the thread that started it ended"
        );
    }

    #[test]
    fn a_command_that_cannot_start_says_why() {
        let error =
            spawn(Command::new("/nonexistent/program"), Signal::TERM).expect_err("no such program");
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    }
}
