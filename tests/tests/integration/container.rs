//! The image (`cargo xtask image`) run by podman as
//! deploy/kubernetes/daemonset.yaml says, with flags derived from the
//! manifest, never copied: a real Prometheus scrapes it on loopback, a map
//! and a ring held by a host process come back with their owner's name
//! (read across the PID namespace), the probes answer, and dropping each
//! added capability in turn shows the check that then fails. Without
//! SYS_ADMIN the pod stays live and says why it is not ready.
use std::{
    collections::{BTreeMap, BTreeSet},
    process::Output,
    time::Duration,
};

use capacity_tests::{capacity, json_of, kernel_test, podman, require, Holder};
use nix::sys::signal::Signal;
use serde_yaml_ng::Value;

use crate::{
    kubernetes::{manifests, one_of_kind, strings},
    watch::{free_port, get, held_map, one_value, start_prometheus, wait_for, RECORD_BYTES},
};

/// What the DaemonSet's one container asks for, read from daemonset.yaml.
struct PodSpec {
    args: Vec<String>,
    container_port: u64,
    readiness_path: String,
    liveness_path: String,
    probe_port: u64,
    host_pid: bool,
    run_as_user: Option<u64>,
    read_only: bool,
    no_new_privileges: bool,
    cap_drop: Vec<String>,
    cap_add: Vec<String>,
}

impl PodSpec {
    fn read() -> Self {
        let all = manifests();
        let daemonset = one_of_kind(&all, "DaemonSet");
        let pod = &daemonset["spec"]["template"]["spec"];
        let containers = pod["containers"].as_sequence().expect("containers");
        assert_eq!(containers.len(), 1, "one container");
        let c = &containers[0];
        let named_ports: BTreeMap<&str, u64> = c["ports"]
            .as_sequence()
            .expect("ports")
            .iter()
            .map(|p| (p["name"].as_str().unwrap_or(""), p["containerPort"].as_u64().expect("containerPort")))
            .collect();
        assert_eq!(named_ports.len(), 1, "one port: {named_ports:?}");
        let container_port = *named_ports.values().next().unwrap();
        let port_of = |v: &Value| match v {
            Value::String(name) => *named_ports.get(name.as_str()).unwrap_or_else(|| panic!("no port named {name}")),
            v => v.as_u64().expect("a probe port"),
        };
        let probe = |name: &str| {
            let get = &c[name]["httpGet"];
            (
                get["path"].as_str().unwrap_or_else(|| panic!("{name} has no httpGet path")).to_string(),
                port_of(&get["port"]),
            )
        };
        let (readiness_path, readiness_port) = probe("readinessProbe");
        let (liveness_path, liveness_port) = probe("livenessProbe");
        assert_eq!(readiness_port, liveness_port, "both probes on one port");

        let security = &c["securityContext"];
        // Every field of the securityContext is turned into a podman flag
        // below; a new one must be taught here rather than ignored.
        let known = BTreeSet::from([
            "runAsUser",
            "privileged",
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "capabilities",
            "seccompProfile",
        ]);
        for key in security.as_mapping().expect("securityContext").keys() {
            let key = key.as_str().unwrap();
            assert!(known.contains(key), "securityContext.{key}: the container test does not map it to podman yet");
        }
        assert_ne!(security["privileged"], true, "a privileged container would test nothing");
        // RuntimeDefault is what podman applies without a flag.
        assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
        Self {
            args: strings(&c["args"]).into_iter().map(String::from).collect(),
            container_port,
            readiness_path,
            liveness_path,
            probe_port: readiness_port,
            host_pid: pod["hostPID"] == true,
            run_as_user: security["runAsUser"].as_u64(),
            read_only: security["readOnlyRootFilesystem"] == true,
            no_new_privileges: security["allowPrivilegeEscalation"] == false,
            cap_drop: strings(&security["capabilities"]["drop"]).into_iter().map(String::from).collect(),
            cap_add: strings(&security["capabilities"]["add"]).into_iter().map(String::from).collect(),
        }
    }

    /// `podman run` flags for this spec, with capability `without` left out.
    fn podman_flags(&self, without: Option<&str>) -> Vec<String> {
        let mut flags = vec![];
        if self.host_pid {
            flags.push("--pid=host".to_string());
        }
        if let Some(uid) = self.run_as_user {
            flags.push(format!("--user={uid}"));
        }
        if self.read_only {
            flags.push("--read-only".into());
        }
        if self.no_new_privileges {
            flags.push("--security-opt=no-new-privileges".into());
        }
        flags.extend(self.cap_drop.iter().map(|c| format!("--cap-drop={c}")));
        flags.extend(self.cap_add.iter().filter(|c| Some(c.as_str()) != without).map(|c| format!("--cap-add={c}")));
        flags
    }

