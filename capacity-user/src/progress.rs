//! Progress on stderr for multi-run commands: an indicatif spinner while a
//! run is under way (drawn only on a terminal), and one plain line per
//! finished run so logs show progress too (through `log`, the one channel for
//! notices, when no terminal shows the bar). Nothing goes to stdout.
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(total: Option<u64>) -> Self {
        let bar = match total {
            Some(n) => ProgressBar::new(n)
                .with_style(ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {msg}").expect("template")),
            None => ProgressBar::new_spinner()
                .with_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("template")),
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// What is running now.
    pub fn running(&self, message: String) {
        self.bar.set_message(message);
    }

    /// A finished run: a permanent line.
    pub fn finished(&self, line: String) {
        self.bar.inc(1);
        if self.bar.is_hidden() {
            log::info!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_run_off_a_terminal_is_a_log_notice() {
        let notices = crate::notices::capture(|| {
            let progress = Progress::new(Some(1));
            // As off a terminal, whatever the test's stderr is.
            progress.bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            progress.finished("rate 10k: 10000 events/s".into());
        });
        assert_eq!(notices, ["rate 10k: 10000 events/s"]);
    }
}
