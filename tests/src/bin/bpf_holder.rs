//! A process that holds BPF maps and programs for tests/tests/integration/host.rs:
//! `bpf_holder OBJECT K N` loads tests/bpf/holder.bpf.c's object, puts K
//! keys in `held_hash` and `held_sparse`, runs `held_emit` N times (N
//! records in `held_ring`, never consumed), keeps running `held_tick`, prints
//! `ready` and holds everything until its stdin closes.
use std::{
    io::{BufRead, Write},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use aya::{
    maps::HashMap,
    programs::{ProgramFd, SocketFilter},
    Ebpf,
};

const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// `union bpf_attr` for BPF_PROG_TEST_RUN, up to `ctx_out`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
}

/// Runs the socket filter `fd` `times` times on an empty Ethernet frame.
fn test_run(fd: BorrowedFd<'_>, times: u32) {
    let packet = [0u8; 64];
    let mut attr = TestRunAttr {
        prog_fd: fd.as_raw_fd() as u32,
        data_size_in: packet.len() as u32,
        data_in: packet.as_ptr() as u64,
        repeat: times,
        ..Default::default()
    };
    // SAFETY: a repr(C) prefix of union bpf_attr; the packet outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut attr as *mut TestRunAttr,
            std::mem::size_of::<TestRunAttr>(),
        )
    };
    assert!(ret == 0, "BPF_PROG_TEST_RUN: {}", std::io::Error::last_os_error());
}

fn load_filter<'a>(ebpf: &'a mut Ebpf, name: &str) -> &'a ProgramFd {
    let program: &mut SocketFilter = ebpf.program_mut(name).expect(name).try_into().expect("socket filter");
    program.load().expect("load program");
    program.fd().expect("program fd")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, object, keys, runs] = args.as_slice() else {
        panic!("usage: bpf_holder OBJECT K N");
    };
    let (keys, runs): (u32, u32) = (keys.parse().expect("K"), runs.parse().expect("N"));
    let mut ebpf = Ebpf::load_file(object).expect("load object");
    for name in ["held_hash", "held_sparse"] {
        let mut map: HashMap<_, u32, u64> = HashMap::try_from(ebpf.map_mut(name).expect(name)).expect("hash map");
        for key in 0..keys {
            map.insert(key, u64::from(key), 0).expect("insert");
        }
    }
    if runs > 0 {
        test_run(load_filter(&mut ebpf, "held_emit").as_fd(), runs);
    }
    let tick = load_filter(&mut ebpf, "held_tick").try_clone().expect("clone fd");
    std::thread::spawn(move || loop {
        test_run(tick.as_fd(), 100);
        std::thread::sleep(std::time::Duration::from_millis(1));
    });
    println!("ready");
    std::io::stdout().flush().expect("flush");
    // Hold everything until the test closes stdin.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}
