//! What the benchmarks share: running a tool that prints one JSON object,
//! reading its numbers, and printing rates.
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::setup::describe;

/// Run a tool that prints one JSON object on stdout; its stderr goes to ours.
pub fn json_output(cmd: &mut Command) -> Result<Value> {
    json_output_unless_exit(cmd, None).map(|json| json.unwrap_or_default())
}

/// As [`json_output`], but None when the tool exits with `code`: a
/// condition the caller handles (not a failure).
pub fn json_output_unless_exit(cmd: &mut Command, code: Option<i32>) -> Result<Option<Value>> {
    eprintln!("xtask: $ {}", describe(cmd));
    let out = cmd.stderr(Stdio::inherit()).output().with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if code.is_some() && out.status.code() == code {
        return Ok(None);
    }
    if !out.status.success() {
        bail!(
            "`{}` failed ({}){}",
            describe(cmd),
            out.status,
            if stdout.is_empty() { String::new() } else { format!(": {stdout}") }
        );
    }
    serde_json::from_str(&stdout)
        .map(Some)
        .with_context(|| format!("`{}` printed no JSON object: {stdout}", describe(cmd)))
}

/// A number field of a tool's JSON output; None if absent or null.
pub fn optional_field(json: &Value, key: &str) -> Option<f64> {
    json.get(key).and_then(Value::as_f64)
}

pub fn field(json: &Value, key: &str) -> Result<f64> {
    optional_field(json, key).with_context(|| format!("no number `{key}` in the output: {json}"))
}

pub fn format_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.3} M/s", rate / 1e6)
    } else {
        format!("{:.1} k/s", rate / 1e3)
    }
}

/// The median (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
