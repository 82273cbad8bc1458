//! The metrics figures, printed (medians): what recording a request costs with metrics off and
//! with the exporter's recorder installed; how long rendering and a real HTTP scrape of 1,000
//! series take; and how often an idle daemon with the exporter on wakes over 10 s, against what
//! its upkeep interval predicts and against the same daemon with metrics off and a bare tokio
//! baseline, plus a daemon with the exporter and a health check every 2 s (wake-ups per upkeep
//! tick or check round), all measured in the same window.
//!
//! `scripts/bench-metrics` builds the binaries in release mode and runs this.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use duende_bench::{context_switches, drain, median, ms, scratch_dir, spawn_quiet, terminate, wait_ready};

use duende_runtime::config::settings::MetricsSettings;
use duende_runtime::metrics::{DaemonMetrics, Exporter, Registry};

/// Calls per timed batch, and batches, for the recording cost.
const BATCH: u32 = 10_000;
const BATCHES: usize = 501;
/// Series registered for the render and scrape figures.
const SERIES: usize = 1_000;
const SCRAPES: usize = 201;
/// The idle window, the instances of each subject, and the upkeep interval under test.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const IDLE_INSTANCES: usize = 5;
const UPKEEP: Duration = Duration::from_secs(5);
/// The health-check interval of the fourth subject (exporter and checks on).
const HEALTH: Duration = Duration::from_secs(2);

fn main() -> Result<(), String> {
    let off = record_ns(&DaemonMetrics::detached());
    let registry = Registry::new();
    registry.install_globally().map_err(|e| e.to_string())?;
    let on = record_ns(&DaemonMetrics::registered(&registry));
    let (lines, render, scrape, bytes) = render_and_scrape(&registry)?;
    let idle = idle_wakeups()?;

    let verdict = |ok: bool| if ok { "meets target" } else { "MISSES target" };
    println!("duende metrics bench (medians)");
    println!("record_request, metrics off (no recorder)      {off:>8.1} ns   ({BATCHES} batches of {BATCH})");
    println!("record_request, exporter's recorder installed  {on:>8.1} ns   (target < 50 ns)  {}", verdict(on < 50.0));
    println!("render of {SERIES} series ({lines} sample lines, {bytes} bytes)  {:>8.3} ms", ms(render));
    println!(
        "HTTP scrape of the same                         {:>8.3} ms   (target < 5 ms)  {}   ({SCRAPES} scrapes)",
        ms(scrape),
        verdict(scrape < Duration::from_millis(5))
    );
    let expected = IDLE_WINDOW.as_secs() / UPKEEP.as_secs();
    println!(
        "idle wake-ups over {}s, medians of {IDLE_INSTANCES} instances each (context switches of all threads):",
        IDLE_WINDOW.as_secs()
    );
    println!("  tokio baseline                                {:>6}", idle.baseline);
    println!("  duende, metrics off                           {:>6}", idle.off);
    println!(
        "  duende, exporter on (upkeep every {}s)         {:>6}   expected {} (baseline + {expected} upkeep ticks)",
        UPKEEP.as_secs(),
        idle.on,
        idle.off + expected
    );
    let extra = idle.on.saturating_sub(idle.off);
    println!(
        "  extra wake-ups with the exporter on           {extra:>6}   expected {expected}  {}",
        verdict(extra <= expected)
    );
    let rounds = IDLE_WINDOW.as_secs() / HEALTH.as_secs();
    let checked_extra = idle.checked.saturating_sub(idle.off);
    println!(
        "  duende, exporter on + health checks every {}s {:>6}   {expected} upkeep ticks + {rounds} check rounds: \
         {checked_extra} extra wake-ups, {:.1} per tick or round  {}",
        HEALTH.as_secs(),
        idle.checked,
        checked_extra as f64 / (expected + rounds) as f64,
        // A round wakes the scheduler and the worker running the check, at most three threads.
        verdict(checked_extra <= 3 * (expected + rounds))
    );
    Ok(())
}

/// Median cost of one `record_request`, in nanoseconds.
fn record_ns(metrics: &DaemonMetrics) -> f64 {
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(metrics).record_request();
            }
            start.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

