//! Measures duende's daemon against the same duties written by hand and against a bare tokio floor,
//! in the same run, and prints the figures side by side with their ratios: start-to-ready (READY=1
//! on a NOTIFY_SOCKET bound here), SIGTERM-to-exit (20 ms after READY, as a restart sees it, and
//! 1 s after, once duende's trim after READY is over, as a daemon that has run a while sees it),
//! wake-ups of an idle daemon over 10 s (context switches of all its threads, from /proc), RSS and
//! threads.
//!
//! The daemon is the README's `01_counter` (`duende-counter`, built from `examples/01_counter.rs`)
//! started as a deployment starts it, with a configuration file and a `--set`; the hand-written
//! one (`handwritten`, `src/bin/handwritten.rs`) gets the same file and the same `--set`.
//!
//! `scripts/bench` builds the binaries in release mode and runs this.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use duende_bench::{context_switches, drain, median, scratch_dir, spawn_quiet, status_field, terminate, wait_ready};

const RUNS: usize = 51;
/// Runs of the settled series: each waits a second.
const SETTLED_RUNS: usize = 25;
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const IDLE_INSTANCES: usize = 9;
/// The configuration both counters read; `--set` then overrides the interval, so an idle counter
/// ticks once a minute (never within the window).
const CONFIG: &str = "log_level = \"info\"\n\n[app]\ninterval_ms = 1000\n";
const SET: &str = "app.interval_ms=60000";

/// The rows the ratios are taken against.
const FLOOR: usize = 0;
const HANDWRITTEN: usize = 1;
const DUENDE: usize = 2;
const LINKED: usize = 4;
const LEAN: usize = 5;

struct Subject {
    label: &'static str,
    path: PathBuf,
    /// Whether it gets `--config FILE --set app.interval_ms=60000`.
    configured: bool,
    /// More arguments after those.
    extra: &'static [&'static str],
}

struct Figures {
    ready: Vec<Duration>,
    exit: Vec<Duration>,
    /// TERM->exit of an instance that ran [`SETTLED`] first (duende's trim after READY is over).
    exit_settled: Vec<Duration>,
    wakeups: u64,
    rss_kib: u64,
    /// The anonymous part of the RSS (heap, stacks); the rest is mapped files, mostly the text
    /// of the binary and of libc.
    anon_kib: u64,
    threads: u64,
}

