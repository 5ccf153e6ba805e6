//! The settings a run, a rate search, a ring search or a ramp takes, and
//! what is wrong with one of them, as data. The library cannot know where a
//! value came from, so it never names one: it returns a [`SettingError`],
//! and the caller words it with its own names, the command line its flags
//! (cli/flags.rs), `capacity report` the workload file's keys; any other
//! caller gets plain words. Advice in a result that names settings is
//! [`Words`], named by the caller the same way.

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
    Layout,
    PerfPages,
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
    /// How often a live ring is read.
    Interval,
    /// Where a live ring's rate series is written.
    Record,
    /// The bytes one live record takes, when its headers cannot be walked.
    RecordSize,
}

/// How a caller names settings when it words a [`SettingError`].
pub type Names = fn(Setting) -> &'static str;

/// What is wrong with which setting: a library check's refusal, as data.
/// `problem` says it in words with a slot for each setting it mentions,
/// which the caller fills with its names ([`SettingError::message`]);
/// Display fills them with plain words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.message(Setting::plain))]
pub struct SettingError {
    /// The setting refused.
    pub setting: Setting,
    pub problem: Vec<Piece>,
}

/// A part of a refusal's words.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    /// The caller's name for this setting.
    Name(Setting),
    /// `before NAME after`, said only when the caller has a name for the
    /// setting (the command line offers an unpaced run; a plan does not).
    Offer {
        setting: Setting,
        before: &'static str,
        after: &'static str,
    },
}

impl From<Setting> for Piece {
    fn from(setting: Setting) -> Self {
        Piece::Name(setting)
    }
}

impl From<String> for Piece {
    fn from(text: String) -> Self {
        Piece::Text(text)
    }
}

impl From<&str> for Piece {
    fn from(text: &str) -> Self {
        Piece::Text(text.to_string())
    }
}

/// `refuse!(setting; pieces...)`: a [`SettingError`] about `setting`, its
/// words made of text and of the settings named in them.
#[macro_export]
macro_rules! refuse {
    ($setting:expr; $($piece:expr),+ $(,)?) => {
        $crate::settings::SettingError {
            setting: $setting,
            problem: vec![$($crate::settings::Piece::from($piece)),+],
        }
    };
}

/// `pieces` in words, each setting named by `name`.
fn say(pieces: &[Piece], name: impl Fn(Setting) -> &'static str) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.clone(),
            Piece::Name(setting) => name(*setting).to_string(),
            Piece::Offer { setting, before, after } => match name(*setting) {
                "" => String::new(),
                named => format!("{before}{named}{after}"),
            },
        })
        .collect()
}

/// Words in a result that name settings (advice: "rerun with --batch 34"),
/// kept as data so that the caller names them ([`Words::name_with`]); said
/// in plain words until then. Serialized as said.
#[derive(Debug, Clone, PartialEq)]
pub struct Words {
    pieces: Vec<Piece>,
    said: String,
}

/// `words!(pieces...)`: [`Words`] made of text and of the settings named in them.
#[macro_export]
macro_rules! words {
    ($($piece:expr),+ $(,)?) => {
        $crate::settings::Words::new(vec![$($crate::settings::Piece::from($piece)),+])
    };
}

impl Words {
    pub fn new(pieces: Vec<Piece>) -> Self {
        let said = say(&pieces, Setting::plain);
        Self { pieces, said }
    }

    /// Say them again, each setting named by `name`.
    pub fn name_with(&mut self, name: Names) {
        self.said = say(&self.pieces, name);
    }

    pub fn as_str(&self) -> &str {
        &self.said
    }
}

impl std::fmt::Display for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said)
    }
}

impl serde::Serialize for Words {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.said)
    }
}

impl SettingError {
    /// The refusal in words, each setting named by `name`.
    pub fn message(&self, name: impl Fn(Setting) -> &'static str) -> String {
        say(&self.problem, name)
    }

    /// `error` with every [`SettingError`] in its chain worded by `name`;
    /// other errors as they are.
    pub fn name_in(error: anyhow::Error, name: Names) -> anyhow::Error {
        if error.downcast_ref::<SettingError>().is_none() {
            return error;
        }
        let words: Vec<String> = error
            .chain()
            .map(|cause| match cause.downcast_ref::<SettingError>() {
                Some(refusal) => refusal.message(name),
                None => cause.to_string(),
            })
            .collect();
        anyhow::Error::msg(words.join(": "))
    }
}

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
            Setting::Layout => "layout",
            Setting::PerfPages => "perf pages",
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
            Setting::Interval => "interval",
            Setting::Record => "record file",
            Setting::RecordSize => "record size",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_plain_until_their_caller_names_them() {
        let mut advice = words!("rerun with ", Setting::Batch, " 34");
        assert_eq!(serde_json::to_value(&advice).unwrap(), "rerun with batch 34");
        advice.name_with(|s| if s == Setting::Batch { "--batch" } else { s.plain() });
        assert_eq!(serde_json::to_value(&advice).unwrap(), "rerun with --batch 34");
        assert_eq!(advice.to_string(), "rerun with --batch 34");
    }

    fn flags(setting: Setting) -> &'static str {
        match setting {
            Setting::LargestRing => "--max",
            Setting::Unpaced => "",
            other => other.plain(),
        }
    }

    #[test]
    fn a_refusal_is_worded_by_its_caller() {
        let refusal = refuse!(Setting::LargestRing; Setting::LargestRing, " 5000 must be a power of two");
        assert_eq!(refusal.setting, Setting::LargestRing);
        assert_eq!(refusal.to_string(), "largest ring 5000 must be a power of two");
        assert_eq!(refusal.message(flags), "--max 5000 must be a power of two");
        // Through anyhow and a context, as the CLI receives it.
        let error = anyhow::Error::new(refusal).context("cannot size the ring");
        assert_eq!(
            SettingError::name_in(error, flags).to_string(),
            "cannot size the ring: --max 5000 must be a power of two"
        );
        // Other errors pass as they are.
        assert_eq!(SettingError::name_in(anyhow::anyhow!("no BTF"), flags).to_string(), "no BTF");
    }

    #[test]
    fn an_offer_is_made_only_where_the_caller_can_take_it() {
        let offer = Piece::Offer { setting: Setting::Unpaced, before: ", or run unpaced (", after: ")" };
        let refusal = refuse!(Setting::Rate; Setting::Rate, " is too fast", offer);
        assert_eq!(refusal.message(flags), "rate is too fast");
        assert_eq!(
            refusal.message(|s| if s == Setting::Unpaced { "`--rate max`" } else { "--rate" }),
            "--rate is too fast, or run unpaced (`--rate max`)"
        );
    }
}
