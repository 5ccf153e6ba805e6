//! The kernels capacity knows without their BTF: the struct sizes that the
//! 6.4+ memory figures add up, as each kernel's own BTF gives them, kept in
//! `kernels.toml`. `cargo xtask vm --write-kernel-sizes` writes the rows of
//! the VM kernels (read from /sys/kernel/btf/vmlinux inside the guest by
//! `capacity verify`) and `cargo xtask kernel-sizes` the host's row; every
//! `cargo xtask vm` and the memory tests check that the rows still agree.
use serde::Deserialize;

use super::btf::StructSizes;
use crate::kernel::KernelVersion;

/// The table, compiled in.
const TABLE: &str = include_str!("kernels.toml");

/// One kernel's row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KnownKernel {
    /// `X.Y`: estimates for any kernel of the series use this row.
    pub series: String,
    /// `uname -r` of the kernel the sizes were read from.
    pub release: String,
    #[serde(flatten)]
    pub sizes: StructSizes,
}

impl KnownKernel {
    pub fn version(&self) -> KernelVersion {
        self.series.parse().expect("kernels.toml: series are X.Y (checked by its tests)")
    }

    /// How the report names these sizes.
    pub fn describe(&self) -> String {
        format!("BTF sizes of {} (capacity's kernels.toml)", self.release)
    }
}

#[derive(Deserialize)]
struct Table {
    kernel: Vec<KnownKernel>,
}

/// Every known kernel, oldest first.
pub fn all() -> Vec<KnownKernel> {
    let mut rows = toml::from_str::<Table>(TABLE).expect("kernels.toml is valid (checked by its tests)").kernel;
    rows.sort_by_key(KnownKernel::version);
    rows
}

/// The row for `kernel`'s series.
pub fn find(kernel: KernelVersion) -> Option<KnownKernel> {
    all().into_iter().find(|k| same_series(k.version(), kernel))
}

/// The known kernel from `since` on closest to `kernel` (the newer one on a
/// tie): the stand-in for a series the table lacks.
pub fn nearest(kernel: KernelVersion, since: KernelVersion) -> Option<KnownKernel> {
    let distance = |k: &KnownKernel| {
        let v = k.version();
        (i64::from(v.major) * 1000 + i64::from(v.minor) - (i64::from(kernel.major) * 1000 + i64::from(kernel.minor)))
            .abs()
    };
    all().into_iter().rev().filter(|k| k.version() >= since).min_by_key(distance)
}

/// `uname -r` of the running kernel.
pub fn running_release() -> Option<String> {
    nix::sys::utsname::uname().ok().map(|u| u.release().to_string_lossy().into_owned())
}

pub fn same_series(a: KernelVersion, b: KernelVersion) -> bool {
    (a.major, a.minor) == (b.major, b.minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::btf::KernelBtf;

    #[test]
    fn the_table_has_complete_unique_rows() {
        let rows = all();
        for row in &rows {
            let s = &row.sizes;
            let complete = [s.bpf_htab, s.htab_bucket, s.htab_elem, s.llist_node, s.bpf_array, s.bpf_ringbuf_map]
                .iter()
                .all(Option::is_some)
                && s.ringbuf_consumer_pos.is_some()
                && s.has_map_mem_usage.is_some();
            assert!(complete, "{row:?}");
            assert!(row.release.starts_with(&format!("{}.", row.series)), "{row:?}");
            assert_eq!(rows.iter().filter(|r| r.series == row.series).count(), 1, "{} twice", row.series);
        }
        for series in ["6.1", "6.12", "6.18", "7.2"] {
            assert!(find(series.parse().unwrap()).is_some(), "kernels.toml lacks {series}");
        }
    }

    #[test]
    fn a_series_the_table_lacks_gets_the_nearest_known_one() {
        let v = |s: &str| s.parse::<KernelVersion>().unwrap();
        assert_eq!(find(v("6.12.117")).unwrap().series, "6.12");
        assert!(find(v("6.15")).is_none());
        let any = v("5.0");
        assert_eq!(nearest(v("6.15"), any).unwrap().series, "6.18");
        assert_eq!(nearest(v("6.13"), any).unwrap().series, "6.12");
        assert_eq!(nearest(v("5.15"), any).unwrap().series, "6.1");
        assert_eq!(nearest(v("9.9"), any).unwrap().series, all().last().unwrap().series);
        // Only kernels of the same accounting era stand in.
        assert_eq!(nearest(v("6.5"), v("6.4")).unwrap().series, "6.12");
    }

    #[test]
    fn the_running_kernels_row_is_its_btf() {
        // Where this kernel's series is known, its row must be what its BTF
        // says (a rebuilt kernel with other sizes needs `cargo xtask kernel-sizes`).
        let (Some(btf), Ok(running)) = (KernelBtf::running(), KernelVersion::running()) else {
            return;
        };
        if let Some(row) = find(running) {
            assert_eq!(row.sizes, btf.sizes, "kernels.toml's {} row is not this kernel's BTF ({running})", row.series);
        }
    }
}
