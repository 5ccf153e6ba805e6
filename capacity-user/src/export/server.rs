//! The HTTP side of `capacity watch --listen`: `/metrics` serves the text
//! of the latest sample (OpenMetrics to clients that ask for it, the
//! classic text format otherwise), `/healthz` says whether sampling works
//! (readiness), `/livez` whether the sampling loop still runs (liveness: a
//! failing sample is no reason to restart, a stuck loop is).
//! axum on the watch's tokio runtime; the sampling loop fills `Shared`.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers serve, updated after every sample.
#[derive(Debug, Default)]
pub struct Latest {
    /// OpenMetrics text (`metrics::render`).
    pub metrics: Option<String>,
    pub last_success: Option<Instant>,
    /// When the loop last finished a sample, failed or not.
    pub last_attempt: Option<Instant>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Shared {
    pub latest: Arc<Mutex<Latest>>,
    /// A sample older than this is stale (healthz fails).
    pub stale_after: Duration,
}

impl Shared {
    pub fn new(interval: Duration) -> Self {
        // Three missed samples, and room for one slow inventory.
        Self { latest: Arc::default(), stale_after: interval * 3 + Duration::from_secs(10) }
    }
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .with_state(shared)
}

async fn metrics(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Some(text) = shared.latest.lock().expect("no panics while holding the lock").metrics.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no sample yet\n").into_response();
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
    } else {
        ([(header::CONTENT_TYPE, CLASSIC)], super::metrics::classic_text(&text)).into_response()
    }
}

async fn livez(State(shared): State<Shared>) -> Response {
    let latest = shared.latest.lock().expect("no panics while holding the lock");
    match latest.last_attempt {
        Some(at) if at.elapsed() > shared.stale_after => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("no sample finished for {:.0} s\n", at.elapsed().as_secs_f64()))
                .into_response()
        }
        _ => (StatusCode::OK, "ok\n").into_response(),
    }
}

/// True when the Accept header prefers OpenMetrics: some
/// `application/openmetrics-text` range with a q above 0 and at least that
/// of every other range (Prometheus asks for it with q=1, classic text with
/// q=0.5; curl and most clients send `*/*` or nothing).
fn wants_openmetrics(accept: &str) -> bool {
    let ranges = accept.split(',').map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts.filter_map(|p| p.strip_prefix("q=").and_then(|v| v.parse::<f64>().ok())).next().unwrap_or(1.0);
        (media, q)
    });
    let (mut openmetrics, mut other) = (0.0f64, 0.0f64);
    for (media, q) in ranges {
        if media == "application/openmetrics-text" {
            openmetrics = openmetrics.max(q);
        } else if !media.is_empty() {
            other = other.max(q);
        }
    }
    openmetrics > 0.0 && openmetrics >= other
}

async fn healthz(State(shared): State<Shared>) -> Response {
    let latest = shared.latest.lock().expect("no panics while holding the lock");
    match (latest.last_success, &latest.last_error) {
        (Some(at), None) if at.elapsed() <= shared.stale_after => (StatusCode::OK, "ok\n").into_response(),
        (_, Some(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("last sample failed: {error}\n")).into_response(),
        (Some(at), None) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("last sample {:.0} s ago\n", at.elapsed().as_secs_f64()))
                .into_response()
        }
        (None, None) => (StatusCode::SERVICE_UNAVAILABLE, "no sample yet\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::wants_openmetrics;

    #[test]
    fn openmetrics_only_for_clients_that_prefer_it() {
        // Prometheus 2.42's scrape Accept header.
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
             text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(wants_openmetrics("application/openmetrics-text"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(!wants_openmetrics("text/plain;version=0.0.4,application/openmetrics-text;q=0.5"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }
}
