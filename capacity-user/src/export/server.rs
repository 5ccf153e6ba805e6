//! The HTTP side of `capacity watch --listen`: `/metrics` serves the text
//! of the latest sample, `/healthz` says whether sampling works. axum on
//! the watch's tokio runtime; the sampling loop fills `Shared`.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the handlers serve, updated after every sample.
#[derive(Debug, Default)]
pub struct Latest {
    pub metrics: Option<String>,
    pub last_success: Option<Instant>,
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
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(shared)
}

async fn metrics(State(shared): State<Shared>) -> Response {
    let latest = shared.latest.lock().expect("no panics while holding the lock");
    match &latest.metrics {
        Some(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text.clone()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no sample yet\n").into_response(),
    }
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
