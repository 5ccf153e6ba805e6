//! The kernel's interfaces in one room, as aya keeps its `sys/`: the bpf(2)
//! commands, shared mappings of a map's pages, fdinfo, and the machine's
//! page size and CPU count. The `unsafe` of talking to the kernel lives
//! here, each use with the reason it holds; everything above is safe code.
//! Imports no product area.
//!
//! - [`bpf`]: each bpf(2) command as one function with a typed result;
//! - [`mmap`]: [`Mapping`], a shared mapping of an fd that unmaps on drop;
//! - [`fdinfo`]: `/proc/<pid>/fdinfo/<fd>` as fields;
//! - [`host`]: page size, possible CPUs, and the CPUs this thread may run on;
//! - [`perf`]: a perf buffer of a BPF output event on one CPU, opened, mapped and read;
//! - [`process`]: this thread's id, getpriority(2) as the load's trigger.

pub mod bpf;
pub mod fdinfo;
pub mod host;
pub mod mmap;
pub mod perf;
pub mod process;
pub mod ring_records;

pub use fdinfo::FdInfo;
pub use host::{page_size, possible_cpus};
pub use mmap::{Access, Mapping};

/// The map type numbers and flags of include/uapi/linux/bpf.h, from aya's
/// generated bindings, never typed again.
pub use aya_obj::generated::{bpf_map_type, bpf_prog_type, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC};
