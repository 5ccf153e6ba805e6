//! deploy/kubernetes: every manifest parses, the DaemonSet asks for what
//! `capacity watch` needs and nothing more, the Service and PodMonitor find
//! its pods, and the PrometheusRule is `capacity alerts --prometheus-rule`
//! verbatim and passes `promtool check rules`.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
};

use capacity_tests::{capacity, quiet_cpu};
use serde::Deserialize;
use serde_yaml_ng::Value;

fn manifests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("deploy/kubernetes")
}

/// Every YAML document of every file, by file name.
pub(crate) fn manifests() -> BTreeMap<String, Vec<Value>> {
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

pub(crate) fn one_of_kind<'a>(all: &'a BTreeMap<String, Vec<Value>>, kind: &str) -> &'a Value {
    let found: Vec<&Value> = all.values().flatten().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

pub(crate) fn strings(value: &Value) -> Vec<&str> {
    value.as_sequence().unwrap_or_else(|| panic!("not a list: {value:?}")).iter().map(|v| v.as_str().unwrap()).collect()
}

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them() {
    let _quiet = quiet_cpu();
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
    let _quiet = quiet_cpu();
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
    // Ready while sampling works; live while the sampling loop runs, so a
    // node where sampling fails is not ready but is not restarted in a loop.
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
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
    let _quiet = quiet_cpu();
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
    assert!(text.contains("SUCCESS: 10 rules found"), "{text}");
}

/// kubernetes-validate, installed by `cargo xtask test` into target/test-tools/venv.
fn kubernetes_validate() -> PathBuf {
    manifests_dir().join("../../target/test-tools/venv/bin/kubernetes-validate")
}

/// The Kubernetes releases the manifests must be valid for.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0"];

/// `kubernetes-validate --strict` (unknown fields are errors) of `file`
/// against Kubernetes `version`: (passed, output).
fn validate(file: &std::path::Path, version: &str) -> (bool, String) {
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", version])
        .arg(file)
        .output()
        .expect("run kubernetes-validate (`cargo xtask test` installs it into target/test-tools/venv)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn kustomize_renders_and_kubernetes_schemas_accept_it_from_1_29_to_1_34() {
    let _quiet = quiet_cpu();
    let tools = [("kubectl", "kubectl is missing (it comes with the machine image: /usr/bin/kubectl)")];
    for (tool, missing) in tools {
        let present = Command::new(tool).arg("version").arg("--client").output().is_ok_and(|o| o.status.success());
        if !capacity_tests::require("kubernetes::kustomize_renders", present, missing) {
            return;
        }
    }
    let present = kubernetes_validate().exists();
    if !capacity_tests::require(
        "kubernetes::kustomize_renders",
        present,
        "kubernetes-validate is missing: `cargo xtask test` installs it into target/test-tools/venv",
    ) {
        return;
    }
    let out = Command::new("kubectl").arg("kustomize").arg(manifests_dir()).output().expect("run kubectl kustomize");
    assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
    let rendered: Vec<Value> = serde_yaml_ng::Deserializer::from_slice(&out.stdout)
        .map(|d| Value::deserialize(d).expect("kustomize renders YAML"))
        .collect();
    let kinds: BTreeSet<&str> = rendered.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["DaemonSet", "Service", "PodMonitor", "PrometheusRule"]));
    assert!(
        rendered.iter().all(|d| d["metadata"]["namespace"] == "monitoring"),
        "the kustomization sets the namespace"
    );

    // Kubernetes' own kinds, as rendered, against each release's schema.
    // (The Prometheus Operator's kinds have no schema here: the PodMonitor
    // is checked field by field below, the PrometheusRule by promtool.)
    let dir = capacity_tests::TempDir::new("kubernetes-validate");
    let builtin = dir.0.join("builtin.yaml");
    let docs: Vec<String> = rendered
        .iter()
        .filter(|d| ["DaemonSet", "Service"].contains(&d["kind"].as_str().unwrap()))
        .map(|d| serde_yaml_ng::to_string(d).unwrap())
        .collect();
    std::fs::write(&builtin, docs.join("---\n")).unwrap();
    for version in KUBERNETES_VERSIONS {
        let (passed, text) = validate(&builtin, version);
        assert!(passed, "Kubernetes {version} rejects the manifests:\n{text}");
        for resource in ["daemonset/capacity", "service/capacity"] {
            assert!(text.contains(&format!("passed for resource {resource}")), "{version}: {text}");
        }
    }
    // The check can fail: a misspelt field is rejected.
    let broken = dir.0.join("broken.yaml");
    std::fs::write(&broken, docs.join("---\n").replace("hostPID:", "hostPid:")).unwrap();
    let (passed, text) = validate(&broken, KUBERNETES_VERSIONS[0]);
    assert!(!passed, "a misspelt field passed:\n{text}");
}

