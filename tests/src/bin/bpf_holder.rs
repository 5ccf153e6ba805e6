//! A process that holds BPF maps and programs for tests/tests/integration/host.rs:
//! `bpf_holder OBJECT K N` loads tests/bpf/holder.bpf.c's object, puts K
//! keys in `held_hash` and `held_sparse`, runs `held_emit` N times (N
//! records in `held_ring`, never consumed), keeps running `held_tick`, prints
//! `ready` and holds everything until its stdin closes.
use std::{
    io::{BufRead, Write},
    os::fd::{AsFd, BorrowedFd},
};

use aya::{
    maps::HashMap,
    programs::{ProgramFd, SocketFilter},
    Ebpf,
};

/// Runs the socket filter `fd` `times` times on an empty Ethernet frame.
fn test_run(fd: BorrowedFd<'_>, times: u32) {
    let packet = [0u8; 64];
    capacity::sys::bpf::prog_test_run(fd, &packet, times).expect("BPF_PROG_TEST_RUN");
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
