//! Issue 15, item 3: a signal storm at a running daemon that is busy with its own work.
//!
//! The daemon is the tests' probe (`duende-probe`) recording requests in a loop (`work_per_ms`
//! requests every millisecond: hashed, kept in a bounded log, counted in its metrics). Once it is
//! ready and warmed up (one SIGHUP, USR1, USR2 and CONT, then a second of work) it gets 10,000 signals (`--signals N`): N-1 drawn at random (a fixed seed,
//! `--seed S`) from SIGHUP (reload), SIGUSR1, SIGUSR2 and SIGCONT (routed to the daemon as events)
//! and SIGWINCH, SIGCHLD, SIGPIPE, SIGALRM (noise the runtime must shrug off), then one SIGTERM at
//! the very end. While it stops, the noise goes on (no second TERM).
//!
//! The signals come in rounds of 5 to 150 sent back to back, the rounds spread over 30 s
//! (`--seconds S`). Before each SIGHUP the configuration
//! file is rewritten with the next `label`; at the end of a round the program waits for the probe
//! to report a reload with that label (or a later one).
//!
//! What "every reload answered" means. The runtime coalesces SIGHUPs: the kernel keeps one pending
//! SIGHUP, and a SIGHUP that comes while a reload is queued joins it (`Live::queue_reload`); a
//! reload already under way does not count for a SIGHUP sent after it began. So the promise is:
//! every SIGHUP is followed by a completed reload that read the configuration as it was when the
//! SIGHUP was sent. Checked here for the last SIGHUP of every round (the one no later SIGHUP can
//! cover): a round whose label never shows up is a lost reload. Attempts can be fewer than
//! SIGHUPs; the program prints both, from `status` (`last_reload.attempts`, `config_generation`)
//! and from the log.
//!
//! Also printed: resident memory sampled every 25 ms during the storm (first, last, max, and the
//! means of the first and last quarter: flat means the last quarter's mean is within 10% of the
//! first's), file descriptors and threads, how long the final SIGTERM took and the exit status
//! (0 within `shutdown_timeout` is required).
//!
//! `scripts/reliability` builds this in release mode and runs it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duende_bench::median;
use duende_bench::probe::{Probe, Samples, binary, conclude, json_number};

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(1);
const PATIENCE: Duration = Duration::from_secs(10);

struct Options {
    signals: u64,
    /// The storm is spread over this long (its rounds sent back to back, a pause between them).
    seconds: u64,
    seed: u64,
    work_per_ms: u32,
}

fn config(label: u64, work_per_ms: u32) -> String {
    format!(
        "shutdown_timeout = \"{}s\"\n\n[app]\nlabel = \"{label}\"\nwork_per_ms = {work_per_ms}\n",
        SHUTDOWN_TIMEOUT.as_secs()
    )
}

/// The signals of the storm and their weights (SIGTERM comes once, at the end).
const MIX: [(i32, &str, u64); 8] = [
    (libc::SIGHUP, "SIGHUP", 25),
    (libc::SIGUSR1, "SIGUSR1", 12),
    (libc::SIGUSR2, "SIGUSR2", 12),
    (libc::SIGCONT, "SIGCONT", 6),
    (libc::SIGWINCH, "SIGWINCH", 12),
    (libc::SIGCHLD, "SIGCHLD", 11),
    (libc::SIGPIPE, "SIGPIPE", 11),
    (libc::SIGALRM, "SIGALRM", 11),
];

/// xorshift64*: the same storm for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn signal(&mut self) -> usize {
        let total: u64 = MIX.iter().map(|(_, _, w)| w).sum();
        let mut pick = self.below(total);
        for (i, (_, _, weight)) in MIX.iter().enumerate() {
            if pick < *weight {
                return i;
            }
            pick -= weight;
        }
        0
    }
}

/// The label of a `reloaded generation=G label=L` line of the probe.
fn reloaded_label(line: &str) -> Option<u64> {
    line.strip_prefix("reloaded generation=")?.split_once(" label=")?.1.parse().ok()
}

