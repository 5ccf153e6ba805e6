//! deploy/kubernetes: every manifest parses, the DaemonSet asks for what
//! `capacity watch` needs and nothing more, the Service and PodMonitor find
//! its pods, and the PrometheusRule is `capacity alerts --prometheus-rule`
//! verbatim and passes `promtool check rules`.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
};

use capacity_tests::capacity;
use serde::Deserialize;
use serde_yaml_ng::Value;

fn manifests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("deploy/kubernetes")
}

/// Every YAML document of every file, by file name.
fn manifests() -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(manifests_dir()).expect("deploy/kubernetes") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display())))
            .collect();
        all.insert(path.file_name().unwrap().to_string_lossy().into_owned(), documents);
    }
    all
}

fn one_of_kind<'a>(all: &'a BTreeMap<String, Vec<Value>>, kind: &str) -> &'a Value {
    let found: Vec<&Value> = all.values().flatten().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_sequence().unwrap_or_else(|| panic!("not a list: {value:?}")).iter().map(|v| v.as_str().unwrap()).collect()
}

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them() {
    let all = manifests();
    for (file, documents) in &all {
        assert!(!documents.is_empty(), "{file} is empty");
        for d in documents {
            assert!(d["apiVersion"].is_string() && d["kind"].is_string(), "{file}: {d:?}");
            if d["kind"] != "Kustomization" {
                assert_eq!(d["metadata"]["name"], "capacity", "{file}");
            }
        }
    }
    let kustomization = one_of_kind(&all, "Kustomization");
    let listed: BTreeSet<&str> = strings(&kustomization["resources"]).into_iter().collect();
    let files: BTreeSet<&str> = all.keys().map(String::as_str).filter(|f| *f != "kustomization.yaml").collect();
    assert_eq!(listed, files, "the kustomization lists every manifest");
    for kind in ["DaemonSet", "Service", "PodMonitor", "PrometheusRule"] {
        one_of_kind(&all, kind);
    }
}

#[test]
fn the_daemonset_gets_what_watch_needs_and_nothing_more() {
    let all = manifests();
    let daemonset = one_of_kind(&all, "DaemonSet");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true, "owners are read from the node's /proc");
    assert!(pod["hostNetwork"].is_null() || pod["hostNetwork"] == false);
    assert!(pod["hostIPC"].is_null());
    let labels = &daemonset["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&daemonset["spec"]["selector"]["matchLabels"], labels);

    let containers = pod["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let args = strings(&container["args"]);
    assert_eq!(&args[..3], ["watch", "--listen", "0.0.0.0:9435"]);
    assert_eq!(container["ports"][0]["name"], "metrics");
    assert_eq!(container["ports"][0]["containerPort"], 9435);
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    let security = &container["securityContext"];
    assert_eq!(security["privileged"], false);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    let added: BTreeSet<&str> = strings(&security["capabilities"]["add"]).into_iter().collect();
    assert_eq!(added, BTreeSet::from(["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"]));
    // Whatever is mounted from the host is mounted read-only.
    if let Some(mounts) = container["volumeMounts"].as_sequence() {
        assert!(mounts.iter().all(|m| m["readOnly"] == true), "{mounts:?}");
    }

    // The Service and the PodMonitor select these pods by the port's name.
    let service = one_of_kind(&all, "Service");
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    let monitor = one_of_kind(&all, "PodMonitor");
    assert_eq!(&monitor["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(monitor["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
}

#[test]
fn the_prometheus_rule_is_capacity_alerts_and_passes_promtool() {
    let all = manifests();
    let rule = one_of_kind(&all, "PrometheusRule");
    let out = capacity(&["alerts", "--prometheus-rule"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let generated: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rule, &generated,
        "deploy/kubernetes/prometheusrule.yaml is stale: regenerate it with `capacity alerts --prometheus-rule`"
    );

    let dir = std::env::temp_dir().join(format!("capacity-prometheusrule-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.yml");
    let file: BTreeMap<&str, &Value> = BTreeMap::from([("groups", &rule["spec"]["groups"])]);
    std::fs::write(&rules, serde_yaml_ng::to_string(&file).unwrap()).unwrap();
    let check = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("run promtool (`cargo xtask test` installs Debian's prometheus package)");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "promtool check rules: {text}{}", String::from_utf8_lossy(&check.stderr));
    assert!(text.contains("SUCCESS: 9 rules found"), "{text}");
}
