//! Ctrl-C (SIGINT) and SIGTERM, the way CI runners, systemd and Kubernetes
//! stop a process: the first one asks the run to stop (it detaches, drains
//! and prints the partial result, then exits 128 + the signal's number); a
//! second one exits at once.
use std::sync::{
    atomic::{AtomicBool, AtomicI32, Ordering},
    OnceLock,
};

use signal_hook::{
    consts::{SIGINT, SIGTERM},
    iterator::Signals,
};

static STOP: AtomicBool = AtomicBool::new(false);
/// The first stopping signal received, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static INSTALLED: OnceLock<()> = OnceLock::new();

/// The flag runs poll; installs the handler on first use.
pub fn stop_flag() -> &'static AtomicBool {
    INSTALLED.get_or_init(|| {
        // signal-hook's iterator runs the reaction on an ordinary thread, so
        // it may print and exit (neither is allowed in a signal handler).
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
            return; // Without a handler the default action still ends the process.
        };
        std::thread::spawn(move || {
            for signal in signals.forever() {
                on_signal(signal);
            }
        });
    });
    &STOP
}

fn on_signal(signal: i32) {
    // Recorded before the stop flag, so that a run seeing the flag finds
    // the signal that set it.
    if RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        // Second signal: the process exit closes every fd, which detaches
        // and unloads everything.
        std::process::exit(exit_code_for(signal).into());
    }
    STOP.store(true, Ordering::SeqCst);
    announce(signal);
}

/// The notice of a first stopping signal, through `log` like every notice.
fn announce(signal: i32) {
    let (name, again) = if signal == SIGTERM { ("SIGTERM", "send it again") } else { ("Ctrl-C", "Ctrl-C again") };
    log::info!("interrupted by {name}: stopping, draining and printing the partial result ({again} to quit now)");
}

/// The exit code of an interrupted run: 128 + the signal's number, the
/// shell's convention (130 for Ctrl-C, 143 for SIGTERM).
pub fn interrupted_exit_code() -> u8 {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => exit_code_for(SIGINT),
        signal => exit_code_for(signal),
    }
}

fn exit_code_for(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code_for(SIGINT), 130);
        assert_eq!(exit_code_for(SIGTERM), 143);
    }

    #[test]
    fn the_interruption_is_a_log_notice() {
        let notices = crate::notices::capture(|| announce(SIGTERM));
        assert_eq!(
            notices,
            ["interrupted by SIGTERM: stopping, draining and printing the partial result (send it again to quit now)"]
        );
    }
}
