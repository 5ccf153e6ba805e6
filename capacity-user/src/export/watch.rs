//! `capacity watch`: sample the host every interval, keep the fit window,
//! and either redraw a table or serve the metrics over HTTP until SIGINT or
//! SIGTERM (a clean stop, exit 0) or `--samples` samples.
use std::{
    io::IsTerminal,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::{
    history::{Forecast, History},
    metrics,
    sample::{self, owner_of, ProgramSample, RingSample, Snapshot},
    server::{self, Shared},
};
use crate::{
    deployment::inventory::LiveMap,
    output::{Report, Table},
    units::format_bytes,
};

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub interval: Duration,
    /// Samples older than this leave the fit.
    pub window: Duration,
    /// Serve Prometheus text here instead of drawing a table.
    pub listen: Option<SocketAddr>,
    /// Stop after this many samples (default: run until a signal).
    pub samples: Option<u64>,
    /// Draw the table after each sample (off with --json or --listen).
    pub draw: bool,
}

/// Reads the host once; runs on tokio's blocking pool.
pub type Sampler = Box<dyn FnMut() -> anyhow::Result<Snapshot> + Send>;

/// A map with its trend over the window.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedMap {
    #[serde(flatten, serialize_with = "sample::serialize_for_watch")]
    pub map: LiveMap,
    /// Entries per second (maps) or pending bytes per second (rings).
    pub trend_per_s: Option<f64>,
    /// Seconds until max_entries (maps) or a full ring; null when not growing.
    pub exhaustion_seconds: Option<f64>,
}

/// What ended a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StoppedBy {
    #[serde(rename = "SIGINT")]
    Sigint,
    #[serde(rename = "SIGTERM")]
    Sigterm,
    /// `--samples` were taken.
    #[serde(rename = "samples")]
    Samples,
}

impl std::fmt::Display for StoppedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::output::serde_name(self))
    }
}

/// What `watch` saw last, and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    pub interval_s: f64,
    pub window_s: f64,
    pub samples: u64,
    pub stopped_by: StoppedBy,
    pub listen: Option<String>,
    pub maps: Vec<WatchedMap>,
    pub programs: Vec<ProgramSample>,
}

fn watched(snapshot: &Snapshot, history: &History) -> Vec<WatchedMap> {
    let mut maps: Vec<WatchedMap> = snapshot
        .maps
        .iter()
        .map(|map| {
            let forecast: Option<Forecast> =
                if map.ringbuf_pending_bytes.is_some() { history.ring(map.id) } else { history.map(map.id) };
            WatchedMap {
                map: map.clone(),
                trend_per_s: forecast.map(|f| f.slope),
                exhaustion_seconds: forecast.and_then(|f| f.exhaustion_seconds),
            }
        })
        .collect();
    // Fullest first; maps without a pressure figure last, by id.
    maps.sort_by(|a, b| {
        b.map.pressure.unwrap_or(-1.0).total_cmp(&a.map.pressure.unwrap_or(-1.0)).then(a.map.id.cmp(&b.map.id))
    });
    maps
}

/// `0.25s`, `42s`, `5.0m`, `3.2h`, `4.1d`.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 10.0 {
        let text = format!("{seconds:.2}");
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    } else if seconds < 120.0 {
        format!("{seconds:.0}s")
    } else if seconds < 7200.0 {
        format!("{:.1}m", seconds / 60.0)
    } else if seconds < 172_800.0 {
        format!("{:.1}h", seconds / 3600.0)
    } else {
        format!("{:.1}d", seconds / 86_400.0)
    }
}

fn maps_table(maps: &[WatchedMap]) -> String {
    let mut table =
        Table::new(["id", "name", "type", "used", "of", "pressure", "level", "trend", "full in", "memory", "owner"]);
    for w in maps {
        let m = &w.map;
        let (used, of, unit) = match (m.entries, RingSample::of(m)) {
            (_, Some(ring)) => (format_bytes(ring.pending_bytes), format_bytes(ring.size_bytes), "B/s"),
            (Some(e), None) => (e.to_string(), m.map.max_entries.to_string(), "/s"),
            (None, None) => ("-".into(), m.map.max_entries.to_string(), "/s"),
        };
        let owner = owner_of(m);
        table.row([
            m.id.to_string(),
            m.map.name.clone(),
            m.map.type_name.clone(),
            used,
            of,
            m.pressure.map_or("-".into(), |p| format!("{:.1}%", p * 100.0)),
            m.level.map_or("-".into(), |l| l.to_string()),
            w.trend_per_s.map_or("-".into(), |s| format!("{s:+.1}{unit}")),
            w.exhaustion_seconds.map_or("-".into(), format_seconds),
            format_bytes(m.memlock_bytes),
            if owner.is_empty() { "-".into() } else { owner },
        ]);
    }
    table.render()
}

impl Report for WatchReport {
    fn human(&self) -> String {
        format!(
            "watch   {} sample(s) every {}, fit over {}, stopped by {}\n\n{}",
            self.samples,
            format_seconds(self.interval_s),
            format_seconds(self.window_s),
            self.stopped_by,
            maps_table(&self.maps)
        )
    }
}

