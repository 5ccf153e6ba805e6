//! Pressure levels: how full something is, in the lab's four levels. One
//! definition for the capacity plan's memory budget and for live maps and
//! rings (`capacity host`, `capacity watch`).
use serde::Serialize;

/// A share of a limit, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Below 70%.
    Healthy,
    /// 70% to below 85%.
    Warning,
    /// 85% to below 95%.
    Critical,
    /// 95% and above.
    Exhausted,
}

impl Level {
    /// The level of `used_pct` percent.
    pub fn of(used_pct: f64) -> Self {
        if used_pct < 70.0 {
            Level::Healthy
        } else if used_pct < 85.0 {
            Level::Warning
        } else if used_pct < 95.0 {
            Level::Critical
        } else {
            Level::Exhausted
        }
    }

    /// The level of a ratio (0.0 to 1.0).
    pub fn of_ratio(ratio: f64) -> Self {
        Self::of(ratio * 100.0)
    }
}

/// Its JSON name, for tables and labels.
impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::output::serde_name(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_lab_thresholds() {
        assert_eq!(Level::of(0.0), Level::Healthy);
        assert_eq!(Level::of(69.9), Level::Healthy);
        assert_eq!(Level::of(70.0), Level::Warning);
        assert_eq!(Level::of(84.9), Level::Warning);
        assert_eq!(Level::of(85.0), Level::Critical);
        assert_eq!(Level::of(94.9), Level::Critical);
        assert_eq!(Level::of(95.0), Level::Exhausted);
        assert_eq!(Level::of(120.0), Level::Exhausted);
        assert_eq!(Level::of_ratio(0.5), Level::Healthy);
        assert_eq!(serde_json::to_value(Level::Exhausted).unwrap(), "exhausted");
        assert_eq!(Level::Critical.to_string(), "critical");
    }
}