fn main() {
    let mut options = Options { signals: 10_000, seconds: 30, seed: 0x5eed_1e55, work_per_ms: 20 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value) {
            ("--signals", Some(n)) if n >= 2 => options.signals = n,
            ("--seed", Some(s)) if s > 0 => options.seed = s,
            ("--seconds", Some(s)) => options.seconds = s,
            ("--work-per-ms", Some(w)) => options.work_per_ms = u32::try_from(w).unwrap_or(u32::MAX),
            _ => {
                eprintln!("usage: duende-storm [--signals N (2 or more)] [--seconds S] [--seed S] [--work-per-ms W]");
                std::process::exit(2);
            }
        }
    }
    conclude("storm", storm(&options));
}

fn storm(options: &Options) -> Result<Vec<String>, String> {
    let work = options.work_per_ms;
    let mut probe = Probe::start(&binary(), &duende_bench::scratch_dir(), &config(0, work), None)?;
    let pid = probe.pid;
    println!(
        "daemon: duende-probe pid {pid}, recording {work} requests/ms of its own; shutdown_timeout {}s",
        SHUTDOWN_TIMEOUT.as_secs()
    );
    // Warm-up: one reload and one of each event, so what their first use maps is in place before
    // the samples that judge the trend.
    probe.write_config(&config(0, work))?;
    for signal in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGCONT] {
        probe.signal(signal)?;
    }
    probe.stdout.wait_for(0, PATIENCE, |line| reloaded_label(line).is_some()).ok_or("the warm-up reload never came")?;
    std::thread::sleep(WARM_UP);

    // Memory, descriptors and threads, every 25 ms while the storm lasts.
    let sampling = Arc::new(AtomicBool::new(true));
    let samples = Arc::new(Mutex::new((Samples::default(), Samples::default(), Samples::default())));
    let sampler = {
        let (sampling, samples) = (Arc::clone(&sampling), Arc::clone(&samples));
        let fd_dir = format!("/proc/{pid}/fd");
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                let rss = duende_bench::status_field(pid, "VmRSS:");
                let threads = duende_bench::status_field(pid, "Threads:");
                let fds = std::fs::read_dir(&fd_dir).map_or(0, Iterator::count) as u64;
                if rss > 0 {
                    let mut s = samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.0.0.push(rss);
                    s.1.0.push(fds);
                    s.2.0.push(threads);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };

    let mut rng = Rng(options.seed);
    let mut sent = [0u64; MIX.len()];
    let (mut total, mut label, mut rounds, mut lost, mut crashed) = (0u64, 0u64, 0u64, Vec::new(), None);
    let mut answer_ms = Vec::new();
    let started = Instant::now();
    while total < options.signals - 1 && crashed.is_none() {
        let length = (5 + rng.below(146)).min(options.signals - 1 - total);
        let mut last_hup = None;
        for _ in 0..length {
            let which = rng.signal();
            if MIX[which].0 == libc::SIGHUP {
                label += 1;
                probe.write_config(&config(label, work))?;
                last_hup = Some((label, Instant::now()));
            }
            probe.signal(MIX[which].0)?;
            sent[which] += 1;
            total += 1;
        }
        rounds += 1;
        if let Some((label, at)) = last_hup {
            let seen = probe.stdout.wait_for(0, PATIENCE, |line| reloaded_label(line).is_some_and(|l| l >= label));
            match seen {
                Some(_) => answer_ms.push(at.elapsed().as_micros() as u64),
                None => lost.push(label),
            }
        }
        if !probe.alive() {
            crashed = Some(format!("the daemon exited during round {rounds}"));
        }
        let due = Duration::from_secs(options.seconds).mul_f64(total as f64 / (options.signals - 1) as f64);
        std::thread::sleep(due.saturating_sub(started.elapsed()));
    }
    let storm_took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();

    let status =
        probe.status(Duration::from_secs(5)).map(|(line, _)| line).unwrap_or_else(|e| format!("no status: {e}"));
    let hups = sent[0];
    println!(
        "storm: {total} signals in {rounds} rounds over {:.1} s, then SIGTERM:{}",
        storm_took.as_secs_f64(),
        MIX.iter().zip(sent).map(|((_, name, _), n)| format!(" {name} {n}")).collect::<String>()
    );

    // The end: one SIGTERM, with the noise going on (every kind but TERM) until the daemon exits.
    let noise: Vec<i32> = MIX.iter().map(|(s, _, _)| *s).collect();
    let asked = Instant::now();
    probe.signal(libc::SIGTERM)?;
    let mut after_term = 0u64;
    let ended = probe.wait(asked, SHUTDOWN_TIMEOUT + Duration::from_secs(5), |round| {
        if probe_signal(pid, noise[(round as usize) % noise.len()]) {
            after_term += 1;
        }
    })?;

    let reloads_logged = probe.log.count("reloading configuration, requested by SIGHUP");
    let reloaded_logged = probe.log.count("configuration reloaded");
    let rejected_logged = probe.log.count("reload rejected");
    let reloaded_events = probe.stdout.count("reloaded generation=");
    let attempts = json_number(&status, "attempts");
    let generation = json_number(&status, "config_generation");
    let requests = json_number(&status, "requests_total");
    let panics = probe.log.count("panicked");
    println!(
        "reloads: {hups} SIGHUPs sent; {} attempts and generation {} by status; {reloads_logged} reloads begun, \
         {reloaded_logged} accepted, {rejected_logged} rejected by the log; {reloaded_events} Reloaded events read by the daemon",
        attempts.map_or("?".to_owned(), |n| n.to_string()),
        generation.map_or("?".to_owned(), |n| n.to_string()),
    );
    println!(
        "answered: {} of {} rounds' last SIGHUP covered by a later reload (SIGHUP to the reload's event: median {:.1} ms, max {:.1} ms); lost: {}",
        answer_ms.len(),
        answer_ms.len() + lost.len(),
        median(answer_ms.iter().copied()) as f64 / 1000.0,
        answer_ms.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
        if lost.is_empty() { "none".to_owned() } else { format!("{lost:?}") }
    );
    println!(
        "events: User1 {}, User2 {}, Continued {} read by the daemon (coalesced while unread); work done: {} requests",
        probe.stdout.count("event User1"),
        probe.stdout.count("event User2"),
        probe.stdout.count("event Continued"),
        requests.map_or("?".to_owned(), |n| n.to_string())
    );
    let samples = samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let (first, last, max, early, late) = samples.0.summary();
    let flat = late <= early * 1.10;
    println!(
        "memory: RSS {} samples: first {first} KiB, last {last} KiB, max {max} KiB; mean of the first quarter {early:.0} KiB, \
         of the last {late:.0} KiB ({})",
        samples.0.0.len(),
        if flat { "flat" } else { "growing" }
    );
    let (fd_first, fd_last, fd_max, _, _) = samples.1.summary();
    let (th_first, th_last, th_max, _, _) = samples.2.summary();
    println!(
        "fds: first {fd_first}, last {fd_last}, max {fd_max}; threads: first {th_first}, last {th_last}, max {th_max}"
    );
    println!(
        "shutdown: SIGTERM to exit {:.0} ms with {after_term} more signals meanwhile; exit {}",
        ended.after.as_secs_f64() * 1000.0,
        match (ended.code, ended.signal) {
            (Some(code), _) => format!("status {code}"),
            (None, Some(signal)) => format!("by signal {signal}"),
            _ => "unknown".to_owned(),
        }
    );

    let mut failures = Vec::new();
    if let Some(crash) = crashed {
        failures.push(crash);
    }
    if panics > 0 {
        failures.push(format!("{panics} panics in the log"));
    }
    if !lost.is_empty() {
        failures
            .push(format!("{} reloads lost (rounds whose last SIGHUP no reload covered: labels {lost:?})", lost.len()));
    }
    if ended.code != Some(0) || ended.after > SHUTDOWN_TIMEOUT {
        failures.push(format!("lost shutdown: {ended:?} (exit 0 within {SHUTDOWN_TIMEOUT:?} expected)"));
    }
    if !flat {
        failures.push(format!("memory grew: {early:.0} KiB to {late:.0} KiB"));
    }
    if failures.iter().any(|f| f.contains("lost shutdown") || f.contains("exited")) {
        let log = probe.log.snapshot();
        eprintln!("the daemon's log, last lines:\n{}", log[log.len().saturating_sub(30)..].join("\n"));
    }
    Ok(failures)
}

/// Sends `signal` to `pid`; false when it could not be sent.
fn probe_signal(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: kill has no memory-safety preconditions; the pid is our own unreaped child's.
    unsafe { libc::kill(pid, signal) == 0 }
}
