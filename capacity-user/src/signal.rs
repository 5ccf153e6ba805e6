//! Ctrl-C: the first one asks the run to stop (it detaches, drains and
//! prints the partial result); a second one exits at once.
use std::sync::{
    atomic::{AtomicBool, Ordering},
    OnceLock,
};

static STOP: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<()> = OnceLock::new();

/// The flag runs poll; installs the handler on first use.
pub fn stop_flag() -> &'static AtomicBool {
    INSTALLED.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: the process exit closes every fd, which
                // detaches and unloads everything.
                std::process::exit(130);
            }
            eprintln!("capacity: interrupted: stopping, draining and printing the partial result (Ctrl-C again to quit now)");
        });
    });
    &STOP
}
