//! `capacity alerts`: arguments. The work is in `crate::export::alerts`.
use std::time::Duration;

use clap::Args;

use crate::{
    error::Outcome,
    export::alerts::{prometheus_rule_yaml, rules, rules_yaml, AlertOptions},
    units::{parse_duration, parse_size},
};

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Pressure levels in percent (warning, critical, exhausted).
    #[arg(long, value_name = "P,...", value_delimiter = ',', default_value = "70,85,95")]
    pub thresholds: Vec<f64>,
    /// Alert when a map is forecast to reach max_entries within D: 24h, 6h, 30m.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "24h")]
    pub horizon: Duration,
    /// History `predict_linear` fits over: 1h, 30m.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "1h")]
    pub window: Duration,
    /// Alert when the maps on one host take more than B bytes in total (e.g. 512M).
    #[arg(long, value_name = "B", value_parser = parse_size)]
    pub budget: Option<u64>,
    /// Alert when a ring's high-water mark between samples reaches this fraction of its size.
    #[arg(long, value_name = "F", default_value_t = crate::export::alerts::DEFAULT_RING_MARGIN)]
    pub ring_margin: f64,
    /// Print a prometheus-operator PrometheusRule object instead of a rule file.
    #[arg(long, conflicts_with = "json")]
    pub prometheus_rule: bool,
    /// Print the rule file as one JSON object instead of YAML.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: AlertsArgs) -> anyhow::Result<Outcome> {
    let options = AlertOptions {
        thresholds_pct: args.thresholds,
        horizon: args.horizon,
        window: args.window,
        budget_bytes: args.budget,
        ring_margin: args.ring_margin,
    };
    options.validate().map_err(anyhow::Error::msg)?;
    let file = rules(&options);
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&file)?)
    } else if args.prometheus_rule {
        prometheus_rule_yaml(&file)?
    } else {
        rules_yaml(&file)?
    };
    crate::output::write_stdout(&text)?;
    Ok(Outcome::Success)
}