fn main() -> Result<(), String> {
    let dir = std::env::current_exe().map_err(|e| e.to_string())?.parent().map(Path::to_path_buf).unwrap_or_default();
    let subject = |label, name, configured| Subject { label, path: dir.join(name), configured, extra: &[] };
    let subjects = [
        subject("tokio floor", "baseline", false),
        subject("hand-written", "handwritten", true),
        subject("duende 01_counter", "duende-counter", true),
        // Not targets. The no-argument fast path, for comparison with the configured daemon.
        subject("duende, no args", "duende-idle", false),
        // Splits duende's RSS into what linking it costs and what its work costs.
        subject("floor, linked", "duende-linked", false),
        // The same 01_counter with duende's default features off (`bench/lean`): no exporter, no
        // management backends.
        subject("duende lean", "duende-counter-lean", true),
        // 01_counter holding every page it touched while starting (see duende_runtime::trim).
        Subject {
            extra: &["--set", "resources.trim_after_ready=false"],
            ..subject("duende, no trim", "duende-counter", true)
        },
    ];
    for s in &subjects {
        if !s.path.exists() {
            return Err(format!("{} not found; run scripts/bench (it builds every bench binary)", s.path.display()));
        }
    }
    lean_or_refuse(&subjects[LEAN].path)?;
    let work = scratch_dir().join(format!("duende-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let config = work.join("counter.toml");
    std::fs::write(&config, CONFIG).map_err(|e| e.to_string())?;
    let socket_path = work.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;

    let mut figures: Vec<Figures> = subjects
        .iter()
        .map(|_| Figures {
            ready: Vec::new(),
            exit: Vec::new(),
            exit_settled: Vec::new(),
            wakeups: 0,
            rss_kib: 0,
            anon_kib: 0,
            threads: 0,
        })
        .collect();
    // Warm the page cache, then alternate the subjects so drift hits all alike.
    for s in &subjects {
        let _ = start_and_stop(s, &config, &socket, &socket_path, JUST_READY)?;
    }
    for _ in 0..RUNS {
        for (s, f) in subjects.iter().zip(figures.iter_mut()) {
            let (ready, exit) = start_and_stop(s, &config, &socket, &socket_path, JUST_READY)?;
            f.ready.push(ready);
            f.exit.push(exit);
        }
    }
    // Apart, so the rounds above stay short (drift between subjects of a round stays small).
    for _ in 0..SETTLED_RUNS {
        for (s, f) in subjects.iter().zip(figures.iter_mut()) {
            let (_, exit) = start_and_stop(s, &config, &socket, &socket_path, SETTLED)?;
            f.exit_settled.push(exit);
        }
    }
    // Idle: every instance of every subject at once, so they share the same window of machine
    // noise; medians over the instances.
    let mut children: Vec<(usize, Child)> = Vec::new();
    for _ in 0..IDLE_INSTANCES {
        for (i, s) in subjects.iter().enumerate() {
            let child = spawn(s, &config, &socket_path)?;
            wait_ready(&socket, &child)?;
            children.push((i, child));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let before: Vec<u64> = children.iter().map(|(_, c)| context_switches(c.id())).collect();
    std::thread::sleep(IDLE_WINDOW);
    let mut wakeups: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
    let mut rss: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
    let mut anon: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
    let mut threads: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
    for ((i, child), before) in children.iter_mut().zip(before) {
        wakeups[*i].push(context_switches(child.id()).saturating_sub(before));
        rss[*i].push(status_field(child.id(), "VmRSS:"));
        anon[*i].push(status_field(child.id(), "RssAnon:"));
        threads[*i].push(status_field(child.id(), "Threads:"));
        drain(&socket)?;
        terminate(child);
        let _ = child.wait();
    }
    for (i, f) in figures.iter_mut().enumerate() {
        f.wakeups = median(wakeups[i].iter().copied());
        f.rss_kib = median(rss[i].iter().copied());
        f.anon_kib = median(anon[i].iter().copied());
        f.threads = median(threads[i].iter().copied());
    }
    let _ = std::fs::remove_dir_all(&work);
    report(&subjects, &figures);
    Ok(())
}

/// A build of the whole workspace unifies features and gives the lean binary every one: make
/// sure this one has no management backend (it must refuse `install` for want of the feature).
fn lean_or_refuse(path: &Path) -> Result<(), String> {
    let out = Command::new(path)
        .args(["install", "--platform", "native", "--dry-run"])
        .output()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let said = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(69) && said.contains("built without duende's `native` feature") {
        return Ok(());
    }
    Err(format!(
        "{} is not the lean build (install --platform native --dry-run exited {:?}: {said}); build it on its own \
         with `cargo build --release -p duende-bench-lean`, as scripts/bench does",
        path.display(),
        out.status.code()
    ))
}

fn spawn(s: &Subject, config: &Path, socket: &Path) -> Result<Child, String> {
    // A runtime directory per instance (for duende's control socket and instance lock): the
    // idle measurement runs many instances at once, and one directory admits one instance.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let run = socket.with_file_name(format!("run-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let mut command = Command::new(&s.path);
    command.env("RUNTIME_DIRECTORY", run);
    if s.configured {
        command.arg("--config").arg(config).args(["--set", SET]);
    }
    command.args(s.extra);
    spawn_quiet(command, socket)
}

/// How long after READY the start/stop runs send SIGTERM: at once, as a restart does.
const JUST_READY: Duration = Duration::from_millis(20);
/// And as a daemon that has run a while sees it: after duende's trims (at READY and 250 ms after).
const SETTLED: Duration = Duration::from_secs(1);

fn start_and_stop(
    s: &Subject,
    config: &Path,
    socket: &UnixDatagram,
    path: &Path,
    after_ready: Duration,
) -> Result<(Duration, Duration), String> {
    let start = Instant::now();
    let mut child = spawn(s, config, path)?;
    wait_ready(socket, &child)?;
    let ready = start.elapsed();
    std::thread::sleep(after_ready);
    let stop = Instant::now();
    terminate(&child);
    let status = child.wait().map_err(|e| e.to_string())?;
    let exit = stop.elapsed();
    if !status.success() {
        return Err(format!("{} exited with {status} after SIGTERM", s.label));
    }
    drain(socket)?;
    Ok((ready, exit))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn report(subjects: &[Subject], f: &[Figures]) {
    println!(
        "duende bench: medians of {RUNS} start/stop runs per subject ({SETTLED_RUNS} settled); idle: medians of {IDLE_INSTANCES} instances each over {}s",
        IDLE_WINDOW.as_secs()
    );
    println!("configured subjects run with --config FILE --set {SET}");
    println!("TERM->exit: {} ms after READY, and (settled) {} s after", JUST_READY.as_millis(), SETTLED.as_secs());
    println!(
        "{:<18} {:>12} {:>12} {:>10} {:>14} {:>11} {:>13} {:>8}",
        "", "start->READY", "TERM->exit", "settled", "idle wake-ups", "RSS", "of it anon", "threads"
    );
    for (s, f) in subjects.iter().zip(f) {
        println!(
            "{:<18} {:>12} {:>12} {:>10} {:>14} {:>7} KiB {:>9} KiB {:>8}",
            s.label,
            ms(median(f.ready.iter().copied())),
            ms(median(f.exit.iter().copied())),
            ms(median(f.exit_settled.iter().copied())),
            f.wakeups,
            f.rss_kib,
            f.anon_kib,
            f.threads
        );
    }
    let ready = |f: &Figures| median(f.ready.iter().copied()).as_secs_f64();
    let exit = |f: &Figures| median(f.exit.iter().copied()).as_secs_f64();
    let settled = |f: &Figures| median(f.exit_settled.iter().copied()).as_secs_f64();
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", a / b)
        } else if a > 0.0 {
            format!("{a} vs 0")
        } else {
            "both 0".to_owned()
        }
    };
    println!();
    println!("ratios           {:>24} {:>24}", "vs hand-written", "vs tokio floor");
    for (s, x) in subjects.iter().zip(f).skip(1) {
        let (hw, floor) = (&f[HANDWRITTEN], &f[FLOOR]);
        let row = |what: &str, a: f64, hw: f64, floor: f64| {
            println!("{:<18} {what:<12} {:>10} {:>24}", s.label, ratio(a, hw), ratio(a, floor));
        };
        row("start->READY", ready(x), ready(hw), ready(floor));
        row("RSS", x.rss_kib as f64, hw.rss_kib as f64, floor.rss_kib as f64);
        row("RSS anon", x.anon_kib as f64, hw.anon_kib as f64, floor.anon_kib as f64);
        row("wake-ups", x.wakeups as f64, hw.wakeups as f64, floor.wakeups as f64);
        row("TERM->exit", exit(x), exit(hw), exit(floor));
        row("settled", settled(x), settled(hw), settled(floor));
    }
    let (hw, ours) = (&f[HANDWRITTEN], &f[DUENDE]);
    let verdict = |ok: bool| if ok { "meets target" } else { "MISSES target" };
    println!();
    println!("targets: {} against the hand-written equivalent", subjects[DUENDE].label);
    let ready_ratio = ready(ours) / ready(hw);
    println!("  start->READY  {ready_ratio:.2}x (target <= 1.2x)  {}", verdict(ready_ratio <= 1.2));
    let rss_ratio = ours.rss_kib as f64 / hw.rss_kib.max(1) as f64;
    println!(
        "  RSS           {rss_ratio:.2}x (target <= 1.2x)  {}; of it anonymous {:.2}x ({} vs {} KiB), the rest \
         is the binaries' text",
        verdict(rss_ratio <= 1.2),
        ours.anon_kib as f64 / hw.anon_kib.max(1) as f64,
        ours.anon_kib,
        hw.anon_kib
    );
    println!(
        "  idle wake-ups {} vs {} (target <= hand-written)  {}",
        ours.wakeups,
        hw.wakeups,
        verdict(ours.wakeups <= hw.wakeups)
    );
    let exit_ratio = exit(ours) / exit(hw);
    println!("  TERM->exit    {exit_ratio:.2}x (target <= 1.2x)  {}", verdict(exit_ratio <= 1.2));
    let settled_ratio = settled(ours) / settled(hw);
    println!(
        "  TERM->exit    {settled_ratio:.2}x settled, {} s after READY (target <= 1.2x)  {}",
        SETTLED.as_secs(),
        verdict(settled_ratio <= 1.2)
    );
    println!(
        "  threads       {} vs {} hand-written, {} floor (see duende-runtime's docs for each thread)",
        ours.threads, hw.threads, f[FLOOR].threads
    );
    let lean = &f[LEAN];
    let lean_ratio = lean.rss_kib as f64 / f[FLOOR].rss_kib.max(1) as f64;
    println!(
        "  lean build    RSS {lean_ratio:.2}x the tokio floor (target <= 1.3x)  {}; {:.2}x hand-written",
        verdict(lean_ratio <= 1.3),
        lean.rss_kib as f64 / hw.rss_kib.max(1) as f64
    );
    let (floor, linked) = (&f[FLOOR], &f[LINKED]);
    println!(
        "RSS split: linking duende {:.2}x (the floor's work in a binary that links all of duende), \
         duende's work {:.2}x (the no-argument duende daemon against that binary)",
        linked.rss_kib as f64 / floor.rss_kib.max(1) as f64,
        f[3].rss_kib as f64 / linked.rss_kib.max(1) as f64
    );
}
