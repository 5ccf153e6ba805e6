//! The settings a run, a rate search, a ring search or a ramp takes, and how
//! an error names them. The library cannot know where a value came from:
//! the command line names its flags (cli/flags.rs), `capacity report` the
//! workload file's keys, and any other caller gets plain words.

/// One setting a check can refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Rate,
    /// How to ask for an unpaced run, offered when a rate cannot be paced;
    /// empty where the caller has no unpaced run to offer.
    Unpaced,
    Duration,
    EventSize,
    RingbufSize,
    Batch,
    KeepBatch,
    Producers,
    Keyspace,
    MapEntries,
    Overwrite,
    Arrivals,
    SmallestRing,
    LargestRing,
    MaxDropRate,
    BufferSeconds,
    LowRate,
    HighRate,
    Precision,
    PassProbability,
    Confidence,
    MaxTrials,
    TimeBudget,
    FirstRate,
    LastRate,
    Steps,
    Factor,
}

/// How a check names settings in its error message.
pub type Names = fn(Setting) -> &'static str;

impl Setting {
    /// Plain words, for values that came from no flag and no file.
    pub fn plain(self) -> &'static str {
        match self {
            Setting::Rate => "rate",
            Setting::Unpaced => "an unpaced rate",
            Setting::Duration => "duration",
            Setting::EventSize => "event size",
            Setting::RingbufSize => "ring size",
            Setting::Batch => "batch",
            Setting::KeepBatch => "a fixed batch",
            Setting::Producers => "producers",
            Setting::Keyspace => "keyspace",
            Setting::MapEntries => "map entries",
            Setting::Overwrite => "overwrite mode",
            Setting::Arrivals => "arrivals",
            Setting::SmallestRing => "smallest ring",
            Setting::LargestRing => "largest ring",
            Setting::MaxDropRate => "max drop rate",
            Setting::BufferSeconds => "buffer seconds",
            Setting::LowRate => "lowest rate",
            Setting::HighRate => "highest rate",
            Setting::Precision => "precision",
            Setting::PassProbability => "pass probability",
            Setting::Confidence => "confidence",
            Setting::MaxTrials => "max trials",
            Setting::TimeBudget => "time budget",
            Setting::FirstRate => "first rate",
            Setting::LastRate => "last rate",
            Setting::Steps => "steps",
            Setting::Factor => "factor",
        }
    }
}
