//! `capacity watch`: a real Prometheus (Debian's) scrapes `capacity watch
//! --listen` on loopback and its HTTP API returns the series of a map and a
//! ring of known state; a map filled at a known rate is forecast to fill
//! when the arithmetic says; SIGINT and SIGTERM stop it with exit 0.
use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::fd::{AsFd, AsRawFd},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use capacity::memory::{maps::BpfMap, MapKind, MapSpec};
use capacity_tests::{assert_usage_error, capacity, capacity_bin, json_of, kernel_test, privileged, Holder, TempDir};
use nix::{
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use serde_json::Value;

/// holder.bpf.c: records of 100 bytes (112 with header and padding), 1000
/// entries per hash map, a 64 KiB ring.
pub(crate) const RECORD_BYTES: u64 = 112;
pub(crate) const MAX_ENTRIES: u64 = 1000;
const RING_SIZE: u64 = 64 * 1024;

/// Everything a test starts is bounded by this.
const PATIENCE: Duration = Duration::from_secs(60);

/// A child process stopped (SIGKILL) if the test fails before stopping it.
pub(crate) struct Running(pub(crate) Option<Child>);

impl Running {
    /// Sends `signal` and waits (bounded) for the exit code.
    pub(crate) fn stop(&mut self, signal: Signal) -> Option<i32> {
        let mut child = self.0.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), signal).expect("signal");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{signal} did not stop the process within 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET over loopback: (status, body).
pub(crate) fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_accepting(port, path, None).map(|(status, _, body)| (status, body))
}

/// GET over loopback with an Accept header (none when `accept` is None):
/// (status, content type, body).
pub(crate) fn get_accepting(port: u16, path: &str, accept: Option<&str>) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}Connection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .map_or(String::new(), |(_, v)| v.trim().to_string());
    Some((status, content_type, body.to_string()))
}

