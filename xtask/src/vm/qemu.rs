//! Boots a kernel with the initramfs under qemu: the serial console goes to
//! stdout and to a log file, a host-side timeout kills a hung VM, and a
//! kernel panic ends the run (the guest reboots on panic and `-no-reboot`
//! turns that into qemu's exit).
use std::{
    fmt,
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, ExitStatus, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use clap::ValueEnum;

use super::kernel::Kernel;
use crate::setup::{describe, step};

const QEMU: &str = "qemu-system-x86_64";
/// The tests load programs and fill maps of up to a few hundred MiB.
const MEMORY_MIB: &str = "2048";
/// The guest's CPUs unless `--cpus` says otherwise (the host's two).
pub const DEFAULT_CPUS: u32 = 2;
/// A working KVM reaches init in about a second; a broken one may hang.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// After a panic, time for its trace to reach the console.
const PANIC_GRACE: Duration = Duration::from_secs(5);
pub const PROBE_MARKER: &str = "CAPACITY-VM-PROBE-OK";

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Accel {
    Auto,
    Kvm,
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Auto => "auto",
            Accel::Kvm => "KVM",
            Accel::Tcg => "software emulation (TCG)",
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// qemu exited: the guest powered off, rebooted or qemu failed.
    Exited,
    TimedOut,
    Panicked,
}

pub struct Boot {
    /// Console lines, without line endings and terminal escapes.
    pub console: Vec<String>,
    pub end: End,
    pub status: ExitStatus,
    pub elapsed: Duration,
}

/// KVM when asked, or under `auto` when /dev/kvm opens and a probe boot of
/// `image` reaches init; software emulation otherwise. (On some hosts KVM
/// exists but cannot run a guest: qemu aborts or the guest hangs.)
pub fn choose_accel(wanted: Accel, image: &Path, initramfs: &Path) -> Result<Accel> {
    if wanted != Accel::Auto {
        return Ok(wanted);
    }
    if OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        step("no usable /dev/kvm: the VMs run in software emulation (TCG)");
        return Ok(Accel::Tcg);
    }
    step("probing KVM with a short boot");
    let mut cmd = qemu(image, initramfs, Accel::Kvm, true, DEFAULT_CPUS);
    let probe = run(cmd.stderr(Stdio::null()), PROBE_TIMEOUT, |_| {})?;
    if probe.console.iter().any(|l| l.contains(PROBE_MARKER)) {
        step("KVM works");
        Ok(Accel::Kvm)
    } else {
        step("KVM cannot run a guest here: the VMs run in software emulation (TCG)");
        Ok(Accel::Tcg)
    }
}

/// Boot `kernel` with `cpus` CPUs until the guest powers off, panics, or `timeout` passes.
pub fn boot(kernel: &Kernel, initramfs: &Path, accel: Accel, cpus: u32, timeout: Duration, log: &Path) -> Result<Boot> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut log_file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = qemu(&kernel.image, initramfs, accel, false, cpus);
    eprintln!("xtask: $ {}", describe(&cmd));
    run(&mut cmd, timeout, |line| {
        println!("[{}] {line}", kernel.label);
        let _ = writeln!(log_file, "{line}");
    })
}

fn qemu(image: &Path, initramfs: &Path, accel: Accel, probe: bool, cpus: u32) -> Command {
    let mut cmd = Command::new(QEMU);
    cmd.args(["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot"]);
    cmd.args(["-m", MEMORY_MIB, "-smp", &cpus.to_string()]);
    match accel {
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
        // One host thread runs the vCPUs in turn. With a thread per vCPU,
        // 6.12 once died of an `int3` oops where a static key was being
        // patched (cross-modifying code); on two host cores this costs no time.
        Accel::Tcg | Accel::Auto => cmd.args(["-accel", "tcg,thread=single"]),
    };
    cmd.arg("-kernel").arg(image).arg("-initrd").arg(initramfs);
    // An oops is a failure too: make it a panic, which reboots, which ends qemu.
    let mut append = String::from("console=ttyS0 panic=-1 oops=panic");
    if probe {
        append.push_str(" capacity_vm_probe");
    }
    cmd.arg("-append").arg(append);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    cmd
}

fn run(cmd: &mut Command, timeout: Duration, mut on_line: impl FnMut(&str)) -> Result<Boot> {
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {QEMU}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            if tx.send(printable(&String::from_utf8_lossy(&buf))).is_err() {
                break;
            }
            buf.clear();
        }
    });

    let mut deadline = start + timeout;
    let mut panicked = false;
    let mut console = Vec::new();
    let end = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                on_line(&line);
                if !panicked && line.contains("Kernel panic") {
                    panicked = true;
                    deadline = deadline.min(Instant::now() + PANIC_GRACE);
                }
                console.push(line);
            }
            Err(RecvTimeoutError::Disconnected) => break if panicked { End::Panicked } else { End::Exited },
            Err(RecvTimeoutError::Timeout) => break if panicked { End::Panicked } else { End::TimedOut },
        }
    };
    if end != End::Exited {
        let _ = child.kill();
    }
    let status = child.wait()?;
    Ok(Boot { console, end, status, elapsed: start.elapsed() })
}

/// The line without its ending, terminal escapes (the firmware clears the
/// screen) and other control characters.
fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ending with a letter.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_endings_are_dropped() {
        assert_eq!(printable("\x1b[?7l\x1b[2JBooting\r\n"), "Booting");
        assert_eq!(printable("test a ... ok\r\n"), "test a ... ok");
    }
}