async fn stop_signal(interrupt: &mut Signal, terminate: &mut Signal) -> StoppedBy {
    tokio::select! {
        _ = interrupt.recv() => StoppedBy::Sigint,
        _ = terminate.recv() => StoppedBy::Sigterm,
    }
}

/// Runs until a signal or `options.samples`; the last sample's report.
pub fn watch(options: WatchOptions, sampler: Sampler) -> anyhow::Result<WatchReport> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(run(options, sampler));
    // A sample still reading the host must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(options: WatchOptions, sampler: Sampler) -> anyhow::Result<WatchReport> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let shared = Shared::new(options.interval);
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match options.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}; choose another --listen address"))?;
            log::info!(
                "watch: serving http://{}/metrics, /healthz and /livez, a sample every {}",
                listener.local_addr()?,
                format_seconds(options.interval.as_secs_f64())
            );
            let app = server::router(shared.clone());
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = server_stopped.await;
                    })
                    .await
            }))
        }
        None => None,
    };

    let sampler = Arc::new(Mutex::new(sampler));
    let mut history = History::new(options.window);
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = 0u64;
    let mut last: Option<Snapshot> = None;
    let stopped_by = loop {
        if options.samples.is_some_and(|n| samples >= n) {
            break StoppedBy::Samples;
        }
        tokio::select! {
            _ = ticker.tick() => {}
            by = stop_signal(&mut interrupt, &mut terminate) => break by,
        }
        let reader = Arc::clone(&sampler);
        let read = tokio::task::spawn_blocking(move || (reader.lock().expect("one sample at a time"))());
        let sampled = tokio::select! {
            read = read => read?,
            by = stop_signal(&mut interrupt, &mut terminate) => break by,
        };
        samples += 1;
        shared.latest.lock().expect("no panics while holding the lock").last_attempt = Some(Instant::now());
        match sampled {
            Ok(snapshot) => {
                history.record(&snapshot);
                let text = metrics::render(&snapshot, &history);
                {
                    let mut latest = shared.latest.lock().expect("no panics while holding the lock");
                    latest.metrics = Some(text);
                    latest.last_success = Some(Instant::now());
                    latest.last_error = None;
                }
                if options.draw {
                    // A reader gone (`capacity watch | head`) ends the watch quietly.
                    draw(&snapshot, &history, &options)?;
                }
                last = Some(snapshot);
            }
            Err(error) => {
                // Stay up (a pod that crash-loops says less): /healthz
                // answers 503 with the reason, /metrics has
                // capacity_sample_success 0, and the log has one line per
                // new reason, not one per sample.
                let error = crate::error::one_line(&error);
                let mut latest = shared.latest.lock().expect("no panics while holding the lock");
                if latest.last_error.as_ref() != Some(&error) {
                    log::warn!("watch: sample failed: {error}");
                }
                latest.metrics = Some(metrics::render_failed());
                latest.last_error = Some(error);
            }
        }
    };
    let _ = stop_server.send(());
    if let Some(server) = server {
        server.await??;
    }
    let last = last.unwrap_or(Snapshot { at: 0.0, read_seconds: 0.0, maps: vec![], programs: vec![] });
    Ok(WatchReport {
        interval_s: options.interval.as_secs_f64(),
        window_s: options.window.as_secs_f64(),
        samples,
        stopped_by,
        listen: options.listen.map(|a| a.to_string()),
        maps: watched(&last, &history),
        programs: last.programs,
    })
}

/// Redraws the table: in place on a terminal, one table after another otherwise.
fn draw(snapshot: &Snapshot, history: &History, options: &WatchOptions) -> anyhow::Result<()> {
    let clear = if std::io::stdout().is_terminal() { "\x1b[2J\x1b[H" } else { "" };
    let total: u64 = snapshot.maps.iter().map(|m| m.memlock_bytes).sum();
    crate::output::write_stdout(&format!(
        "{clear}capacity watch · {} maps · {} of map memory · every {} · fit over {} · Ctrl-C stops\n\n{}\n",
        snapshot.maps.len(),
        format_bytes(total),
        format_seconds(options.interval.as_secs_f64()),
        format_seconds(options.window.as_secs_f64()),
        maps_table(&watched(snapshot, history))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_read_as_their_json_names() {
        for (by, name) in
            [(StoppedBy::Sigint, "SIGINT"), (StoppedBy::Sigterm, "SIGTERM"), (StoppedBy::Samples, "samples")]
        {
            assert_eq!(serde_json::to_value(by).unwrap(), name);
            assert_eq!(by.to_string(), name);
        }
    }

    #[test]
    fn seconds_read_in_the_largest_sensible_unit() {
        assert_eq!(format_seconds(0.5), "0.5s");
        assert_eq!(format_seconds(0.25), "0.25s");
        assert_eq!(format_seconds(2.0), "2s");
        assert_eq!(format_seconds(42.4), "42s");
        assert_eq!(format_seconds(300.0), "5.0m");
        assert_eq!(format_seconds(3.0 * 3600.0), "3.0h");
        assert_eq!(format_seconds(5.0 * 86_400.0), "5.0d");
    }
}
