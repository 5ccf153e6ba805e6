//! Plots as self-contained SVG, written by hand (no font or rendering
//! dependencies):
//! - the ramp curve: consumed events/s (what the ring carried) against the
//!   target rate (left axis), the drop rate on its own axis (right), and
//!   the target where drops began marked;
//! - the size search: drop rate (left axis, %) and peak occupancy (right
//!   axis, bytes) against ring size (a power-of-two axis).
use std::fmt::Write as _;

use crate::{
    run::RunConfig,
    search::{ramp::RampResult, size::SizeResult},
    units::{format_bytes, format_rate},
};

const W: f64 = 860.0;
const H: f64 = 480.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 90.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;
const ACHIEVED: &str = "#1f77b4";
const DROPS: &str = "#d62728";

struct Axis {
    max: f64,
}

impl Axis {
    fn new(max: f64) -> Self {
        Self { max: nice_ceiling(max.max(1e-9)) }
    }
    fn x(&self, v: f64) -> f64 {
        LEFT + (W - LEFT - RIGHT) * v / self.max
    }
    fn y(&self, v: f64) -> f64 {
        H - BOTTOM - (H - TOP - BOTTOM) * v / self.max
    }
    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        (0..=5).map(|i| self.max * f64::from(i) / 5.0)
    }
}

/// 1, 2 or 5 times a power of ten, at or above `v` (a measured rate a hair
/// above its round target stays on the target's scale).
fn nice_ceiling(v: f64) -> f64 {
    let v = v / 1.001;
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}

fn polyline(out: &mut String, points: &[(f64, f64)], color: &str, dashed: bool) {
    let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let dash = if dashed { r#" stroke-dasharray="6 4""# } else { "" };
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="{color}" stroke-width="2.5"{dash} points="{}"/>"#,
        pts.join(" ")
    );
    for (x, y) in points {
        let _ = writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"#);
    }
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, extra: &str, body: &str) {
    let _ = writeln!(out, r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}"{extra}>{}</text>"#, escape(body));
}

