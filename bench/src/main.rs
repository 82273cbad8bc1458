//! Measures a duende daemon against a bare tokio baseline in the same run and prints the figures:
//! start-to-ready (READY=1 on a NOTIFY_SOCKET bound here), SIGTERM-to-exit, wake-ups of an idle
//! daemon over 10 s (context switches of all its threads, from /proc), and RSS.
//!
//! `scripts/bench` builds the binaries in release mode and runs this.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use duende_bench::{context_switches, drain, median, scratch_dir, spawn_quiet, status_field, terminate, wait_ready};

const RUNS: usize = 41;
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const IDLE_INSTANCES: usize = 15;

struct Subject {
    label: &'static str,
    path: PathBuf,
}

struct Figures {
    ready: Vec<Duration>,
    exit: Vec<Duration>,
    wakeups: u64,
    rss_kib: u64,
}

fn main() -> Result<(), String> {
    let dir = std::env::current_exe().map_err(|e| e.to_string())?.parent().map(Path::to_path_buf).unwrap_or_default();
    let subjects = [
        Subject { label: "tokio baseline", path: dir.join("baseline") },
        Subject { label: "duende", path: dir.join("duende-idle") },
        // Not a target: splits duende's RSS into what linking it costs and what its work costs.
        Subject { label: "baseline, linked", path: dir.join("duende-linked") },
    ];
    for s in &subjects {
        if !s.path.exists() {
            return Err(format!("{} not found; run scripts/bench (it builds every bench binary)", s.path.display()));
        }
    }
    let work = scratch_dir().join(format!("duende-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let socket_path = work.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;

    let mut figures: Vec<Figures> =
        subjects.iter().map(|_| Figures { ready: Vec::new(), exit: Vec::new(), wakeups: 0, rss_kib: 0 }).collect();
    // Warm the page cache, then alternate the subjects so drift hits both alike.
    for s in &subjects {
        let _ = start_and_stop(s, &socket, &socket_path)?;
    }
    for _ in 0..RUNS {
        for (s, f) in subjects.iter().zip(figures.iter_mut()) {
            let (ready, exit) = start_and_stop(s, &socket, &socket_path)?;
            f.ready.push(ready);
            f.exit.push(exit);
        }
    }
    // Idle: every instance of both subjects at once, so they share the same window of machine
    // noise; medians over the instances.
    let mut children: Vec<(usize, Child)> = Vec::new();
    for _ in 0..IDLE_INSTANCES {
        for (i, s) in subjects.iter().enumerate() {
            let child = spawn(s, &socket_path)?;
            wait_ready(&socket, &child)?;
            children.push((i, child));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let before: Vec<u64> = children.iter().map(|(_, c)| context_switches(c.id())).collect();
    std::thread::sleep(IDLE_WINDOW);
    let mut wakeups: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
    let mut rss: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
    for ((i, child), before) in children.iter_mut().zip(before) {
        wakeups[*i].push(context_switches(child.id()).saturating_sub(before));
        rss[*i].push(status_field(child.id(), "VmRSS:"));
        drain(&socket)?;
        terminate(child);
        let _ = child.wait();
    }
    for (i, f) in figures.iter_mut().enumerate() {
        f.wakeups = median(wakeups[i].iter().copied());
        f.rss_kib = median(rss[i].iter().copied());
    }
    let _ = std::fs::remove_dir_all(&work);
    report(&subjects, &figures);
    Ok(())
}

fn spawn(s: &Subject, socket: &Path) -> Result<Child, String> {
    // A runtime directory per instance (for duende's control socket and instance lock): the
    // idle measurement runs many instances at once, and one directory admits one instance.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let run = socket.with_file_name(format!("run-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let mut command = Command::new(&s.path);
    command.env("RUNTIME_DIRECTORY", run);
    spawn_quiet(command, socket)
}

fn start_and_stop(s: &Subject, socket: &UnixDatagram, path: &Path) -> Result<(Duration, Duration), String> {
    let start = Instant::now();
    let mut child = spawn(s, path)?;
    wait_ready(socket, &child)?;
    let ready = start.elapsed();
    std::thread::sleep(Duration::from_millis(20));
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
        "duende bench: medians of {RUNS} start/stop runs per subject; idle: medians of {IDLE_INSTANCES} instances each over {}s",
        IDLE_WINDOW.as_secs()
    );
    println!("{:<17} {:>14} {:>14} {:>16} {:>10}", "", "ready (median)", "TERM->exit", "idle wake-ups", "RSS");
    for (s, f) in subjects.iter().zip(f) {
        println!(
            "{:<17} {:>14} {:>14} {:>16} {:>7} KiB",
            s.label,
            ms(median(f.ready.iter().copied())),
            ms(median(f.exit.iter().copied())),
            f.wakeups,
            f.rss_kib
        );
    }
    let (base, ours) = (&f[0], &f[1]);
    let ready_ratio =
        median(ours.ready.iter().copied()).as_secs_f64() / median(base.ready.iter().copied()).as_secs_f64();
    let rss_ratio = ours.rss_kib as f64 / base.rss_kib.max(1) as f64;
    let verdict = |ok: bool| if ok { "meets target" } else { "MISSES target" };
    println!("ready ratio     {ready_ratio:.2}x (target <= 1.5x)  {}", verdict(ready_ratio <= 1.5));
    let exit = median(ours.exit.iter().copied());
    println!("TERM->exit      {} (target < 5 ms)  {}", ms(exit), verdict(exit < Duration::from_millis(5)));
    println!(
        "idle wake-ups   {} vs {} (target <= baseline)  {}",
        ours.wakeups,
        base.wakeups,
        verdict(ours.wakeups <= base.wakeups)
    );
    println!("RSS ratio       {rss_ratio:.2}x (target <= 1.5x)  {}", verdict(rss_ratio <= 1.5));
    let linked = &f[2];
    println!(
        "RSS split       linking duende {:.2}x (the baseline's work in a binary that links all of duende), \
         duende's work {:.2}x (duende against that binary)",
        linked.rss_kib as f64 / base.rss_kib.max(1) as f64,
        ours.rss_kib as f64 / linked.rss_kib.max(1) as f64
    );
}