pub(crate) fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what} after {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_watch(port: u16, interval: &str, window: &str) -> Running {
    let child = Command::new(capacity_bin())
        .args(["watch", "--listen", &format!("127.0.0.1:{port}"), "--interval", interval, "--window", window])
        .stdout(Stdio::null())
        .spawn()
        .expect("start capacity watch");
    let running = Running(Some(child));
    wait_for("/healthz to answer 200", || get(port, "/healthz").filter(|(s, _)| *s == 200));
    running
}

/// What Prometheus 2.42 sends when it scrapes.
const OPENMETRICS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Debian's Python, where python3-prometheus-client installs.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// `NAME TYPE` of every family the reference OpenMetrics parser
/// (prometheus_client.openmetrics.parser, Debian's python3-prometheus-client)
/// reads from `text`; it fails on anything that is not OpenMetrics.
fn openmetrics_families(text: &str) -> Vec<String> {
    const PARSE: &str = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                         for f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name, f.type)\n";
    let out = with_stdin(Command::new(DEBIAN_PYTHON).args(["-c", PARSE]), text)
        .expect("run /usr/bin/python3 (`cargo xtask test` installs Debian's python3-prometheus-client)");
    assert!(
        out.status.success(),
        "the OpenMetrics parser rejects the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// `promtool check metrics` (classic text format only) passes on `text`.
fn promtool_check_metrics(text: &str) {
    let out = with_stdin(Command::new("promtool").args(["check", "metrics"]), text)
        .expect("run promtool (`cargo xtask test` installs Debian's prometheus package)");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `command` with `input` on its stdin; its output.
fn with_stdin(command: &mut Command, input: &str) -> std::io::Result<std::process::Output> {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    child.stdin.take().expect("piped").write_all(input.as_bytes())?;
    child.wait_with_output()
}

/// Debian's Prometheus on loopback scraping 127.0.0.1:`target_port` every
/// second: the process, its port and its data directory (removed on drop).
pub(crate) fn start_prometheus(target_port: u16) -> (Running, u16, TempDir) {
    let dir = TempDir::new(&format!("prometheus-{target_port}"));
    let prometheus_port = free_port();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: capacity\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();
    let prometheus = Running(Some(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus (`cargo xtask test` installs Debian's prometheus package)"),
    ));
    (prometheus, prometheus_port, dir)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query through Prometheus' HTTP API: its result vector.
pub(crate) fn query(port: u16, promql: &str) -> Vec<Value> {
    let Some((200, body)) = get(port, &format!("/api/v1/query?query={}", percent_encode(promql))) else {
        return vec![];
    };
    let json: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
    assert_eq!(json["status"], "success", "{json}");
    json["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The one sample `promql` returns, once Prometheus has it.
pub(crate) fn one_value(port: u16, promql: &str) -> (Value, f64) {
    let series = wait_for(promql, || Some(query(port, promql)).filter(|r| !r.is_empty()));
    assert_eq!(series.len(), 1, "{promql}: {series:?}");
    let value = series[0]["value"][1].as_str().unwrap().parse().unwrap();
    (series[0]["metric"].clone(), value)
}

/// A sample line's value in the exporter's own text.
fn metric(text: &str, name: &str, id: u64) -> Option<f64> {
    let prefix = format!("{name}{{id=\"{id}\",");
    text.lines().find(|l| l.starts_with(&prefix))?.rsplit(' ').next()?.parse().ok()
}

/// `capacity host --json`'s map named `name` held by `pid`.
pub(crate) fn held_map(host: &Value, name: &str, pid: u64) -> Value {
    host["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name && m["owners"].as_array().unwrap().iter().any(|o| o["pid"] == pid))
        .unwrap_or_else(|| panic!("no map {name} held by {pid}: {host}"))
        .clone()
}

#[test]
fn prometheus_scrapes_watch_and_reads_a_known_map_and_ring() {
    let Some(_lock) = kernel_test() else { return };
    let (keys, runs) = (250u32, 40u32);
    let holder = Holder::start(env!("CARGO_BIN_EXE_bpf_holder"), keys, runs);
    let host = capacity(&["host", "--json"]);
    let host = json_of(&host);
    let pid = holder.pid();
    let hash = held_map(&host, "held_hash", pid);
    let ring = held_map(&host, "held_ring", pid);
    let (hash_id, ring_id) = (hash["id"].as_u64().unwrap(), ring["id"].as_u64().unwrap());

    let watch_port = free_port();
    let mut watch = start_watch(watch_port, "500ms", "30s");
    // The exporter's own text: OpenMetrics with the contract's families to
    // a client that asks for it (a family without series, such as
    // exhaustion here, is left out), read by the reference parser ...
    let (status, content_type, text) = get_accepting(watch_port, "/metrics", Some(OPENMETRICS_ACCEPT)).unwrap();
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"), "{content_type}");
    for family in [
        "# TYPE capacity_map_memory_bytes gauge",
        "# TYPE capacity_map_entries gauge",
        "# TYPE capacity_map_pressure_ratio gauge",
        "# TYPE capacity_ringbuf_pending_bytes gauge",
        "# TYPE capacity_prog_run_count counter",
        "# TYPE capacity_prog_recursion_misses counter",
        "# TYPE capacity_sample_success gauge",
        "# EOF",
    ] {
        assert!(text.contains(family), "missing `{family}` in:\n{text}");
    }
    assert!(text.lines().any(|l| l == "capacity_sample_success 1"), "{text}");
    let families = openmetrics_families(&text);
    assert!(families.iter().any(|f| f == "capacity_prog_run_count counter"), "{families:?}");
    assert!(families.iter().any(|f| f == "capacity_map_entries gauge"), "{families:?}");
    // ... and the classic text format (0.0.4) to one that does not, which
    // promtool reads.
    let (status, content_type, classic) = get_accepting(watch_port, "/metrics", None).unwrap();
    assert_eq!((status, content_type.as_str()), (200, "text/plain; version=0.0.4; charset=utf-8"));
    assert!(classic.contains("# TYPE capacity_prog_run_count_total counter\n"), "{classic}");
    assert!(!classic.contains("# EOF"), "{classic}");
    promtool_check_metrics(&classic);

    let (mut prometheus, prometheus_port, _dir) = start_prometheus(watch_port);
    let (labels, up) = one_value(prometheus_port, r#"up{job="capacity"}"#);
    assert_eq!(up, 1.0, "{labels}");
    assert_eq!(one_value(prometheus_port, "capacity_sample_success").1, 1.0);
    let (labels, entries) = one_value(prometheus_port, &format!("capacity_map_entries{{id=\"{hash_id}\"}}"));
    assert_eq!(entries, f64::from(keys));
    assert_eq!(labels["name"], "held_hash");
    assert_eq!(labels["type"], "hash");
    assert_eq!(labels["owner"], "bpf_holder");
    assert_eq!(labels["job"], "capacity");
    let by_id = |name: &str, id: u64| one_value(prometheus_port, &format!("{name}{{id=\"{id}\"}}")).1;
    assert_eq!(by_id("capacity_map_max_entries", hash_id), MAX_ENTRIES as f64);
    assert_eq!(by_id("capacity_map_pressure_ratio", hash_id), f64::from(keys) / MAX_ENTRIES as f64);
    assert_eq!(by_id("capacity_map_memory_bytes", hash_id), hash["memlock_bytes"].as_f64().unwrap());
    let pending = u64::from(runs) * RECORD_BYTES;
    assert_eq!(by_id("capacity_ringbuf_pending_bytes", ring_id), pending as f64);
    assert_eq!(by_id("capacity_ringbuf_size_bytes", ring_id), RING_SIZE as f64);
    // Nobody consumes the held ring: its high-water mark is its backlog.
    assert_eq!(by_id("capacity_ringbuf_pending_bytes_max", ring_id), pending as f64);
    assert_eq!(by_id("capacity_map_pressure_ratio", ring_id), pending as f64 / RING_SIZE as f64);
    assert_eq!(by_id("capacity_map_memory_bytes", ring_id), ring["memlock_bytes"].as_f64().unwrap());
    // Flat series: no time to exhaustion for either.
    assert!(query(prometheus_port, &format!("capacity_map_exhaustion_seconds{{id=\"{hash_id}\"}}")).is_empty());
    assert!(query(prometheus_port, &format!("capacity_ringbuf_exhaustion_seconds{{id=\"{ring_id}\"}}")).is_empty());
    // The holder keeps running held_tick: its run counter is exported.
    let (labels, _) =
        one_value(prometheus_port, r#"capacity_prog_run_count_total{name="held_tick",owner="bpf_holder"}"#);
    assert_eq!(labels["type"], "socket-filter", "{labels}");

    assert_eq!(prometheus.stop(Signal::SIGTERM), Some(0), "prometheus stops cleanly");
    assert_eq!(watch.stop(Signal::SIGTERM), Some(0), "SIGTERM is a clean stop");
    assert!(get(watch_port, "/metrics").is_none(), "the exporter's port is closed");
    drop(holder);
}

#[test]
fn a_map_filled_at_a_known_rate_is_forecast_to_fill_by_arithmetic() {
    let Some(_lock) = kernel_test() else { return };
    const MAX: u32 = 100_000;
    const RATE: f64 = 400.0; // entries per second
    let spec = MapSpec {
        kind: MapKind::Hash,
        entries: MAX,
        key_size: 4,
        value_size: 8,
        prealloc: true,
        filled: 0,
        mmapable: false,
    };
    let map = BpfMap::create(&spec, 1).expect("create a hash map");
    let id = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", map.as_fd().as_raw_fd()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("map_id:").map(|v| v.trim().parse::<u64>().unwrap()))
        .expect("map_id in fdinfo");
    let data = aya::maps::MapData::from_fd(map.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let mut hash: aya::maps::HashMap<_, u32, u64> =
        aya::maps::HashMap::try_from(aya::maps::Map::HashMap(data)).unwrap();

    // entries(t) = floor(RATE × t): the filler catches up to the line
    // whenever it runs, however late it is scheduled.
    let stop = Arc::new(AtomicBool::new(false));
    let filler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut next = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let target = ((start.elapsed().as_secs_f64() * RATE) as u32).min(MAX);
                while next < target {
                    hash.insert(next, 0, 0).expect("insert");
                    next += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let port = free_port();
    let mut watch = start_watch(port, "250ms", "8s");
    let (entries, eta) = wait_for("a forecast over at least 6 s of filling", || {
        let (_, text) = get(port, "/metrics")?;
        let entries = metric(&text, "capacity_map_entries", id)?;
        let eta = metric(&text, "capacity_map_exhaustion_seconds", id)?;
        (entries >= 6.0 * RATE).then_some((entries, eta))
    });
    stop.store(true, Ordering::Relaxed);
    filler.join().unwrap();
    let expected = (f64::from(MAX) - entries) / RATE;
    let error = (eta - expected).abs() / expected;
    eprintln!(
        "forecast {eta:.1} s, arithmetic {expected:.1} s ({entries} entries at {RATE}/s of {MAX}): {:.2}% apart",
        error * 100.0
    );
    assert!(error < 0.05, "forecast {eta:.1} s, arithmetic {expected:.1} s ({entries} entries at {RATE}/s of {MAX})");

    // Once filling stops, the window flattens and the forecast goes away.
    wait_for("the forecast to disappear when filling stops", || {
        let (_, text) = get(port, "/metrics")?;
        metric(&text, "capacity_map_exhaustion_seconds", id).is_none().then_some(())
    });
    assert_eq!(watch.stop(Signal::SIGINT), Some(0), "SIGINT is a clean stop");
    drop(map);
}

#[test]
fn watch_samples_then_prints_one_json_object() {
    let Some(_lock) = kernel_test() else { return };
    let holder = Holder::start(env!("CARGO_BIN_EXE_bpf_holder"), 10, 3);
    let out = capacity(&["watch", "--interval", "200ms", "--window", "2s", "--samples", "3", "--json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["samples"], 3);
    assert_eq!(json["stopped_by"], "samples");
    let pid = holder.pid();
    let ring = json["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "held_ring" && m["owner"] == "bpf_holder" && m["ring"].is_object())
        .unwrap_or_else(|| panic!("held_ring of {pid} missing: {json}"));
    assert_eq!(ring["ring"]["pending_bytes"], 3 * RECORD_BYTES);
    assert_eq!(ring["trend_per_s"], 0.0, "a still ring has a flat trend: {ring}");
    assert_eq!(ring["exhaustion_seconds"], Value::Null);
}

#[test]
fn bad_watch_options_are_one_line_and_exit_2() {
    assert_usage_error(&capacity(&["watch", "--listen", "nowhere"]), "--listen");
    assert_usage_error(&capacity(&["watch", "--interval", "10s", "--window", "15s"]), "--window");
    assert_usage_error(&capacity(&["watch", "--samples", "0"]), "--samples");
    if !privileged("bad_watch_options_are_one_line_and_exit_2") {
        return;
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_usage_error(&capacity(&["watch", "--listen", &addr, "--samples", "1"]), "cannot listen");
}
