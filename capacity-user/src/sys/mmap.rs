//! A shared mapping of a file's pages (a BPF ring buffer's position and
//! data pages), unmapped when dropped, on every path out.
use std::{
    io,
    num::NonZeroUsize,
    os::fd::BorrowedFd,
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicU64},
};

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

/// What the mapping may do with the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// `len` bytes of a file mapped shared from `offset`; unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; the pages are shared
// with the kernel, which every reader accesses through atomics or after an
// acquire of a position the kernel published with release.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` from `offset` (a multiple of the page size).
    pub fn shared(fd: BorrowedFd<'_>, len: usize, offset: usize, access: Access) -> io::Result<Self> {
        let length = NonZeroUsize::new(len).ok_or_else(|| io::Error::other("a mapping of 0 bytes"))?;
        let offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        let prot = match access {
            Access::Read => ProtFlags::PROT_READ,
            Access::ReadWrite => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        };
        // SAFETY: a fresh mapping at an address the kernel chooses, so it
        // aliases no Rust object; the kernel checks length, offset and
        // protection against what the file allows.
        let ptr = unsafe { mmap(None, length, prot, MapFlags::MAP_SHARED, fd, offset) }?;
        Ok(Self { ptr: ptr.cast(), len })
    }

    /// The first mapped byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 8-byte word at `offset`, which the kernel and other processes
    /// may change at any time: read and written atomically only.
    pub fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.len, "word {offset} outside a {} B mapping", self.len);
        // SAFETY: in bounds and 8-byte aligned (the mapping starts on a
        // page); the pages stay mapped while `self` is borrowed; AtomicU64
        // has u64's layout.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    /// The 4-byte word at `offset` (a ring record's length and flags),
    /// which others may change at any time: read and written atomically only.
    pub fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.len, "word {offset} outside a {} B mapping", self.len);
        // SAFETY: in bounds and 4-byte aligned (the mapping starts on a
        // page); the pages stay mapped while `self` is borrowed; AtomicU32
        // has u32's layout.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: mapped in `shared` with this length and not unmapped since;
        // no reference into it outlives `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write as _, os::fd::AsFd as _, sync::atomic::Ordering};

    use super::*;

    #[test]
    fn a_file_reads_through_its_mapping_and_zero_bytes_are_refused() {
        let mut file = tempfile_in_tmp();
        file.write_all(&42u64.to_ne_bytes()).unwrap();
        file.write_all(&[0u8; 4088]).unwrap();
        let mapping = Mapping::shared(file.as_fd(), 4096, 0, Access::Read).expect("map");
        assert_eq!(mapping.len(), 4096);
        assert_eq!(mapping.atomic_u64(0).load(Ordering::Acquire), 42);
        assert!(Mapping::shared(file.as_fd(), 0, 0, Access::Read).is_err());
    }

    fn tempfile_in_tmp() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("capacity-mmap-{}", std::process::id()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
