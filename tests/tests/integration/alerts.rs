//! `capacity alerts` (no privileges): the rules pass Debian's `promtool
//! check rules`, and `promtool test rules` fires exactly the expected alerts
//! on series written for the test.
use std::process::Command;

use capacity_tests::{assert_usage_error, capacity, quiet_cpu, TempDir};

fn promtool(args: &[&str], dir: &TempDir) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(&dir.0)
        .output()
        .expect("run promtool (`cargo xtask test` installs Debian's prometheus package)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn alerts(args: &[&str]) -> String {
    let out = capacity(&[&["alerts"], args].concat());
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Series for every rule, with one that must fire and one that must not.
const RULE_TESTS: &str = r#"
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'capacity_map_pressure_ratio{id="1",name="warm",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '0.72x20'
      - series: 'capacity_map_pressure_ratio{id="2",name="hot",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '0.9x20'
      - series: 'capacity_map_pressure_ratio{id="3",name="full",type="lru_hash",owner="agent",instance="n1",job="capacity"}'
        values: '0.97x20'
      - series: 'capacity_map_pressure_ratio{id="4",name="cool",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '0.5x20'
      # A ring's pressure is its fill: the ring rules, not the map rules, alert on it.
      - series: 'capacity_map_pressure_ratio{id="5",name="events",type="ringbuf",owner="agent",instance="n1",job="capacity"}'
        values: '0.885x20'
      - series: 'capacity_map_exhaustion_seconds{id="1",name="warm",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '600x20'
      - series: 'capacity_map_exhaustion_seconds{id="4",name="cool",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '7200x20'
      # 30 entries a minute: 450 at 15m, 2250 an hour later, over 1000.
      - series: 'capacity_map_entries{id="6",name="growing",type="hash",owner="agent",instance="n2",job="capacity"}'
        values: '0+30x20'
      - series: 'capacity_map_max_entries{id="6",name="growing",type="hash",owner="agent",instance="n2",job="capacity"}'
        values: '1000x20'
      - series: 'capacity_map_entries{id="7",name="steady",type="hash",owner="agent",instance="n2",job="capacity"}'
        values: '500x20'
      - series: 'capacity_map_max_entries{id="7",name="steady",type="hash",owner="agent",instance="n2",job="capacity"}'
        values: '1000x20'
      - series: 'capacity_ringbuf_pending_bytes{id="5",name="events",type="ringbuf",owner="agent",instance="n1",job="capacity"}'
        values: '58000x20'
      - series: 'capacity_ringbuf_size_bytes{id="5",name="events",type="ringbuf",owner="agent",instance="n1",job="capacity"}'
        values: '65536x20'
      # A ring whose backlog between samples peaked at 95% of its size; another at 50%.
      - series: 'capacity_ringbuf_pending_bytes_max{id="5",name="events",type="ringbuf",owner="agent",instance="n1",job="capacity"}'
        values: '62259.2x20'
      - series: 'capacity_ringbuf_pending_bytes_max{id="11",name="calm",type="ringbuf",owner="agent",instance="n1",job="capacity"}'
        values: '32768x20'
      - series: 'capacity_ringbuf_size_bytes{id="11",name="calm",type="ringbuf",owner="agent",instance="n1",job="capacity"}'
        values: '65536x20'
      - series: 'capacity_prog_recursion_misses_total{id="9",name="trace",type="tracepoint",owner="agent",instance="n1",job="capacity"}'
        values: '0x9 3x10'
      - series: 'capacity_prog_recursion_misses_total{id="10",name="quiet",type="tracepoint",owner="agent",instance="n1",job="capacity"}'
        values: '5x20'
      # n3's exporter lacks its privileges from 4m on; n1's samples succeed.
      - series: 'capacity_sample_success{instance="n3",job="capacity"}'
        values: '1x3 0x17'
      - series: 'capacity_sample_success{instance="n1",job="capacity"}'
        values: '1x20'
      # n1: 1.2 MB of maps, over a 1 MiB budget; n2: 0.5 MB.
      - series: 'capacity_map_memory_bytes{id="1",name="warm",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '600000x20'
      - series: 'capacity_map_memory_bytes{id="2",name="hot",type="hash",owner="agent",instance="n1",job="capacity"}'
        values: '600000x20'
      - series: 'capacity_map_memory_bytes{id="1",name="warm",type="hash",owner="agent",instance="n2",job="capacity"}'
        values: '500000x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: BpfMapPressureWarning
        exp_alerts:
          - exp_labels: {id: "1", name: warm, type: hash, owner: agent, instance: n1, job: capacity, level: warning, severity: warning}
            exp_annotations:
              summary: BPF map warm (id 1) on n1 is 72% full
              description: BPF map is in the warning level (70% to 85% full) for 5m.
      - eval_time: 15m
        alertname: BpfMapPressureCritical
        exp_alerts:
          - exp_labels: {id: "2", name: hot, type: hash, owner: agent, instance: n1, job: capacity, level: critical, severity: critical}
            exp_annotations:
              summary: BPF map hot (id 2) on n1 is 90% full
              description: BPF map is in the critical level (85% to 95% full) for 5m.
      - eval_time: 15m
        alertname: BpfMapPressureExhausted
        exp_alerts:
          - exp_labels: {id: "3", name: full, type: lru_hash, owner: agent, instance: n1, job: capacity, level: exhausted, severity: critical}
            exp_annotations:
              summary: BPF map full (id 3) on n1 is 97% full
              description: BPF map is in the exhausted level (at or above 95% full) for 5m.
      # Not yet: the level holds for 5m before it fires.
      - eval_time: 4m
        alertname: BpfMapPressureWarning
        exp_alerts: []
      - eval_time: 15m
        alertname: BpfMapFullWithinHorizon
        exp_alerts:
          - exp_labels: {id: "1", name: warm, type: hash, owner: agent, instance: n1, job: capacity, severity: warning}
            exp_annotations:
              summary: BPF map warm (id 1) on n1 is forecast to reach max_entries within 1h
              description: A linear fit of its entries (the exporter's capacity_map_exhaustion_seconds, or predict_linear over 30m of history) reaches max_entries within 1h.
          - exp_labels: {id: "6", name: growing, type: hash, owner: agent, instance: n2, job: capacity, severity: warning}
            exp_annotations:
              summary: BPF map growing (id 6) on n2 is forecast to reach max_entries within 1h
              description: A linear fit of its entries (the exporter's capacity_map_exhaustion_seconds, or predict_linear over 30m of history) reaches max_entries within 1h.
      - eval_time: 15m
        alertname: BpfRingbufFillCritical
        exp_alerts:
          - exp_labels: {id: "5", name: events, type: ringbuf, owner: agent, instance: n1, job: capacity, level: critical, severity: critical}
            exp_annotations:
              summary: BPF ring buffer events (id 5) on n1 is 88.5% full
              description: BPF ring buffer is in the critical level (85% to 95% full) for 2m.
      - eval_time: 15m
        alertname: BpfRingbufFillWarning
        exp_alerts: []
      - eval_time: 15m
        alertname: CapacityRingNearlyFull
        exp_alerts:
          - exp_labels: {id: "5", name: events, type: ringbuf, owner: agent, instance: n1, job: capacity, severity: warning}
            exp_annotations:
              summary: BPF ring buffer events (id 5) on n1 came 95% full
              description: "Its highest backlog between two samples (sampled every watch --ring-interval) reached 90% of its size: records were likely dropped. `capacity observe` sizes it."
      - eval_time: 15m
        alertname: BpfProgRecursionMissesRising
        exp_alerts:
          - exp_labels: {id: "9", name: trace, type: tracepoint, owner: agent, instance: n1, job: capacity, severity: warning}
            exp_annotations:
              summary: BPF program trace (id 9) on n1 is missing runs
              description: "The kernel skipped 3 runs of this program in 10m because it was already running on that CPU (recursion_misses): its events are lost."
      # Ten minutes after the misses stopped rising, the alert clears.
      - eval_time: 20m
        alertname: BpfProgRecursionMissesRising
        exp_alerts: []
      # Failing since 4m: not yet at 8m (it must hold 5m), firing at 9m.
      - eval_time: 8m
        alertname: CapacitySamplingFails
        exp_alerts: []
      - eval_time: 9m
        alertname: CapacitySamplingFails
        exp_alerts:
          - exp_labels: {instance: n3, job: capacity, severity: warning}
            exp_annotations:
              summary: capacity on n3 cannot read the host's BPF maps and programs
              description: "Every sample of capacity watch has failed for 5m (capacity_sample_success 0), so no other capacity alert can fire for this host. Its /healthz says why; a missing CAP_SYS_ADMIN is the usual cause."
      - eval_time: 15m
        alertname: BpfMapMemoryOverBudget
        exp_alerts:
          - exp_labels: {instance: n1, job: capacity, severity: critical}
            exp_annotations:
              summary: BPF maps on n1 take 1.144MiB
              description: The sum of every BPF map's memlock on this host is over the budget of 1048576 bytes.
"#;

#[test]
fn alert_rules_pass_promtool_and_fire_exactly_on_the_test_series() {
    let _quiet = quiet_cpu();
    let dir = TempDir::new("alerts");
    let rules = alerts(&["--budget", "1M", "--horizon", "1h", "--window", "30m"]);
    std::fs::write(dir.0.join("rules.yml"), &rules).unwrap();
    let (ok, text) = promtool(&["check", "rules", "rules.yml"], &dir);
    assert!(ok, "promtool check rules failed:\n{text}\n{rules}");
    // Three map levels, the forecast, three ring levels, the ring's high-water mark, failing samples,
    // recursion misses, the budget.
    assert!(text.contains("SUCCESS: 11 rules found"), "{text}");
    std::fs::write(dir.0.join("tests.yml"), RULE_TESTS).unwrap();
    let (ok, text) = promtool(&["test", "rules", "tests.yml"], &dir);
    assert!(ok, "promtool test rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn thresholds_and_the_budget_shape_the_rules() {
    let _quiet = quiet_cpu();
    let dir = TempDir::new("alerts-shape");
    let rules = alerts(&["--thresholds", "80,90"]);
    std::fs::write(dir.0.join("rules.yml"), &rules).unwrap();
    let (ok, text) = promtool(&["check", "rules", "rules.yml"], &dir);
    assert!(ok, "{text}");
    // Two map levels, the forecast, two ring levels, the ring's high-water mark, failing samples, recursion
    // misses; no budget rule.
    assert!(text.contains("SUCCESS: 8 rules found"), "{text}");
    assert!(rules.contains("((capacity_map_pressure_ratio{type!=\"ringbuf\"}) >= 0.8) < 0.9"), "{rules}");
    assert!(rules.contains("capacity_map_exhaustion_seconds < 86400"), "default horizon 24h: {rules}");
    assert!(!rules.contains("BpfMapMemoryOverBudget"), "{rules}");

    // The PrometheusRule form carries the same groups.
    let object = alerts(&["--thresholds", "80,90", "--prometheus-rule"]);
    assert!(object.starts_with("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"), "{object}");
    let json = capacity(&["alerts", "--thresholds", "80,90", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(json["groups"][0]["rules"].as_array().unwrap().len(), 8);
    assert!(alerts(&["--ring-margin", "0.8"])
        .contains("capacity_ringbuf_pending_bytes_max / capacity_ringbuf_size_bytes >= 0.8"));
}

#[test]
fn bad_alert_options_are_one_line_and_exit_2() {
    let _quiet = quiet_cpu();
    assert_usage_error(&capacity(&["alerts", "--thresholds", "90,80"]), "--thresholds must ascend");
    assert_usage_error(&capacity(&["alerts", "--thresholds", "70,85,95,99"]), "--thresholds");
    assert_usage_error(&capacity(&["alerts", "--thresholds", "120"]), "--thresholds");
    assert_usage_error(&capacity(&["alerts", "--horizon", "soon"]), "--horizon");
    assert_usage_error(&capacity(&["alerts", "--budget", "lots"]), "--budget");
    assert_usage_error(&capacity(&["alerts", "--ring-margin", "1.5"]), "--ring-margin");
}
