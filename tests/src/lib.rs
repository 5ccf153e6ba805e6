//! Support for the integration tests: find the `capacity` binary, gate the
//! privileged tests (they must run in CI, never skip there), serialise
//! kernel work across test processes, and inspect what the kernel has loaded.
use std::{
    fs::File,
    path::PathBuf,
    process::{Command, Output},
    time::{Duration, Instant},
};

/// The `capacity` binary: `$CAPACITY_BIN` (set by `cargo xtask test`), else
/// the one beside this test executable's profile directory.
pub fn capacity_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CAPACITY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let bin = profile_dir.join("capacity");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo xtask test` (it builds the binary first)",
        bin.display()
    );
    bin
}

/// True when this process can load BPF programs. Without privileges the
/// test skips loudly; under CI (`CI` set) it fails instead: CI must run them.
pub fn privileged(test: &str) -> bool {
    if capacity::preflight::is_privileged() {
        return true;
    }
    if under_ci() {
        panic!("{test}: CI must run the privileged tests, but this process has no CAP_BPF/CAP_PERFMON (run as root)");
    }
    announce(&format!("*** SKIPPED {test}: needs root (or CAP_BPF+CAP_PERFMON); run `sudo cargo xtask test` ***"));
    false
}

/// A CI run (`CI` set): every test must check what its name promises.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// A line on stderr that the test harness does not capture. libtest hides
/// what `eprintln!` prints behind a passing test's "ok"; a write to the
/// stderr handle itself goes straight to the terminal or the CI log.
pub fn announce(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "\n{line}\n");
}

/// The running test cannot check what its name promises here, because of
/// `why`. Under CI that is a failure; elsewhere a loud SKIPPED line.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("this test").to_string();
    if under_ci() {
        panic!("{test}: CI must check this, but {why}");
    }
    announce(&format!("*** SKIPPED (in part) {test}: {why} ***"));
}

/// `holds`, or a [`skip`] saying `why` not: `if checkable(x, "...") { checks }`.
pub fn checkable(holds: bool, why: &str) -> bool {
    if !holds {
        skip(why);
    }
    holds
}

/// Serialises tests that load programs, across test binaries and threads,
/// so program lists and rates are not disturbed by a neighbour.
pub struct KernelLock(#[allow(dead_code)] nix::fcntl::Flock<File>);

/// The lock a test that busies the CPU without the kernel (schema
/// validators, promtool) holds, so that it never runs beside a search or a
/// size trial: those measure what this 2-core host can do, and a validator
/// on the consumer's CPU moves their answer (two searches of one CI run
/// once disagreed by 3.5%).
pub fn quiet_cpu() -> KernelLock {
    kernel_lock()
}

pub fn kernel_lock() -> KernelLock {
    let file = File::options()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join("capacity-tests.lock"))
        .expect("open lock file");
    KernelLock(nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).expect("flock"))
}

/// Ids of the loaded programs named like ours.
pub fn loaded_capacity_programs() -> Vec<u32> {
    // The kernel keeps 15 characters of a program's name.
    let name = &capacity_common::names::PROGRAM[..capacity_common::names::PROGRAM.len().min(15)];
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str() == Some(name))
        .map(|p| p.id())
        .collect()
}

/// Waits (up to 5 s: programs are freed after an RCU grace period) until no
/// program of ours is loaded; returns the ids still loaded after that.
pub fn programs_left_behind() -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = loaded_capacity_programs();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `capacity` with `args` and wait for it.
pub fn capacity(args: &[&str]) -> Output {
    Command::new(capacity_bin()).args(args).output().expect("run capacity")
}

/// stdout parsed as the one JSON object `--json` promises.
pub fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Asserts exit code 2 and exactly one line on stderr containing `needle`.
pub fn assert_usage_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "expected exit 2; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(lines[0].contains(needle), "stderr `{}` does not mention `{needle}`", lines[0]);
    assert!(output.stdout.is_empty(), "nothing on stdout on error, got: {}", String::from_utf8_lossy(&output.stdout));
}

/// The prologue of every test that loads programs: `None` when this process
/// cannot (the test then returns, after a loud skip message, or panics under
/// CI), otherwise the kernel lock, held for the rest of the test. The test's
/// name comes from its thread, which libtest names after the test.
///
/// ```ignore
/// let Some(_kernel) = kernel_test() else { return };
/// ```
pub fn kernel_test() -> Option<KernelLock> {
    let name = std::thread::current().name().unwrap_or("this test").to_string();
    privileged(&name).then(kernel_lock)
}

/// Keeps this thread to `cpus` (capacity's own affinity call, which its runs pin with).
fn set_affinity(cpus: &[usize]) {
    capacity::sys::host::set_affinity(cpus).expect("sched_setaffinity");
}

/// Pins this thread to the last CPU it may run on (ring_workload's
/// real-time consumer, which `off_the_last_cpu` keeps observers away from).
pub fn pin_to_last_cpu() {
    if let Some(&last) = capacity::sys::host::allowed_cpus().last() {
        set_affinity(&[last]);
    }
}

