//! The exporter's upkeep keeps histogram memory bounded when nobody scrapes: samples recorded
//! between scrapes wait in a lock-free buffer until something drains them, and the upkeep task
//! does so every `metrics.upkeep_interval`. Heap bytes in use are counted by this test binary's
//! own allocator (one test per binary, so nothing else allocates meanwhile).
#![cfg(feature = "prometheus")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use duende_runtime::config::settings::MetricsSettings;
use duende_runtime::metrics::{DaemonMetrics, Exporter, Registry};

/// The system allocator, counting the bytes in use.
struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(signed(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(signed(layout.size()), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        IN_USE.fetch_add(signed(new_size) - signed(layout.size()), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn in_use() -> isize {
    IN_USE.load(Ordering::Relaxed)
}

const SAMPLES: usize = 1_000_000;
const CHUNK: usize = 10_000;
const MIB: isize = 1024 * 1024;

/// Records [`SAMPLES`] durations through `DaemonMetrics::time` and a histogram of the daemon's
/// own, in chunks with a pause after each; returns the largest growth of the heap seen.
fn record(runtime: &tokio::runtime::Runtime, metrics: &DaemonMetrics, registry: &Registry, pause: Duration) -> isize {
    let own = metrics::with_local_recorder(registry.recorder(), || metrics::histogram!("job_seconds"));
    let base = in_use();
    let mut peak = 0;
    runtime.block_on(async {
        for _ in 0..SAMPLES / CHUNK {
            for i in 0..CHUNK {
                metrics.time(async { Ok::<_, ()>(()) }).await.unwrap_or_default();
                own.record(i as f64);
            }
            peak = peak.max(in_use() - base);
            tokio::time::sleep(pause).await;
        }
    });
    peak
}

/// `name_count` in `text`.
fn count(text: &str, name: &str) -> usize {
    let prefix = format!("{name}_count ");
    let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("no {prefix} in {text}"));
    line[prefix.len()..].parse().unwrap()
}

#[test]
fn upkeep_bounds_histogram_memory_without_scrapes() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();

    // The exporter's upkeep task, on a short interval, with nobody scraping.
    let registry = Registry::new();
    let settings = MetricsSettings {
        enabled: true,
        listen: ([127, 0, 0, 1], 0).into(),
        upkeep_interval: Duration::from_millis(5),
        ..MetricsSettings::default()
    };
    let exporter = Exporter::bind(&settings, &registry).unwrap().start(runtime.handle()).unwrap();
    let bounded = record(&runtime, &DaemonMetrics::registered(&registry), &registry, Duration::from_millis(20));
    exporter.stop();
    let text = registry.render();
    // The exporter's lock-free sample buffer (metrics-util 0.20's `AtomicBucket`) can drop samples
    // written while a drain runs: one in flight, or a whole block of 64 when the drain lands between
    // a writer installing a new block and linking the previous one. Draining every 5 ms under load
    // shows it (a few per million idle, up to ~0.5% on a busy machine); the test is about memory.
    for name in ["duende_request_duration_seconds", "job_seconds"] {
        let counted = count(&text, name);
        println!("{name}: {counted} of {SAMPLES} samples counted");
        assert!((SAMPLES - SAMPLES / 20..=SAMPLES).contains(&counted), "{name}: {counted} of {SAMPLES}");
    }

    // The control: no upkeep, no scrape; the samples pile up.
    let idle = Registry::new();
    let unbounded = record(&runtime, &DaemonMetrics::registered(&idle), &idle, Duration::ZERO);
    println!(
        "heap growth over 2 x {SAMPLES} samples: at most {bounded} bytes with upkeep every 5 ms, {unbounded} without"
    );
    assert!(unbounded > 16 * MIB, "without upkeep 2 x {SAMPLES} samples should hold > 16 MiB, held {unbounded} bytes");
    assert!(bounded < 4 * MIB, "with upkeep every 5 ms the heap grew by {bounded} bytes");
    assert_eq!(count(&idle.render(), "job_seconds"), SAMPLES, "nothing is lost without concurrent draining");
}