    /// The watch's `--interval` from the args.
    fn interval(&self) -> Duration {
        let at = self.args.iter().position(|a| a == "--interval").expect("--interval in the args");
        let text = &self.args[at + 1];
        let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
        let number: f64 = number.parse().expect("a number");
        Duration::from_secs_f64(match unit {
            "ms" => number / 1000.0,
            "s" | "" => number,
            "m" => number * 60.0,
            other => panic!("--interval unit {other}"),
        })
    }
}

/// A container removed (`podman rm -f`) when dropped, a failed test included.
struct Container(String);

impl Container {
    fn start(image: &str, spec: &PodSpec, without: Option<&str>, host_port: u16) -> Self {
        let name = format!("capacity-test-{}-{}", std::process::id(), without.unwrap_or("all").to_lowercase());
        let _ = podman().args(["rm", "--force", &name]).output();
        let out = podman()
            .args(["run", "--detach", "--name", &name])
            .arg(format!("--publish=127.0.0.1:{host_port}:{}", spec.container_port))
            .args(spec.podman_flags(without))
            .arg(image)
            .args(&spec.args)
            .output()
            .expect("run podman (`cargo xtask test` installs Debian's podman and runc)");
        let container = Self(name);
        assert!(out.status.success(), "podman run failed: {}", String::from_utf8_lossy(&out.stderr));
        container
    }

    fn logs(&self) -> String {
        let out: Output = podman().args(["logs", &self.0]).output().expect("podman logs");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    fn running(&self) -> bool {
        let out =
            podman().args(["inspect", "--format", "{{.State.Running}}", &self.0]).output().expect("podman inspect");
        String::from_utf8_lossy(&out.stdout).trim() == "true"
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "--force", "--time", "0", &self.0]).output();
    }
}

/// The labels and value of the classic-text sample line of `family` for map `id`.
fn series(text: &str, family: &str, id: u64) -> Option<(String, f64)> {
    let prefix = format!("{family}{{id=\"{id}\",");
    let line = text.lines().find(|l| l.starts_with(&prefix))?;
    let (labels, value) = line.rsplit_once(' ')?;
    Some((labels.to_string(), value.parse().ok()?))
}

fn owner_label(labels: &str) -> Option<&str> {
    labels.split("owner=\"").nth(1)?.split('"').next()
}

/// What one container showed after its first sample.
#[derive(Debug)]
struct Seen {
    /// The readiness path's status and body.
    ready: (u16, String),
    /// The liveness path's status.
    live: u16,
    sample_success: Option<f64>,
    owner: Option<String>,
    entries: Option<f64>,
    pending: Option<f64>,
}

fn look(spec: &PodSpec, port: u16, hash_id: u64, ring_id: u64) -> Seen {
    let text = wait_for("the first sample", || get(port, "/metrics").filter(|(s, _)| *s == 200)).1;
    let hash = series(&text, "capacity_map_entries", hash_id);
    Seen {
        ready: get(port, &spec.readiness_path).expect("the readiness path answers"),
        live: get(port, &spec.liveness_path).expect("the liveness path answers").0,
        sample_success: text
            .lines()
            .find_map(|l| l.strip_prefix("capacity_sample_success ").and_then(|v| v.parse().ok())),
        owner: hash.as_ref().and_then(|(labels, _)| owner_label(labels).map(String::from)),
        entries: hash.map(|(_, v)| v),
        pending: series(&text, "capacity_ringbuf_pending_bytes", ring_id).map(|(_, v)| v),
    }
}

/// The checks a capability can fail, by name, from what a container showed.
fn failed_checks(seen: &Seen, keys: u32, runs: u32) -> BTreeSet<&'static str> {
    let mut failed = BTreeSet::new();
    let sampling = seen.sample_success == Some(1.0) && seen.ready.0 == 200;
    if !sampling {
        failed.insert("sampling");
        // Nothing else is exported then.
        return failed;
    }
    if seen.entries != Some(f64::from(keys)) || seen.pending != Some(f64::from(runs) * RECORD_BYTES as f64) {
        failed.insert("known state");
    }
    if seen.owner.as_deref() != Some("bpf_holder") {
        failed.insert("owner");
    }
    failed
}

/// Why each capability the DaemonSet adds is there: the check that fails
/// without it. A capability not listed here is one nothing shows a need for.
const NEEDED_FOR: &[(&str, &str)] = &[
    // BPF_MAP_GET_NEXT_ID and *_GET_FD_BY_ID.
    ("SYS_ADMIN", "sampling"),
    // /proc/PID/fd of a process with capabilities the exporter lacks.
    ("SYS_PTRACE", "owner"),
    // /proc/PID/fd of a process of another user (mode 0500).
    ("DAC_READ_SEARCH", "owner"),
];