/// The PodMonitor's fields, as the Prometheus Operator's monitoring.coreos.com/v1
/// API defines them (its CRD schema cannot be fetched here).
#[test]
fn the_pod_monitor_uses_only_fields_the_operator_defines_and_scrapes_what_watch_serves() {
    let _quiet = quiet_cpu();
    let all = manifests();
    let monitor = one_of_kind(&all, "PodMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_mapping()
            .unwrap_or_else(|| panic!("not a mapping: {v:?}"))
            .keys()
            .map(|k| k.as_str().unwrap().into())
            .collect()
    };
    let allowed = |v: &Value, fields: &[&str], what: &str| {
        for key in keys(v) {
            assert!(fields.contains(&key.as_str()), "{what}.{key} is not a field of the operator's PodMonitor");
        }
    };
    let spec = &monitor["spec"];
    allowed(
        spec,
        &[
            "jobLabel",
            "podTargetLabels",
            "podMetricsEndpoints",
            "selector",
            "namespaceSelector",
            "sampleLimit",
            "targetLimit",
            "labelLimit",
            "labelNameLengthLimit",
            "labelValueLengthLimit",
            "attachMetadata",
        ],
        "spec",
    );
    allowed(&spec["selector"], &["matchLabels", "matchExpressions"], "spec.selector");
    let label_name = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
    };
    // The operator's Duration pattern, in the units used here.
    let duration = |s: &str| {
        let digits = s.trim_end_matches(['s', 'm', 'h']);
        !digits.is_empty() && digits.len() < s.len() && digits.chars().all(|c| c.is_ascii_digit())
    };
    let daemonset = one_of_kind(&all, "DaemonSet");
    let container = &daemonset["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"]);
    let watch_interval = args[args.iter().position(|a| *a == "--interval").unwrap() + 1];
    let endpoints = spec["podMetricsEndpoints"].as_sequence().expect("podMetricsEndpoints");
    assert_eq!(endpoints.len(), 1);
    for endpoint in endpoints {
        allowed(
            endpoint,
            &[
                "port", "portNumber", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
                "honorLabels", "honorTimestamps", "relabelings", "metricRelabelings", "enableHttp2", "followRedirects",
                "filterRunning", "proxyUrl", "basicAuth", "authorization", "oauth2", "tlsConfig", "bearerTokenSecret",
            ],
            "podMetricsEndpoints[]",
        );
        // It scrapes the container's named port at the path watch serves.
        assert_eq!(endpoint["port"], container["ports"][0]["name"]);
        assert_eq!(endpoint["path"], "/metrics");
        let interval = endpoint["interval"].as_str().unwrap();
        assert!(duration(interval), "interval {interval}");
        assert!(duration(watch_interval), "--interval {watch_interval}");
        for relabel in endpoint["relabelings"].as_sequence().into_iter().flatten() {
            allowed(
                relabel,
                &["sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"],
                "relabelings[]",
            );
            for label in strings(&relabel["sourceLabels"]) {
                assert!(label_name(label), "sourceLabels: {label}");
            }
            assert!(label_name(relabel["targetLabel"].as_str().unwrap()));
        }
    }
}
