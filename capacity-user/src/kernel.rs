//! Kernel versions: the running one, and `X.Y[.Z]` given on the command line.
use std::{fmt, str::FromStr};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    /// The running kernel, from uname(2).
    pub fn running() -> anyhow::Result<Self> {
        let uts = nix::sys::utsname::uname()?;
        let release = uts.release().to_string_lossy();
        release.parse().map_err(|e| anyhow::anyhow!("cannot read the running kernel's version `{release}`: {e}"))
    }
}

impl FromStr for KernelVersion {
    type Err = String;

    /// Accepts `6.1`, `6.12.3`, and uname releases like `6.18.44-fc-v782`.
    fn from_str(text: &str) -> Result<Self, String> {
        let core = text.split(|c: char| !(c.is_ascii_digit() || c == '.')).next().unwrap_or("");
        let mut parts = core.split('.').filter(|p| !p.is_empty()).map(str::parse::<u32>);
        let bad = || format!("`{text}` is not a kernel version: use X.Y, e.g. 6.1 or 6.12");
        let major = parts.next().ok_or_else(bad)?.map_err(|_| bad())?;
        let minor = parts.next().ok_or_else(bad)?.map_err(|_| bad())?;
        let patch = parts.next().transpose().map_err(|_| bad())?.unwrap_or(0);
        Ok(Self { major, minor, patch })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for KernelVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_uname_forms() {
        assert_eq!("6.1".parse(), Ok(KernelVersion::new(6, 1, 0)));
        assert_eq!("6.12.3".parse(), Ok(KernelVersion::new(6, 12, 3)));
        assert_eq!("6.18.44-fc-v782".parse(), Ok(KernelVersion::new(6, 18, 44)));
        assert_eq!("5.10.0-28-cloud-amd64".parse(), Ok(KernelVersion::new(5, 10, 0)));
        assert!("six".parse::<KernelVersion>().is_err());
        assert!("6".parse::<KernelVersion>().is_err());
    }

    #[test]
    fn orders_by_number_not_text() {
        assert!(KernelVersion::new(6, 12, 0) > KernelVersion::new(6, 4, 0));
    }
}
