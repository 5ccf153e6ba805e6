//! `capacity alerts`: Prometheus alerting rules over the metrics `capacity
//! watch` exports (names in `super::metrics`): map pressure levels, maps
//! forecast to fill within a horizon, ring fill, a ring's high-water mark
//! near full, recursion misses rising, total map memory over a budget, and
//! an exporter whose samples fail (which blinds every other rule).
use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;

use super::metrics::names;

/// The lab's headroom levels, in percent.
pub const DEFAULT_THRESHOLDS: [f64; 3] = [70.0, 85.0, 95.0];
/// Names of the levels, from the first threshold up.
const LEVELS: [&str; 3] = ["warning", "critical", "exhausted"];
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(24 * 3600);
/// History `predict_linear` fits over.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// A ring whose high-water mark came this close to full was near dropping.
pub const DEFAULT_RING_MARGIN: f64 = 0.9;

/// What the rules alert on.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// Ascending percentages, one to three of them.
    pub thresholds_pct: Vec<f64>,
    /// Alert when a map is forecast to be full within this time.
    pub horizon: Duration,
    /// History for `predict_linear`.
    pub window: Duration,
    /// Total map memory per host (bytes) to alert over, if any.
    pub budget_bytes: Option<u64>,
    /// Fraction of a ring's size its high-water mark may reach before `CapacityRingNearlyFull`.
    pub ring_margin: f64,
}

impl Default for AlertOptions {
    fn default() -> Self {
        Self {
            thresholds_pct: DEFAULT_THRESHOLDS.to_vec(),
            horizon: DEFAULT_HORIZON,
            window: DEFAULT_WINDOW,
            budget_bytes: None,
            ring_margin: DEFAULT_RING_MARGIN,
        }
    }
}

impl AlertOptions {
    /// Checks the options; the message says how to fix them.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.thresholds_pct;
        if t.is_empty() || t.len() > LEVELS.len() {
            return Err(format!(
                "--thresholds takes one to three percentages (warning, critical, exhausted), e.g. 70,85,95; got {}",
                t.len()
            ));
        }
        if let Some(bad) = t.iter().find(|p| !(p.is_finite() && **p > 0.0 && **p <= 100.0)) {
            return Err(format!("--thresholds: {bad} is not a percentage in (0, 100]; e.g. 70,85,95"));
        }
        if t.windows(2).any(|w| w[0] >= w[1]) {
            return Err("--thresholds must ascend, e.g. 70,85,95".into());
        }
        if !(self.ring_margin > 0.0 && self.ring_margin <= 1.0) {
            return Err(format!("--ring-margin {} is not a fraction in (0, 1]; e.g. 0.9", self.ring_margin));
        }
        if self.horizon < Duration::from_secs(1) || self.window < Duration::from_secs(1) {
            return Err("--horizon and --window must be at least 1s, e.g. --horizon 24h".into());
        }
        Ok(())
    }
}

