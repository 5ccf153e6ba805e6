//! High-water marks of every ring's backlog between two `watch` samples: a
//! thread reads each ring's positions every `--ring-interval` through a
//! read-only mapping (`deployment::ringbuf`), so a burst that fills a ring
//! and drains before the next sample still shows. Sampling only reads
//! mapped memory; the ring list is refreshed once a second.
use std::{
    collections::HashMap,
    os::fd::AsFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::sample::Snapshot;
use crate::deployment::ringbuf::RingView;

/// How often the thread looks for rings loaded or freed since.
const REFRESH: Duration = Duration::from_secs(1);

/// The sampling thread; stopped and joined on drop.
pub struct RingMarks {
    marks: Arc<Mutex<HashMap<u32, u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RingMarks {
    /// Starts sampling every ring loaded now (and later) every `interval`.
    pub fn start(interval: Duration) -> Self {
        let marks = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (marks, stop) = (Arc::clone(&marks), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("ring-marks".into())
                .spawn(move || sample(interval, &marks, &stop))
                .expect("spawn the ring sampling thread")
        };
        Self { marks, stop, thread: Some(thread) }
    }

    /// Each ring's highest backlog since the last call, and a fresh start.
    pub fn take(&self) -> HashMap<u32, u64> {
        std::mem::take(&mut *self.marks.lock().expect("no panics while holding the lock"))
    }

    /// Sets every ring of `snapshot` to its mark since the last sample (at
    /// least its backlog now).
    pub fn apply(&self, snapshot: &mut Snapshot) {
        let marks = self.take();
        for map in &mut snapshot.maps {
            if let Some(pending) = map.ringbuf_pending_bytes {
                let mark = marks.get(&map.id).copied().unwrap_or(0);
                map.ringbuf_pending_bytes_max = Some(mark.max(pending));
            }
        }
    }
}

impl Drop for RingMarks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every ring buffer loaded now, mapped read-only, by map id.
fn rings(known: HashMap<u32, RingView>) -> HashMap<u32, RingView> {
    let mut known = known;
    let mut found = HashMap::new();
    for info in aya::maps::loaded_maps().filter_map(Result::ok) {
        if !matches!(info.map_type(), Ok(aya::maps::MapType::RingBuf)) {
            continue;
        }
        let view = match known.remove(&info.id()) {
            Some(view) => view,
            None => {
                let Ok(fd) = info.fd() else { continue };
                let Ok(view) = RingView::open_positions(fd.as_fd(), info.max_entries().into()) else { continue };
                view
            }
        };
        found.insert(info.id(), view);
    }
    found
}

fn sample(interval: Duration, marks: &Mutex<HashMap<u32, u64>>, stop: &AtomicBool) {
    let mut views = HashMap::new();
    let mut refreshed: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if refreshed.is_none_or(|at| at.elapsed() >= REFRESH) {
            views = rings(views);
            refreshed = Some(Instant::now());
        }
        {
            let mut marks = marks.lock().expect("no panics while holding the lock");
            for (id, view) in &views {
                let p = view.positions();
                let mark = marks.entry(*id).or_insert(0);
                *mark = (*mark).max(p.producer.saturating_sub(p.consumer));
            }
        }
        std::thread::sleep(interval);
    }
}