/// Runs `f` with this thread, and what it spawns, kept off the last CPU: an
/// observer must not wait behind a real-time consumer that spins there for
/// tens of ms (its sampler then sees a whole drain in one reading, and no
/// drain rate).
pub fn off_the_last_cpu<T>(f: impl FnOnce() -> T) -> T {
    let all = capacity::sys::host::allowed_cpus();
    if all.len() < 2 {
        return f();
    }
    set_affinity(&all[..all.len() - 1]);
    let out = f();
    set_affinity(&all);
    out
}

/// An unsigned field of a JSON result, or a panic that shows the result.
pub fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("`{key}` missing or not an integer in {v}"))
}

/// A numeric field of a JSON result, or a panic that shows the result.
pub fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("`{key}` missing or not a number in {v}"))
}

/// Run `capacity` with `args`, require success, and parse its one JSON object.
pub fn run_json(args: &[&str]) -> serde_json::Value {
    let out = capacity(args);
    assert!(
        out.status.success(),
        "capacity {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

/// Where the tests keep the BPF objects they build: target/<profile>/test-bpf.
fn bpf_object_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps").join("test-bpf");
    std::fs::create_dir_all(&dir).expect("create test-bpf");
    dir
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// Compiles a C BPF source with clang (`-target bpf -g -O2`, as operators
/// build theirs) into target/<profile>/test-bpf/NAME.o; its path.
pub fn compile_bpf(source: &std::path::Path) -> PathBuf {
    let name = source.file_name().and_then(|n| n.to_str()).expect("source name").trim_end_matches(".c");
    let out = bpf_object_dir().join(format!("{name}.o"));
    // clang's BPF target has no multiarch include path of its own, and
    // <linux/bpf.h> needs <asm/types.h> from it.
    let multiarch = Command::new("cc").arg("-dumpmachine").output().expect("cc -dumpmachine (install gcc)");
    let multiarch = String::from_utf8_lossy(&multiarch.stdout).trim().to_string();
    // Tests compile the same source side by side: build apart, then rename.
    let partial = out.with_extension(format!("o.{}.{:?}", std::process::id(), std::thread::current().id()));
    let status = Command::new("clang")
        .args(["-target", "bpf", "-g", "-O2", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(&partial)
        .status()
        .expect("run clang (`cargo xtask test` installs clang and libbpf-dev)");
    assert!(status.success(), "clang failed on {}", source.display());
    std::fs::rename(&partial, &out).expect("rename object");
    out
}

/// A test object from tests/bpf/NAME.bpf.c, compiled.
pub fn test_object(name: &str) -> PathBuf {
    compile_bpf(&workspace_root().join(format!("tests/bpf/{name}.bpf.c")))
}

/// The libbpf reference program of `cargo xtask bench`, compiled.
pub fn bench_reference_object() -> PathBuf {
    compile_bpf(&workspace_root().join("bench/reference/ringbuf_ref.bpf.c"))
}

/// capacity's own kernel program (the object the binary embeds), as a file.
pub fn own_object() -> PathBuf {
    let path = bpf_object_dir().join("capacity-ebpf.o");
    let partial = path.with_extension(format!("o.{}.{:?}", std::process::id(), std::thread::current().id()));
    std::fs::write(&partial, capacity::run::program::object()).expect("write the embedded object");
    std::fs::rename(&partial, &path).expect("rename object");
    path
}

/// tests/src/bin/bpf_holder.rs, started by a test: another process that
/// holds maps and programs (K of 1000 hash entries, N ring records) until
/// it is dropped. `binary` is `env!("CARGO_BIN_EXE_bpf_holder")`, which
/// only integration tests see.
pub struct Holder {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl Holder {
    /// Starts the holder with `keys` keys and `runs` records; waits until it holds them.
    pub fn start(binary: &str, keys: u32, runs: u32) -> Self {
        Self::start_through(&[], binary, keys, runs)
    }

    /// The same, started through `launcher` (a command and its arguments
    /// that run the rest, e.g. `setpriv --reuid=65534 ...`).
    pub fn start_through(launcher: &[&str], binary: &str, keys: u32, runs: u32) -> Self {
        use std::io::{BufRead, BufReader};
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .arg(test_object("holder"))
            .args([keys.to_string(), runs.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start bpf_holder");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the holder did not get ready");
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    pub fn pid(&self) -> u64 {
        self.child.id().into()
    }
}

impl Drop for Holder {
    /// Closing its stdin tells the holder to exit.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("capacity-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// podman with the settings these hosts need, deploy/podman/containers.conf
/// (runc, cgroupfs, no default ulimits), as `cargo xtask image` runs it.
pub fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", workspace_root().join("deploy/podman/containers.conf"));
    cmd
}

/// A real component a test needs is missing: under CI the test fails with
/// one line saying what and how to get it; elsewhere it skips loudly.
/// Returns false (the caller returns) when skipping.
pub fn require(test: &str, present: bool, missing: &str) -> bool {
    if present {
        return true;
    }
    if under_ci() {
        panic!("{test}: {missing}");
    }
    // Not eprintln!: libtest would hide it behind the test's "ok".
    announce(&format!("*** SKIPPED {test}: {missing} ***"));
    false
}
