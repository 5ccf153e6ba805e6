//! Test support: the notices (`log` records) a piece of code gives, so a
//! test can check that a notice goes through `log`, the one channel the CLI
//! prints, rather than straight to stderr.
use std::cell::RefCell;

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Records this thread's notices while a capture is open; tests run on
/// threads of their own, so parallel tests do not see each other's.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        CAPTURED.with(|c| {
            if let Some(notices) = c.borrow_mut().as_mut() {
                notices.push(record.args().to_string());
            }
        });
    }

    fn flush(&self) {}
}

/// The notices `f` gives on this thread, in order.
pub fn capture(f: impl FnOnce()) -> Vec<String> {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in the unit tests");
        log::set_max_level(log::LevelFilter::Trace);
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(vec![]));
    f();
    CAPTURED.with(|c| c.borrow_mut().take().unwrap_or_default())
}
