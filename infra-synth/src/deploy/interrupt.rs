//! Interrupting a command while Terraform runs: Ctrl-C, a CI job's SIGTERM, a closed terminal.
//!
//! Killed mid-apply, Terraform can leave what it created outside its state and the state lock
//! taken. So Terraform runs in a process group of its own, out of reach of the terminal's Ctrl-C,
//! and an interrupt that reaches infra-synth is passed to it once, as SIGINT: Terraform finishes
//! the calls in flight, writes its state, releases the lock and exits. infra-synth waits for
//! that, holding the stack directory's lock, and then stops with exit code 130. A second
//! interrupt is passed on too, and Terraform then stops at once, as it says it will. Between
//! Terraform runs an interrupt ends infra-synth at once, as if it were not handled. Killed
//! outright (SIGKILL), infra-synth cannot pass anything on, so Terraform is tied to it: the
//! kernel sends Terraform the SIGINT.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use anyhow::{Context, Result};
use rustix::process::{kill_process, Pid, Signal};
use tokio::signal::unix::{signal, SignalKind};

/// Exit code of a command stopped by an interrupt (128 + SIGINT), as shells report one.
pub const EXIT_CODE: u8 = 130;

/// A Terraform run that an interrupt stopped.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "interrupted: Terraform was asked to stop and has stopped; what it changed before \
             that is in its state, and the next `plan` shows what is left to do",
        )
    }
}

impl std::error::Error for Interrupted {}

/// The Terraform process running now, if any.
static RUNNING: Mutex<Option<Pid>> = Mutex::new(None);
/// Whether an interrupt came during the run in [`RUNNING`].
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn running() -> MutexGuard<'static, Option<Pid>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `command` as a Terraform run that interrupts reach only through infra-synth, and
/// `wait`s for it; an interrupt during the run makes the result [`Interrupted`], once
/// Terraform has exited.
pub fn run<T>(mut command: Command, wait: impl FnOnce(Child) -> std::io::Result<T>) -> Result<T> {
    watch_interrupts()?;
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let program = command.get_program().to_string_lossy().into_owned();
    let cannot_run = || format!("cannot run {program}");
    let child = {
        // Held across the spawn, so an interrupt arriving meanwhile finds the new process.
        let mut running = running();
        // Should infra-synth itself be killed outright, Terraform still gets its one interrupt.
        let child =
            child_tether::spawn(command, child_tether::Signal::INT).with_context(cannot_run)?;
        let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        INTERRUPTED.store(false, Ordering::SeqCst);
        *running = pid;
        child
    };
    let waited = wait(child);
    *running() = None;
    if INTERRUPTED.swap(false, Ordering::SeqCst) {
        return Err(Interrupted.into());
    }
    waited.with_context(cannot_run)
}

/// Takes SIGINT, SIGTERM and SIGHUP from their default action, once per process, and handles
/// them on a thread of their own.
fn watch_interrupts() -> Result<()> {
    static WATCHING: OnceLock<Result<(), String>> = OnceLock::new();
    WATCHING
        .get_or_init(|| start_watching().map_err(|e| e.to_string()))
        .clone()
        .map_err(anyhow::Error::msg)
        .context("cannot watch for interrupts")
}

fn start_watching() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registered before this returns, so no interrupt after it meets the default action.
    let (mut interrupt, mut terminate, mut hangup) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    let number = tokio::select! {
                        _ = interrupt.recv() => Signal::INT,
                        _ = terminate.recv() => Signal::TERM,
                        _ = hangup.recv() => Signal::HUP,
                    };
                    pass_on(number);
                }
            });
        })?;
    Ok(())
}

/// Passes an interrupt to the Terraform run, or ends the process when none runs.
fn pass_on(received: Signal) {
    let running = running();
    let Some(pid) = *running else {
        std::process::exit(128 + received.as_raw());
    };
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        errln!("\ninterrupted again: Terraform stops at once");
    } else {
        errln!(
            "\ninterrupted: Terraform is finishing the calls in flight and saving its state; \
             interrupt again to stop it at once"
        );
    }
    // Gone already: its exit is what the waiting run sees next.
    let _ = kill_process(pid, Signal::INT);
}
