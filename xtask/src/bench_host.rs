//! `cargo xtask bench host`: what `capacity host` and `capacity watch
//! --listen` cost on a busy node. This process creates 10, 100, 1000 and
//! 10000 maps (a few of them hash maps filled with 100k entries) and holds
//! them, so the owners scan also walks a process with that many BPF fds;
//! at each count it measures the CPU time of one `host`, of one watch
//! sample once the watch's window has filled, the CPU a serving watch
//! spends between samples (its rings read every --ring-interval), a
//! scrape, and the peak RSS. The watch runs with the DaemonSet's settings:
//! a window of 40 samples (10m at 15s) and the ring sampling at 10ms.
//!
//! The goal (issue 20) is under 1 s of CPU for one `host` and one watch
//! sample at 10000 maps, growing no worse than linearly. It is reported,
//! not gated (the host is shared); a wrong entry count fails the bench.
use std::{
    io::{Read, Write},
    net::TcpStream,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::{
    setup::{describe, ensure_toolchain, step},
    table,
    tasks::{build_release_capacity, is_root},
};

const GOAL_CPU_SECONDS: f64 = 1.0;
/// Samples the measured watch takes after its window has filled: many, as
/// their CPU is the difference of two whole runs (with and without them),
/// and the 40 samples both share vary by more than a few samples' worth on
/// a shared host.
const MEASURED_SAMPLES: u32 = 20;
/// Its interval; the window holds `WINDOW_SAMPLES` of them, as the
/// DaemonSet's `--window 10m` holds 40 samples of `--interval 15s`.
const WATCH_INTERVAL: &str = "250ms";
const WINDOW_SAMPLES: u32 = 40;
const WATCH_WINDOW: &str = "10s";
/// The DaemonSet's ring sampling (watch's default, passed so the bench
/// says what it measured).
const RING_INTERVAL: &str = "10ms";
/// How long a serving watch is watched between two samples.
const IDLE: Duration = Duration::from_secs(3);

#[derive(Debug, Args)]
pub struct HostBenchArgs {
    /// Map counts to measure at, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [10u32, 100, 1000, 10000])]
    maps: Vec<u32>,
    /// Hash maps filled with --big-entries entries, among the maps from the first count on.
    #[arg(long, default_value_t = 4)]
    big_maps: u32,
    /// Entries in each big hash map.
    #[arg(long, default_value_t = 100_000)]
    big_entries: u32,
    /// Print one JSON object (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// bpf(2) commands and map types used here (include/uapi/linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
/// Entries of the small maps, half of them filled in hash maps.
const SMALL_ENTRIES: u32 = 16;

/// `union bpf_attr` for BPF_MAP_CREATE, up to `map_name`.
#[repr(C)]
#[derive(Default)]
struct CreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// `union bpf_attr` for BPF_MAP_UPDATE_ELEM.
#[repr(C)]
struct UpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a repr(C) prefix of union bpf_attr that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(ret)
}

fn create_map(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, name: &str) -> Result<OwnedFd> {
    let mut attr = CreateAttr { map_type, key_size, value_size, max_entries, ..Default::default() };
    attr.map_name[..name.len()].copy_from_slice(name.as_bytes());
    let fd = bpf(BPF_MAP_CREATE, &mut attr).with_context(|| format!("BPF_MAP_CREATE {name}"))?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Puts keys 0..n (u32) with value key (u64) into a hash map.
fn fill(map: &OwnedFd, n: u32) -> Result<()> {
    for key in 0..n {
        let value = u64::from(key);
        let mut attr = UpdateAttr {
            map_fd: map.as_raw_fd() as u32,
            _pad: 0,
            key: &key as *const u32 as u64,
            value: &value as *const u64 as u64,
            flags: 0,
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).context("BPF_MAP_UPDATE_ELEM")?;
    }
    Ok(())
}

/// The maps this process holds, grown count by count.
struct Maps {
    fds: Vec<OwnedFd>,
    big_names: Vec<String>,
}

impl Maps {
    /// Grows to `count` maps: the big hash maps first, then one array in
    /// ten, one ring buffer in a hundred, the rest small hash maps half full.
    fn grow_to(&mut self, count: u32, args: &HostBenchArgs) -> Result<()> {
        while (self.fds.len() as u32) < count {
            let i = self.fds.len() as u32;
            let fd = if i < args.big_maps {
                let name = format!("cb_big{i}");
                let fd = create_map(BPF_MAP_TYPE_HASH, 4, 8, args.big_entries, &name)?;
                fill(&fd, args.big_entries)?;
                self.big_names.push(name);
                fd
            } else if i % 100 == 1 {
                create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, &format!("cb_ring{i}"))?
            } else if i.is_multiple_of(10) {
                create_map(BPF_MAP_TYPE_ARRAY, 4, 8, SMALL_ENTRIES, &format!("cb_array{i}"))?
            } else {
                let fd = create_map(BPF_MAP_TYPE_HASH, 4, 8, SMALL_ENTRIES, &format!("cb_hash{i}"))?;
                fill(&fd, SMALL_ENTRIES / 2)?;
                fd
            };
            self.fds.push(fd);
        }
        Ok(())
    }
}

/// A child's CPU time (user + system) and peak RSS, from wait4(2).
struct Usage {
    cpu_s: f64,
    wall_s: f64,
    max_rss_bytes: u64,
    stdout: String,
}

fn run_measured(cmd: &mut Command) -> Result<Usage> {
    eprintln!("xtask: $ {}", describe(cmd));
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let mut stdout = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout)?;
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which std has not reaped.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    if pid < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let wall_s = start.elapsed().as_secs_f64();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("`{}` failed (wait status {status})", describe(cmd));
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage {
        cpu_s: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        wall_s,
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
        stdout,
    })
}

