//! The command line's names for the library's settings, so that a refused
//! value ([`crate::settings::SettingError`]) is named by the flag that set it.
use super::Command;
use crate::{
    plan::check,
    settings::{Names, Setting},
};

/// How `command` names the settings it passes on.
pub fn of(command: &Command) -> Names {
    match command {
        Command::Load(_) | Command::Compare(_) | Command::Observe(_) => load,
        Command::Ramp(_) | Command::Search(_) => trials,
        Command::Size(_) => size,
        Command::Report(_) => report,
        _ => Setting::plain,
    }
}

/// `capacity load`: every setting is its own flag (observe's too, spelled alike).
pub fn load(setting: Setting) -> &'static str {
    match setting {
        Setting::Rate => "--rate",
        Setting::Unpaced => "`--rate max`",
        Setting::Duration => "--duration",
        Setting::EventSize => "--event-size",
        Setting::RingbufSize => "--ringbuf-size",
        Setting::Batch => "--batch",
        Setting::KeepBatch => "--keep-batch",
        Setting::Producers => "--producers",
        Setting::Keyspace => "--keyspace",
        Setting::MapEntries => "--map-entries",
        Setting::Overwrite => "--overwrite",
        Setting::Layout => "--layout",
        Setting::PerfPages => "--perf-pages",
        Setting::Arrivals => "--arrivals",
        Setting::SmallestRing => "--min",
        Setting::LargestRing => "--max",
        Setting::MaxDropRate => "--max-drop-rate",
        Setting::BufferSeconds => "--buffer-seconds",
        Setting::LowRate => "--low",
        Setting::HighRate => "--high",
        Setting::Precision => "--precision",
        Setting::PassProbability => "--pass-probability",
        Setting::Confidence => "--confidence",
        Setting::MaxTrials => "--max-trials",
        Setting::TimeBudget => "--time-budget",
        Setting::FirstRate => "--from",
        Setting::LastRate => "--to",
        Setting::Steps => "--steps",
        Setting::Factor => "--factor",
        Setting::Interval => "--interval",
        Setting::Record => "--record",
        Setting::RecordSize => "--record-size",
    }
}

/// `capacity ramp` and `search`: each trial's rate lies between two flags,
/// its length is --step-duration, and no trial runs unpaced.
pub fn trials(setting: Setting) -> &'static str {
    match setting {
        Setting::Rate => "rate",
        Setting::Unpaced => "",
        Setting::Duration => "--step-duration",
        other => load(other),
    }
}

/// `capacity size`: --rate is the mean, each trial is --step-duration long,
/// the rings tried are bounded by --max, and an unpaced producer has no
/// ring size.
pub fn size(setting: Setting) -> &'static str {
    match setting {
        Setting::Unpaced => "",
        Setting::RingbufSize => "--max",
        Setting::Duration => "--step-duration",
        other => load(other),
    }
}

/// `capacity report --measure`: the workload file and the plan set the
/// runs, --duration their length.
pub fn report(setting: Setting) -> &'static str {
    match setting {
        Setting::Duration => "--duration",
        other => check::setting_name(other),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    /// Every flag an error may name is one the subcommand takes.
    #[test]
    fn every_named_flag_exists() {
        let cli = Cli::command();
        let namers: [(&str, Names, &[Setting]); 4] = [
            ("load", load, &[Setting::Rate, Setting::Duration, Setting::EventSize, Setting::RingbufSize]),
            ("ramp", trials, &[Setting::FirstRate, Setting::LastRate, Setting::Steps, Setting::Factor]),
            (
                "search",
                trials,
                &[Setting::LowRate, Setting::HighRate, Setting::KeepBatch, Setting::MaxTrials, Setting::TimeBudget],
            ),
            ("size", size, &[Setting::SmallestRing, Setting::RingbufSize, Setting::BufferSeconds]),
        ];
        let run_settings = [
            Setting::Duration,
            Setting::EventSize,
            Setting::Batch,
            Setting::Producers,
            Setting::Keyspace,
            Setting::MapEntries,
            Setting::Overwrite,
            Setting::Layout,
            Setting::PerfPages,
            Setting::Arrivals,
        ];
        for (command, name, own) in namers {
            let sub = cli.find_subcommand(command).unwrap_or_else(|| panic!("no subcommand {command}"));
            for setting in own.iter().chain(&run_settings) {
                let flag = name(*setting);
                let long = flag.strip_prefix("--").unwrap_or_else(|| panic!("{command}: {setting:?} is `{flag}`"));
                assert!(
                    sub.get_arguments().any(|a| a.get_long() == Some(long)),
                    "{command} has no {flag}, which its errors name for {setting:?}"
                );
            }
        }
    }
}
