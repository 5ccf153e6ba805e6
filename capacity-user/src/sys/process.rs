//! Calls about this process itself: its threads' ids, and getpriority(2)
//! with arbitrary arguments, which the load generator uses as its trigger.

/// The calling thread's id (cgroup v1 moves threads one by one).
pub fn thread_id() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

/// getpriority(2) with `which` and `who` as given, its result ignored: the
/// kernel program reacts to the call itself (a `which` that is no real one
/// returns EINVAL at once). libc's wrapper takes typed arguments, so this
/// goes through syscall(2).
#[inline]
pub fn getpriority(which: u32, who: u32) {
    // SAFETY: getpriority takes two integers and touches no memory of ours.
    unsafe {
        libc::syscall(libc::SYS_getpriority, which as libc::c_long, who as libc::c_long);
    }
}