/// GET /metrics over loopback; the wall time and body length.
fn scrape(port: u16, accept: Option<&str>) -> Result<(f64, usize)> {
    let start = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}Connection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let seconds = start.elapsed().as_secs_f64();
    if !response.starts_with(b"HTTP/1.1 200") && !response.starts_with(b"HTTP/1.0 200") {
        bail!("/metrics answered {}", String::from_utf8_lossy(&response[..response.len().min(80)]));
    }
    Ok((seconds, response.len()))
}

/// One row of the report.
struct Row {
    maps_created: u32,
    maps_seen: u64,
    host_cpu_s: f64,
    host_wall_s: f64,
    sample_cpu_s: f64,
    /// CPU seconds per second of a serving watch between samples.
    idle_cpu_fraction: f64,
    scrape_ms: f64,
    scrape_bytes: usize,
    rss_bytes: u64,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One watch sample's CPU: watch with N samples minus watch with 1 sample,
/// over N - 1, each with the window filled first; and its peak RSS.
fn watch_sample(capacity: &Path) -> Result<(f64, u64)> {
    let watch = |samples: u32| -> Result<Usage> {
        run_measured(
            Command::new(capacity)
                .args(["watch", "--listen", "127.0.0.1:0", "--interval", WATCH_INTERVAL, "--window", WATCH_WINDOW])
                .args(["--ring-interval", RING_INTERVAL, "--samples", &samples.to_string(), "--json"]),
        )
    };
    let filled = watch(WINDOW_SAMPLES)?;
    let more = watch(WINDOW_SAMPLES + MEASURED_SAMPLES)?;
    let per_sample = (more.cpu_s - filled.cpu_s) / f64::from(MEASURED_SAMPLES);
    Ok((per_sample.max(0.0), filled.max_rss_bytes.max(more.max_rss_bytes)))
}

/// CPU seconds every thread of `pid` has run (schedstat, nanoseconds:
/// finer than the clock ticks of /proc/PID/stat).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let mut ns = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).context("reading the watch's threads")? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        ns += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(ns as f64 / 1e9)
}