#[test]
fn the_image_runs_as_the_daemonset_says_and_needs_each_capability_it_gets() {
    const TEST: &str = "container::the_image_runs_as_the_daemonset_says_and_needs_each_capability_it_gets";
    let Some(_lock) = kernel_test() else { return };
    let image = std::env::var("CAPACITY_IMAGE").ok();
    let why = std::env::var("CAPACITY_IMAGE_ERROR").map_or_else(
        |_| "CAPACITY_IMAGE is not set: run the tests with `cargo xtask test`, which builds the image".to_string(),
        |e| format!("`cargo xtask test` could not build the image: {e}"),
    );
    if !require(TEST, image.is_some(), &why) {
        return;
    }
    let image = image.unwrap();
    let podman_works = podman().arg("--version").output().is_ok_and(|o| o.status.success());
    if !require(TEST, podman_works, "podman is missing: `cargo xtask test` installs Debian's podman and runc") {
        return;
    }
    let spec = PodSpec::read();
    let needed: BTreeSet<&str> = NEEDED_FOR.iter().map(|(cap, _)| *cap).collect();
    let added: BTreeSet<&str> = spec.cap_add.iter().map(String::as_str).collect();
    assert_eq!(added, needed, "each added capability needs a check that fails without it (NEEDED_FOR)");

    // Another user's process holding a map and a ring, with capabilities
    // the exporter lacks (as a node's agents run): its name needs both
    // SYS_PTRACE and DAC_READ_SEARCH to be read across the PID namespace.
    let (keys, runs) = (300u32, 25u32);
    let holder = Holder::start_through(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=+bpf,+perfmon",
            "--ambient-caps=+bpf,+perfmon",
        ],
        env!("CARGO_BIN_EXE_bpf_holder"),
        keys,
        runs,
    );
    let host = json_of(&capacity(&["host", "--json"]));
    let hash_id = held_map(&host, "held_hash", holder.pid())["id"].as_u64().unwrap();
    let ring_id = held_map(&host, "held_ring", holder.pid())["id"].as_u64().unwrap();

    // Everything the DaemonSet grants: every check passes, and Prometheus
    // scrapes the same figures (OpenMetrics, as it asks).
    let port = free_port();
    let container = Container::start(&image, &spec, None, port);
    let seen = look(&spec, port, hash_id, ring_id);
    assert_eq!(failed_checks(&seen, keys, runs), BTreeSet::new(), "{seen:?}\n{}", container.logs());
    assert_eq!(seen.live, 200, "{seen:?}");
    assert_eq!(spec.probe_port, spec.container_port);
    let (mut prometheus, prometheus_port, _dir) = start_prometheus(port);
    assert_eq!(one_value(prometheus_port, r#"up{job="capacity"}"#).1, 1.0);
    assert_eq!(one_value(prometheus_port, "capacity_sample_success").1, 1.0);
    let (labels, entries) = one_value(prometheus_port, &format!("capacity_map_entries{{id=\"{hash_id}\"}}"));
    assert_eq!((entries, labels["owner"].as_str()), (f64::from(keys), Some("bpf_holder")), "{labels}");
    let pending = one_value(prometheus_port, &format!("capacity_ringbuf_pending_bytes{{id=\"{ring_id}\"}}")).1;
    assert_eq!(pending, f64::from(runs) * RECORD_BYTES as f64);
    assert_eq!(prometheus.stop(Signal::SIGTERM), Some(0), "prometheus stops cleanly");
    drop(container);

    for (cap, check) in NEEDED_FOR {
        let port = free_port();
        let container = Container::start(&image, &spec, Some(cap), port);
        let seen = look(&spec, port, hash_id, ring_id);
        let failed = failed_checks(&seen, keys, runs);
        assert_eq!(seen.live, 200, "without {cap} the pod must not be restarted: {seen:?}");
        eprintln!("without {cap}: failed {failed:?}");
        assert_eq!(failed, BTreeSet::from([*check]), "without {cap}: {seen:?}\n{}", container.logs());
        if *cap == "SYS_ADMIN" {
            // The pod stays up and says why, once, however many samples fail.
            std::thread::sleep(spec.interval() + Duration::from_secs(3));
            assert!(container.running(), "watch exited without SYS_ADMIN:\n{}", container.logs());
            let logs = container.logs();
            let failures: Vec<&str> = logs.lines().filter(|l| l.contains("sample failed")).collect();
            assert_eq!(failures.len(), 1, "one line for a failure that repeats:\n{logs}");
            assert!(failures[0].contains("CAP_SYS_ADMIN"), "{}", failures[0]);
            // In a pod, sudo is no fix: the line names where the capability is granted.
            assert!(
                failures[0].contains("this runs in a container (podman): add SYS_ADMIN to its capabilities")
                    && failures[0].contains("securityContext.capabilities.add")
                    && !failures[0].contains("sudo"),
                "{}",
                failures[0]
            );
            let reason = failures[0].split("sample failed: ").nth(1).unwrap();
            let (status, body) = get(port, &spec.readiness_path).unwrap();
            assert_eq!(status, 503);
            assert!(body.contains(reason), "{} `{body}` lacks `{reason}`", spec.readiness_path);
            assert_eq!(get(port, &spec.liveness_path).unwrap().0, 200, "still live");
            let (_, text) = get(port, "/metrics").unwrap();
            assert!(text.lines().any(|l| l == "capacity_sample_success 0"), "{text}");
        }
    }
    drop(holder);
}
