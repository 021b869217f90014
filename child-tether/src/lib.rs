//! Ties a child process to the process that starts it: when the parent dies, however it dies
//! (a SIGKILL, a CI job's timeout, a closed terminal), the kernel sends the child a signal, so
//! no emulator, build or Terraform run is left behind holding ports, locks or CPU.
//!
//! Linux sends the signal when the *thread* that spawned the child ends, so spawn from a
//! thread that outlives the child: the main thread, or the one that waits for it.

use std::process::Command;

pub use rustix::process::Signal;

/// Makes the child `command` spawns receive `signal` when this process dies. A child whose
/// parent died before it could be tied (between fork and exec) is not started.
pub fn stop_with_parent(command: &mut Command, signal: Signal) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec and makes two system calls (prctl,
    // getppid), both async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(signal))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other(
                    "the parent process has already exited",
                ));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Whether process `pid` still runs (a zombie has finished).
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z')
        })
    }

    /// For the kernel the parent is the thread that spawned the child, so a thread that ends
    /// stands in for a process that is killed: its tied child is signalled, an untied one not.
    #[test]
    fn a_tied_child_stops_when_its_parent_ends_and_an_untied_one_does_not() {
        let spawn_from_a_thread = |tied: bool| {
            std::thread::spawn(move || {
                let mut command = Command::new("sleep");
                command.arg("30");
                if tied {
                    stop_with_parent(&mut command, Signal::TERM);
                }
                command.spawn().expect("spawn sleep")
            })
            .join()
            .expect("the spawning thread")
        };
        let mut tied = spawn_from_a_thread(true);
        let mut untied = spawn_from_a_thread(false);
        let ended = Instant::now();
        while running(tied.id()) && ended.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let tied_stopped = !running(tied.id());
        let untied_stopped = !running(untied.id());
        let _ = (tied.kill(), untied.kill());
        let _ = (tied.wait(), untied.wait());
        assert!(tied_stopped, "the tied child outlived its parent");
        assert!(
            !untied_stopped,
            "the untied child stopped too: the test proves nothing"
        );
    }
}