/// Of a serving watch with the DaemonSet's ring sampling: its CPU per
/// second between two samples, the median scrape time (classic text) and
/// the body size.
fn serving(capacity: &Path) -> Result<(f64, f64, usize)> {
    let port = free_port()?;
    let mut watch = Command::new(capacity)
        .args(["watch", "--listen", &format!("127.0.0.1:{port}"), "--interval", "1h", "--window", "2h"])
        .args(["--ring-interval", RING_INTERVAL])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while scrape(port, None).is_err() {
            if Instant::now() > deadline {
                bail!("watch served no sample within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The first sample is served: from here to the next (in 1h) only
        // the ring sampling runs.
        let before = cpu_seconds(watch.id())?;
        std::thread::sleep(IDLE);
        let idle = (cpu_seconds(watch.id())? - before) / IDLE.as_secs_f64();
        let mut times = vec![];
        let mut bytes = 0;
        for _ in 0..9 {
            let (seconds, size) = scrape(port, None)?;
            times.push(seconds);
            bytes = size;
        }
        times.sort_by(f64::total_cmp);
        Ok((idle, times[times.len() / 2], bytes))
    })();
    let _ = watch.kill();
    let _ = watch.wait();
    result
}

fn measure(capacity: &Path, maps: &Maps, created: u32, args: &HostBenchArgs) -> Result<Row> {
    let host = run_measured(Command::new(capacity).args(["host", "--json"]))?;
    let json: Value = serde_json::from_str(&host.stdout).context("capacity host printed no JSON")?;
    let seen = json["maps"].as_array().context("no maps in capacity host's JSON")?;
    // The bench is only worth its figures if the big maps are counted exactly.
    for name in &maps.big_names {
        let map = seen.iter().find(|m| m["name"] == name.as_str()).with_context(|| format!("host lists no {name}"))?;
        if map["entries"].as_u64() != Some(u64::from(args.big_entries)) {
            bail!("host counted {} entries in {name}, {} were put in: {map}", map["entries"], args.big_entries);
        }
    }
    let (sample_cpu_s, watch_rss) = watch_sample(capacity)?;
    let (idle_cpu_fraction, scrape_s, scrape_bytes) = serving(capacity)?;
    Ok(Row {
        maps_created: created,
        maps_seen: seen.len() as u64,
        host_cpu_s: host.cpu_s,
        host_wall_s: host.wall_s,
        sample_cpu_s,
        idle_cpu_fraction,
        scrape_ms: scrape_s * 1e3,
        scrape_bytes,
        rss_bytes: host.max_rss_bytes.max(watch_rss),
    })
}

/// Raises this process's open-file limit to its hard limit: it holds every map.
fn raise_fd_limit(needed: u32) -> Result<()> {
    // SAFETY: plain getrlimit/setrlimit on a stack struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        if limit.rlim_max < u64::from(needed) + 100 {
            bail!("the open-file hard limit {} is below {} maps: raise it (ulimit -Hn)", limit.rlim_max, needed);
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    Ok(())
}

pub fn run(args: &HostBenchArgs) -> Result<()> {
    if args.maps.is_empty() || args.maps.windows(2).any(|w| w[0] >= w[1]) || args.maps[0] < args.big_maps {
        bail!("--maps must be ascending and the first at least --big-maps ({})", args.big_maps);
    }
    if !is_root() {
        bail!("the bench creates BPF maps and runs `capacity host`: run it as root");
    }
    let toolchain = ensure_toolchain()?;
    let capacity = build_release_capacity(&toolchain)?;
    raise_fd_limit(*args.maps.last().unwrap())?;
    let mut maps = Maps { fds: vec![], big_names: vec![] };
    let mut rows = vec![];
    for &count in &args.maps {
        step(&format!("creating maps up to {count} ({} hash maps of {} entries)", args.big_maps, args.big_entries));
        maps.grow_to(count, args)?;
        step(&format!("measuring at {count} maps"));
        rows.push(measure(&capacity, &maps, count, args)?);
    }
    drop(maps);
    report(&rows, args)
}

fn report(rows: &[Row], args: &HostBenchArgs) -> Result<()> {
    let last = rows.last().unwrap();
    // CPU per map at the largest count over that at the one before: at most
    // about 1 when the cost grows no worse than linearly.
    let growth = |f: fn(&Row) -> f64| {
        let [.., a, b] = rows else { return None };
        Some((f(b) / f64::from(b.maps_created)) / (f(a) / f64::from(a.maps_created)))
    };
    let (host_growth, sample_growth) = (growth(|r| r.host_cpu_s), growth(|r| r.sample_cpu_s));
    let met = last.host_cpu_s < GOAL_CPU_SECONDS
        && last.sample_cpu_s < GOAL_CPU_SECONDS
        && host_growth.is_none_or(|g| g <= 1.25)
        && sample_growth.is_none_or(|g| g <= 1.25);
    if args.json {
        let rows: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "maps_created": r.maps_created, "maps_seen": r.maps_seen,
                    "host_cpu_s": r.host_cpu_s, "host_wall_s": r.host_wall_s,
                    "watch_sample_cpu_s": r.sample_cpu_s, "watch_idle_cpu_fraction": r.idle_cpu_fraction, "scrape_ms": r.scrape_ms,
                    "scrape_bytes": r.scrape_bytes, "rss_bytes": r.rss_bytes,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"rows": rows, "big_maps": args.big_maps, "big_entries": args.big_entries,
                   "host_cpu_per_map_growth": host_growth, "sample_cpu_per_map_growth": sample_growth, "goal_met": met})
        );
        return Ok(());
    }
    let table_rows = rows.iter().map(|r| {
        vec![
            r.maps_created.to_string(),
            r.maps_seen.to_string(),
            format!("{:.3}", r.host_cpu_s),
            format!("{:.3}", r.host_wall_s),
            format!("{:.3}", r.sample_cpu_s),
            format!("{:.2}", r.idle_cpu_fraction * 100.0),
            format!("{:.1}", r.scrape_ms),
            format!("{:.0}", r.scrape_bytes as f64 / 1024.0),
            format!("{:.0}", r.rss_bytes as f64 / (1 << 20) as f64),
        ]
    });
    println!(
        "{}",
        table::plain(
            [
                "maps", "seen", "host cpu s", "host wall s", "sample cpu s", "idle cpu %", "scrape ms", "scrape KiB",
                "rss MiB"
            ],
            table_rows,
            &[0, 1, 2, 3, 4, 5, 6, 7, 8],
        )
    );
    let ratio = |g: Option<f64>| g.map_or("-".into(), |g| format!("{g:.2}"));
    println!(
        "watch as the DaemonSet runs it: a window of {WINDOW_SAMPLES} samples, rings read every {RING_INTERVAL} \
         (idle cpu: between samples, % of a core)"
    );
    println!(
        "{} hash maps of {} entries among them, counted exactly; CPU per map, last count over the one before: host {}, watch sample {}\n\
         goal (< {GOAL_CPU_SECONDS} s CPU each at {} maps, growing no worse than linearly): {}",
        args.big_maps,
        args.big_entries,
        ratio(host_growth),
        ratio(sample_growth),
        last.maps_created,
        if met { "met" } else { "NOT met" }
    );
    Ok(())
}