/// A Prometheus rule file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A duration as Prometheus writes it: `90s`, `5m`, `24h`.
pub fn prom_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || s == 0 {
        format!("{}ms", d.as_millis())
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A ratio without float noise: 0.7, not 0.7000000000000001.
fn ratio(pct: f64) -> String {
    let r = pct / 100.0;
    let text = format!("{r:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn rule(
    alert: String,
    expr: String,
    for_: &str,
    severity: &str,
    extra: &[(&str, &str)],
    summary: String,
    description: String,
) -> Rule {
    let mut labels = BTreeMap::from([("severity".to_string(), severity.to_string())]);
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Rule {
        alert,
        expr,
        for_: for_.to_string(),
        labels,
        annotations: BTreeMap::from([("summary".into(), summary), ("description".into(), description)]),
    }
}

/// One rule per level: `value >= this threshold` and below the next, so a
/// series is in exactly one level at a time.
fn level_rules(prefix: &str, value: &str, what: &str, for_: &str, thresholds: &[f64]) -> Vec<Rule> {
    thresholds
        .iter()
        .enumerate()
        .map(|(i, &pct)| {
            let level = LEVELS[i];
            let mut expr = format!("({value}) >= {}", ratio(pct));
            let mut range = format!("at or above {pct}%");
            if let Some(&next) = thresholds.get(i + 1) {
                expr = format!("({expr}) < {}", ratio(next));
                range = format!("{pct}% to {next}%");
            }
            let mut name = level.to_string();
            name[..1].make_ascii_uppercase();
            rule(
                format!("{prefix}{name}"),
                expr,
                for_,
                if i == 0 { "warning" } else { "critical" },
                &[("level", level)],
                format!("{what} {{{{ $labels.name }}}} (id {{{{ $labels.id }}}}) on {{{{ $labels.instance }}}} is {{{{ $value | humanizePercentage }}}} full"),
                format!("{what} is in the {level} level ({range} full) for {for_}."),
            )
        })
        .collect()
}

/// The rules for `options` (validated).
pub fn rules(options: &AlertOptions) -> RuleFile {
    let t = &options.thresholds_pct;
    let horizon = prom_duration(options.horizon);
    let window = prom_duration(options.window);
    let mut rules =
        level_rules("BpfMapPressure", &format!("{}{{type!=\"ringbuf\"}}", names::MAP_PRESSURE), "BPF map", "5m", t);
    rules.push(rule(
        "BpfMapFullWithinHorizon".into(),
        format!(
            "{exhaustion} < {h} or predict_linear({entries}[{window}], {h}) >= {max}",
            exhaustion = names::MAP_EXHAUSTION,
            h = options.horizon.as_secs(),
            entries = names::MAP_ENTRIES,
            max = names::MAP_MAX_ENTRIES,
        ),
        "10m",
        "warning",
        &[],
        format!("BPF map {{{{ $labels.name }}}} (id {{{{ $labels.id }}}}) on {{{{ $labels.instance }}}} is forecast to reach max_entries within {horizon}"),
        format!(
            "A linear fit of its entries (the exporter's {exhaustion}, or predict_linear over {window} of history) reaches max_entries within {horizon}.",
            exhaustion = names::MAP_EXHAUSTION
        ),
    ));
    rules.extend(level_rules(
        "BpfRingbufFill",
        &format!("{} / {}", names::RING_PENDING, names::RING_SIZE),
        "BPF ring buffer",
        "2m",
        t,
    ));
    rules.push(rule(
        "CapacityRingNearlyFull".into(),
        format!("{} / {} >= {}", names::RING_PENDING_MAX, names::RING_SIZE, ratio(options.ring_margin * 100.0)),
        "0m",
        "warning",
        &[],
        "BPF ring buffer {{ $labels.name }} (id {{ $labels.id }}) on {{ $labels.instance }} came {{ $value | humanizePercentage }} full".into(),
        format!(
            "Its highest backlog between two samples (sampled every watch --ring-interval) reached {}% of its size: records were likely dropped. `capacity observe` sizes it.",
            ratio(options.ring_margin * 1e4)
        ),
    ));
    rules.push(rule(
        "CapacitySamplingFails".into(),
        format!("{} == 0", names::SAMPLE_SUCCESS),
        "5m",
        "warning",
        &[],
        "capacity on {{ $labels.instance }} cannot read the host's BPF maps and programs".into(),
        format!(
            "Every sample of capacity watch has failed for 5m ({} 0), so no other capacity alert can fire for this host. Its /healthz says why; a missing CAP_SYS_ADMIN is the usual cause.",
            names::SAMPLE_SUCCESS
        ),
    ));
    rules.push(rule(
        "BpfProgRecursionMissesRising".into(),
        format!("increase({}[10m]) > 0", names::PROG_RECURSION_MISSES),
        "0m",
        "warning",
        &[],
        "BPF program {{ $labels.name }} (id {{ $labels.id }}) on {{ $labels.instance }} is missing runs".into(),
        "The kernel skipped {{ $value }} runs of this program in 10m because it was already running on that CPU (recursion_misses): its events are lost.".into(),
    ));
    if let Some(budget) = options.budget_bytes {
        rules.push(rule(
            "BpfMapMemoryOverBudget".into(),
            format!("sum without (id, name, type, owner) ({}) > {budget}", names::MAP_MEMORY),
            "5m",
            "critical",
            &[],
            "BPF maps on {{ $labels.instance }} take {{ $value | humanize1024 }}B".into(),
            format!("The sum of every BPF map's memlock on this host is over the budget of {budget} bytes."),
        ));
    }
    RuleFile { groups: vec![RuleGroup { name: "capacity".into(), rules }] }
}

/// The rule file as YAML, as Prometheus' `rule_files` read it.
pub fn rules_yaml(file: &RuleFile) -> anyhow::Result<String> {
    Ok(serde_yaml_ng::to_string(file)?)
}

/// The same rules as a prometheus-operator `PrometheusRule` object.
pub fn prometheus_rule_yaml(file: &RuleFile) -> anyhow::Result<String> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Object<'a> {
        api_version: &'static str,
        kind: &'static str,
        metadata: Metadata,
        spec: &'a RuleFile,
    }
    #[derive(Serialize)]
    struct Metadata {
        name: &'static str,
        labels: BTreeMap<&'static str, &'static str>,
    }
    Ok(serde_yaml_ng::to_string(&Object {
        api_version: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: Metadata { name: "capacity", labels: BTreeMap::from([("app.kubernetes.io/name", "capacity")]) },
        spec: file,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(prom_duration(Duration::from_secs(90)), "90s");
        assert_eq!(prom_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prom_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn levels_partition_the_range() {
        let file = rules(&AlertOptions::default());
        let exprs: Vec<&str> = file.groups[0].rules.iter().map(|r| r.expr.as_str()).take(3).collect();
        assert_eq!(
            exprs,
            [
                "((capacity_map_pressure_ratio{type!=\"ringbuf\"}) >= 0.7) < 0.85",
                "((capacity_map_pressure_ratio{type!=\"ringbuf\"}) >= 0.85) < 0.95",
                "(capacity_map_pressure_ratio{type!=\"ringbuf\"}) >= 0.95",
            ]
        );
        assert_eq!(file.groups[0].rules[2].labels["level"], "exhausted");
        assert!(!file.groups[0].rules.iter().any(|r| r.alert == "BpfMapMemoryOverBudget"));
    }

    #[test]
    fn a_budget_adds_its_rule() {
        let file = rules(&AlertOptions { budget_bytes: Some(1 << 20), ..AlertOptions::default() });
        let budget = file.groups[0].rules.iter().find(|r| r.alert == "BpfMapMemoryOverBudget").unwrap();
        assert!(budget.expr.ends_with("> 1048576"), "{}", budget.expr);
    }

    #[test]
    fn the_ring_margin_sets_the_nearly_full_rule() {
        let file = rules(&AlertOptions { ring_margin: 0.75, ..AlertOptions::default() });
        let rule = file.groups[0].rules.iter().find(|r| r.alert == "CapacityRingNearlyFull").unwrap();
        assert_eq!(rule.expr, "capacity_ringbuf_pending_bytes_max / capacity_ringbuf_size_bytes >= 0.75");
        assert!(AlertOptions { ring_margin: 1.5, ..AlertOptions::default() }
            .validate()
            .unwrap_err()
            .contains("--ring-margin"));
    }

    #[test]
    fn failing_samples_alert() {
        let file = rules(&AlertOptions::default());
        let rule = file.groups[0].rules.iter().find(|r| r.alert == "CapacitySamplingFails").unwrap();
        assert_eq!((rule.expr.as_str(), rule.for_.as_str()), ("capacity_sample_success == 0", "5m"));
    }

    #[test]
    fn bad_thresholds_are_refused() {
        let with = |t: &[f64]| AlertOptions { thresholds_pct: t.to_vec(), ..AlertOptions::default() }.validate();
        assert!(with(&[70.0, 85.0, 95.0]).is_ok());
        assert!(with(&[90.0]).is_ok());
        assert!(with(&[]).is_err());
        assert!(with(&[85.0, 70.0]).is_err());
        assert!(with(&[70.0, 150.0]).is_err());
        assert!(with(&[10.0, 20.0, 30.0, 40.0]).is_err());
    }
}