/// A legend at the top of the plot, from `x`: a colour swatch and its label per line.
fn legend(out: &mut String, x: f64, entries: &[(&str, &str)]) {
    for (i, (color, label)) in entries.iter().enumerate() {
        let ly = TOP + 18.0 + 20.0 * i as f64;
        let _ = writeln!(out, r#"<rect x="{x:.1}" y="{:.1}" width="14" height="4" fill="{color}"/>"#, ly - 5.0);
        text(out, x + 20.0, ly, "start", "", label);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The SVG document for a ramp.
/// The plot's title: the workload every step of the ramp shares.
pub fn ramp_title(workload: &RunConfig) -> String {
    format!(
        "capacity ramp: {} B events, batch {}, ring {}, {} wakeups",
        workload.event_size(),
        workload.batch,
        format_bytes(workload.ringbuf_size),
        workload.wakeup
    )
}

/// An SVG document's start: its size, a white page and the title.
fn svg_start(title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    text(&mut out, W / 2.0, 28.0, "middle", r#" font-size="16" font-weight="bold""#, title);
    out
}

/// The plot's frame, the x axis's title below it, and the left axis's
/// title in its line's `color`.
fn frame(out: &mut String, x_title: &str, color: &str, y_title: &str) {
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    text(out, W / 2.0, H - 22.0, "middle", "", x_title);
    text(out, 22.0, H / 2.0, "middle", &format!(r#" fill="{color}" transform="rotate(-90 22 240)""#), y_title);
}

/// The right-hand axis of the second line, in its `color`: a label at each
/// (y, label) and the axis's title.
fn right_axis(out: &mut String, color: &str, title: &str, labels: impl IntoIterator<Item = (f64, String)>) {
    for (py, label) in labels {
        text(out, W - RIGHT + 8.0, py + 4.0, "start", &format!(r#" fill="{color}""#), &label);
    }
    let x = W - 22.0;
    text(out, x, H / 2.0, "middle", &format!(r#" fill="{color}" transform="rotate(90 {x} 240)""#), title);
}

/// The ramp: what the ring carried (consumed events/s) against the target,
/// beside the ideal line; drops on a right-hand axis of their own; the
/// target where drops began marked on the curve. p99 latency is in the table.
pub fn ramp_svg(ramp: &RampResult, title: &str) -> String {
    let steps = &ramp.steps;
    let max_target = steps.iter().map(|s| s.target_rate).fold(0.0, f64::max);
    let max_rate = steps.iter().map(|s| s.consumed_while_producing_per_s().max(s.target_rate)).fold(0.0, f64::max);
    let x = Axis::new(max_target);
    let y = Axis::new(max_rate);
    let drop_axis = Axis::new(steps.iter().map(|s| s.drop_rate * 100.0).fold(1.0, f64::max));

    let mut out = svg_start(title);
    // Grid and axes.
    for t in y.ticks() {
        let py = y.y(t);
        let _ = writeln!(out, r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/>"##, W - RIGHT);
        text(
            &mut out,
            LEFT - 8.0,
            py + 4.0,
            "end",
            &format!(r#" fill="{ACHIEVED}""#),
            &format_rate(t).replace("/s", ""),
        );
    }
    right_axis(&mut out, DROPS, "drop rate (%)", drop_axis.ticks().map(|t| (drop_axis.y(t), format!("{t}%"))));
    for t in x.ticks() {
        let px = x.x(t);
        let _ = writeln!(out, r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/>"##, H - BOTTOM);
        text(&mut out, px, H - BOTTOM + 18.0, "middle", "", &format_rate(t).replace("/s", ""));
    }
    frame(&mut out, "target rate (events/s)", ACHIEVED, "consumed: what the ring carried (events/s)");
    // Ideal: consumed = target.
    let _ = writeln!(
        out,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="2 4"/>"##,
        x.x(0.0),
        y.y(0.0),
        x.x(max_target),
        y.y(max_target)
    );
    let consumed: Vec<(f64, f64)> =
        steps.iter().map(|s| (x.x(s.target_rate), y.y(s.consumed_while_producing_per_s()))).collect();
    let drops: Vec<(f64, f64)> = steps.iter().map(|s| (x.x(s.target_rate), drop_axis.y(s.drop_rate * 100.0))).collect();
    polyline(&mut out, &consumed, ACHIEVED, false);
    polyline(&mut out, &drops, DROPS, true);
    if let Some(knee) = ramp.drops_began_at.and_then(|r| steps.iter().find(|s| s.target_rate == r)) {
        let (px, py) = (x.x(knee.target_rate), y.y(knee.consumed_while_producing_per_s()));
        let _ =
            writeln!(out, r#"<circle cx="{px:.1}" cy="{py:.1}" r="8" fill="none" stroke="{DROPS}" stroke-width="2"/>"#);
        text(
            &mut out,
            px - 10.0,
            py - 12.0,
            "end",
            &format!(r#" fill="{DROPS}""#),
            &format!("drops began at {}", format_rate(knee.target_rate)),
        );
    }
    // Legend.
    legend(
        &mut out,
        LEFT + 14.0,
        &[
            (ACHIEVED, "consumed events/s (left axis)"),
            (DROPS, "drop rate (right axis)"),
            ("#999", "consumed = target"),
        ],
    );
    out.push_str("</svg>\n");
    out
}

/// The size search's title: the workload every trial shares.
pub fn size_title(workload: &RunConfig) -> String {
    format!(
        "capacity size: {} at {} B events, batch {}, {} wakeups",
        format_rate(workload.rate),
        workload.event_size(),
        workload.batch,
        workload.wakeup
    )
}

/// One point per ring size tried: its worst drop rate and highest peak
/// occupancy over all its trials (a confirmation run included).
pub fn size_points(result: &SizeResult) -> Vec<(u64, f64, u64)> {
    let mut sizes: Vec<u64> = result.trials.iter().map(|t| t.run.ringbuf_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|size| {
            let at = result.trials.iter().filter(|t| t.run.ringbuf_size == size);
            let drops = at.clone().map(|t| t.run.drop_rate).fold(0.0, f64::max);
            let peak = at.map(|t| t.run.peak_occupancy_bytes).max().unwrap_or(0);
            (size, drops, peak)
        })
        .collect()
}

pub fn size_svg(result: &SizeResult, title: &str) -> String {
    let points = size_points(result);
    let log = |size: u64| f64::from(size.max(1).ilog2());
    let (first, last) = (log(result.min.max(4096)), log(result.max).max(log(result.min) + 1.0));
    let x = |size: u64| LEFT + (W - LEFT - RIGHT) * (log(size) - first) / (last - first);
    let drops = Axis::new(points.iter().map(|p| p.1 * 100.0).fold(1.0, f64::max));
    // Bytes read best in quarters of a power of two.
    let peak = Axis { max: points.iter().map(|p| p.2).max().unwrap_or(0).max(4096).next_power_of_two() as f64 };

    let mut out = svg_start(title);
    for t in drops.ticks() {
        let py = drops.y(t);
        let _ = writeln!(out, r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/>"##, W - RIGHT);
        text(&mut out, LEFT - 8.0, py + 4.0, "end", &format!(r#" fill="{DROPS}""#), &format!("{t}%"));
    }
    let quarters = (0..=4).map(|i| peak.max * f64::from(i) / 4.0);
    right_axis(&mut out, ACHIEVED, "peak occupancy (bytes)", quarters.map(|t| (peak.y(t), format_bytes(t as u64))));
    // One tick per power of two, labelled every other one when crowded.
    let every = if last - first > 12.0 { 2 } else { 1 };
    for (i, size) in super::size::sizes(1 << (first as u32), 1 << (last as u32)).into_iter().enumerate() {
        let px = x(size);
        let _ = writeln!(out, r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/>"##, H - BOTTOM);
        if i % every == 0 {
            text(&mut out, px, H - BOTTOM + 18.0, "middle", "", &format_bytes(size));
        }
    }
    let axis = match result.layout {
        crate::layout::Layout::Perf => "perf buffer per CPU (data bytes, powers of two)",
        _ => "ring size (bytes, powers of two)",
    };
    frame(&mut out, axis, DROPS, "drop rate (%)");
    if let Some(answer) = result.min_ringbuf_size {
        let px = x(answer);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="2 4"/>"##,
            H - BOTTOM
        );
        text(&mut out, px + 4.0, TOP + 14.0, "start", "", &format!("answer {}", format_bytes(answer)));
    }
    let drop_line: Vec<(f64, f64)> = points.iter().map(|p| (x(p.0), drops.y(p.1 * 100.0))).collect();
    let peak_line: Vec<(f64, f64)> = points.iter().map(|p| (x(p.0), peak.y(p.2 as f64))).collect();
    polyline(&mut out, &drop_line, DROPS, false);
    polyline(&mut out, &peak_line, ACHIEVED, true);
    legend(
        &mut out,
        W - RIGHT - 230.0,
        &[(DROPS, "worst drop rate (left axis)"), (ACHIEVED, "peak occupancy (right axis)")],
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round_numbers() {
        assert_eq!(nice_ceiling(730.0), 1000.0);
        assert_eq!(nice_ceiling(1500.0), 2000.0);
        assert_eq!(nice_ceiling(2_000_000.0), 2_000_000.0);
        assert_eq!(nice_ceiling(3.2e6), 5e6);
        assert_eq!(nice_ceiling(1_000_400.0), 1e6, "measurement noise above a round number");
    }

    #[test]
    fn titles_are_escaped() {
        assert_eq!(escape("a<b&c"), "a&lt;b&amp;c");
    }
}
