//! `/proc/<pid>/fdinfo/<fd>`: the kernel's `key:\tvalue` lines about one
//! open file. For a BPF map or program they carry its type, id, memlock
//! and run counters; one parser serves `host`, its owner scan and `verify`.
use std::{
    collections::HashMap,
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

/// The fields of one fdinfo file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    fields: HashMap<String, String>,
}

impl FdInfo {
    /// One of this process' open files.
    pub fn of(fd: BorrowedFd<'_>) -> io::Result<Self> {
        Self::read(&format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
    }

    /// Another process' open file `fd` (its name in /proc/PID/fd).
    pub fn of_process(pid: u32, fd: &str) -> io::Result<Self> {
        Self::read(&format!("/proc/{pid}/fdinfo/{fd}"))
    }

    fn read(path: &str) -> io::Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| io::Error::new(e.kind(), format!("reading {path}: {e}")))?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let fields = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Self { fields }
    }

    /// A field as text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// A numeric field: decimal, or hexadecimal after `0x` (`map_flags`).
    pub fn number(&self, key: &str) -> Option<u64> {
        let value = self.get(key)?;
        match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => value.parse().ok(),
        }
    }

    /// A numeric field that fits 32 bits (ids, types).
    pub fn number_u32(&self, key: &str) -> Option<u32> {
        self.number(key).and_then(|n| u32::try_from(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_in_decimal_and_hex() {
        let info =
            FdInfo::parse("pos:\t0\nflags:\t02000002\nmap_type:\t27\nmap_flags:\t0x0\nmemlock:\t16728\nmap_id:\t42\n");
        assert_eq!(info.number("map_type"), Some(27));
        assert_eq!(info.number("map_flags"), Some(0));
        assert_eq!(info.number("memlock"), Some(16_728));
        assert_eq!(info.number_u32("map_id"), Some(42));
        assert_eq!(info.number("run_cnt"), None);
        assert_eq!(info.get("flags"), Some("02000002"));
        let prog = FdInfo::parse("prog_type:\t5\nprog_tag:\tabc\nprog_id:\t7\n");
        assert_eq!(prog.get("prog_tag"), Some("abc"));
        assert_eq!(prog.number("prog_tag"), None);
    }

    #[test]
    fn this_process_has_fdinfo() {
        use std::os::fd::AsFd as _;
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let info = FdInfo::of(file.as_fd()).expect("fdinfo of an open file");
        assert_eq!(info.number("pos"), Some(0));
    }
}