/// Registers [`SERIES`] series through the global recorder (as a daemon's own `metrics::` calls
/// would), then times `render` alone and whole HTTP scrapes of the exporter on loopback.
fn render_and_scrape(registry: &Registry) -> Result<(usize, Duration, Duration, usize), String> {
    for i in 0..SERIES / 2 {
        metrics::counter!("bench_events_total", "series" => i.to_string()).increment(i as u64);
        metrics::gauge!("bench_level", "series" => i.to_string()).set(i as f64 / 3.0);
    }
    let text = registry.render();
    let lines = text.lines().filter(|line| !line.is_empty() && !line.starts_with('#')).count();
    let render = median((0..SCRAPES).map(|_| timed(|| drop(black_box(registry.render())))));

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(err)?;
    let settings = MetricsSettings { enabled: true, listen: ([127, 0, 0, 1], 0).into(), ..MetricsSettings::default() };
    let exporter = Exporter::bind(&settings, registry).map_err(err)?;
    let address = exporter.local_addr();
    let running = exporter.start(runtime.handle()).map_err(err)?;
    let mut bytes = 0;
    let mut times = Vec::with_capacity(SCRAPES);
    for _ in 0..SCRAPES {
        let start = Instant::now();
        let response = get(address)?;
        times.push(start.elapsed());
        if !response.starts_with("HTTP/1.1 200 OK\r\n") {
            return Err(format!("scrape failed: {}", response.lines().next().unwrap_or("")));
        }
        bytes = response.split_once("\r\n\r\n").map_or(0, |(_, body)| body.len());
    }
    running.stop();
    Ok((lines, render, median(times), bytes))
}

/// One HTTP/1.1 GET of /metrics over a fresh connection, read to the end.
fn get(address: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).map_err(err)?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(err)?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nAccept: text/plain\r\n\r\n").map_err(err)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(err)?;
    Ok(response)
}

struct Idle {
    baseline: u64,
    off: u64,
    on: u64,
    checked: u64,
}

/// Every instance of the four subjects at once, so they share one window of machine noise.
fn idle_wakeups() -> Result<Idle, String> {
    let dir = std::env::current_exe().map_err(err)?.parent().map(Path::to_path_buf).unwrap_or_default();
    let (baseline, idle, checked) = (dir.join("baseline"), dir.join("duende-idle"), dir.join("duende-checked"));
    for path in [&baseline, &idle, &checked] {
        if !path.exists() {
            return Err(format!(
                "{} not found; run scripts/bench-metrics (it builds every bench binary)",
                path.display()
            ));
        }
    }
    let work = scratch_dir().join(format!("duende-bench-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(err)?;
    let socket_path = work.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).map_err(err)?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(err)?;

    let mut children: Vec<(usize, Child)> = Vec::new();
    let mut scraped = Vec::new();
    let result = (|| {
        for n in 0..IDLE_INSTANCES {
            for subject in 0..4 {
                let runtime_dir = work.join(format!("run-{subject}-{n}"));
                let program = match subject {
                    0 => &baseline,
                    1 | 2 => &idle,
                    _ => &checked,
                };
                let prefix = if subject == 3 { "DUENDE_CHECKED" } else { "DUENDE_IDLE" };
                let mut command = Command::new(program);
                command.env("RUNTIME_DIRECTORY", &runtime_dir);
                if subject >= 2 {
                    let address = free_port()?;
                    command
                        .env(format!("{prefix}_METRICS__ENABLED"), "true")
                        .env(format!("{prefix}_METRICS__LISTEN"), address.to_string())
                        .env(format!("{prefix}_METRICS__UPKEEP_INTERVAL"), format!("{}s", UPKEEP.as_secs()));
                    scraped.push(address);
                }
                if subject == 3 {
                    command
                        .env("DUENDE_CHECKED_HEALTH_CHECK__ENABLED", "true")
                        .env("DUENDE_CHECKED_HEALTH_CHECK__INTERVAL", format!("{}s", HEALTH.as_secs()));
                }
                let child = spawn_quiet(command, &socket_path)?;
                wait_ready(&socket, &child)?;
                children.push((subject, child));
            }
        }
        // Each exporter answers (so it is really on), then the window starts with no scrapes.
        for address in &scraped {
            let response = get(*address)?;
            if !response.starts_with("HTTP/1.1 200 OK\r\n") || !response.contains("duende_uptime_seconds") {
                return Err(format!("the exporter on {address} did not serve metrics"));
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        let before: Vec<u64> = children.iter().map(|(_, child)| context_switches(child.id())).collect();
        std::thread::sleep(IDLE_WINDOW);
        let mut wakeups = vec![Vec::new(); 4];
        for ((subject, child), before) in children.iter().zip(before) {
            wakeups[*subject].push(context_switches(child.id()).saturating_sub(before));
        }
        Ok(Idle {
            baseline: median(wakeups[0].iter().copied()),
            off: median(wakeups[1].iter().copied()),
            on: median(wakeups[2].iter().copied()),
            checked: median(wakeups[3].iter().copied()),
        })
    })();
    for (_, child) in &mut children {
        let _ = drain(&socket);
        terminate(child);
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// A loopback address with a port free right now.
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map_err(err)
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}
