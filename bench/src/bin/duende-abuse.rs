//! Issue 15, item 6: abuse of the control channel while the daemon does its own work.
//!
//! The daemon is the tests' probe (`duende-probe`) recording requests in a loop (`work_per_ms`) and
//! fed to a service manager's watchdog (`WATCHDOG_USEC`, the `NOTIFY_SOCKET` served here). For 30 s
//! (`--seconds S`) it gets, all at once:
//!
//! - 1,000 concurrent connections of its own user (`--connections N`), each reconnecting 200 ms
//!   after it is closed: 70% silent, 20% slow-loris (a byte every 2 s, never a newline), 5%
//!   oversized frames (64 KiB without a newline, or 8 KiB with one), 5% truncated frames (half a
//!   request, then end-of-file or a dropped connection);
//! - as root, 4 clients of uid 65534, every 20 ms: the socket is made 0666 for them (its 0600
//!   mode would have the kernel refuse them before the daemon sees them), so the daemon's own
//!   credential check refuses them. Not root: that part is skipped, and a line says so;
//! - a `status` request of the daemon's own user every 100 ms, as `status --json` makes it: its
//!   latency (connect to reply) and whether it was answered.
//!
//! Printed: the status latency (median, max) and failures; resident memory and open descriptors of
//! the daemon (before, peak, after: after is 6 s after the abuse, past the 5 s read deadline; the
//! memory is bounded when the mean of the abuse's last quarter is within 10% of its first's);
//! watchdog notifications and work done during the abuse; what the abusers were answered; the
//! refusals the foreign clients got against the refusal lines the daemon logged, with the rate limit
//! of `duende-runtime/src/control/server.rs` (`LogBudget`: a burst of 10 lines, then one per 6 s,
//! each line counting those left out since the previous one).
//!
//! `scripts/reliability` builds this in release mode and runs it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duende_bench::median;
use duende_bench::probe::{Probe, binary, conclude, json_number};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const NOBODY: u32 = 65534;
const FOREIGN_CLIENTS: usize = 4;
/// `LogBudget` in duende-runtime/src/control/server.rs.
const LOG_BURST: u64 = 10;
const LOG_REFILL: Duration = Duration::from_secs(6);
/// The server's read deadline, plus a margin: by then every abuser's connection is gone.
const SETTLE: Duration = Duration::from_secs(6);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--foreign") {
        foreign(&args[1..]);
        return;
    }
    let (mut seconds, mut connections) = (30u64, 1000usize);
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1).and_then(|v| v.parse::<u64>().ok())) {
            ("--seconds", Some(s)) if s > 0 => seconds = s,
            ("--connections", Some(n)) => connections = usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                eprintln!("usage: duende-abuse [--seconds S] [--connections N]");
                std::process::exit(2);
            }
        }
    }
    conclude("abuse", abuse(Duration::from_secs(seconds), connections));
}

/// What the abusers were answered, by the error code of the reply (or how the connection ended).
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, what: &str) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(what.to_owned()).or_default() += 1;
    }
}

fn code_of(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    match text.find("\"code\":\"") {
        Some(at) => text[at + 8..].split('"').next().unwrap_or("?").to_owned(),
        None if text.contains("\"ok\":true") => "ok".to_owned(),
        None if text.is_empty() => "closed without a reply".to_owned(),
        None => "unparsed reply".to_owned(),
    }
}

/// Reads what the server writes until it closes (or `patience` passes).
async fn replies(stream: &mut UnixStream, patience: Duration) -> Vec<u8> {
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(patience, async {
        let mut chunk = [0u8; 1024];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    reply
}

/// One abusive client, reconnecting until `stop`.
async fn abuser(kind: usize, socket: std::path::PathBuf, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let Ok(mut stream) = UnixStream::connect(&socket).await else {
            tally.add("connect failed");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let reply = match kind {
            // Silent: holds the connection until the server closes it.
            0 => replies(&mut stream, Duration::from_secs(30)).await,
            // Slow-loris: a byte every 2 s, never a newline.
            1 => {
                let mut reply = Vec::new();
                for byte in br#"{"v":1,"op":"status"   "#.iter().cycle() {
                    if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    reply = replies(&mut stream, Duration::from_secs(2)).await;
                    if !reply.is_empty() {
                        break;
                    }
                }
                reply
            }
            // Oversized: 64 KiB without a newline, or 8 KiB with one.
            2 => {
                let frame = if round.is_multiple_of(2) {
                    vec![b'x'; 64 << 10]
                } else {
                    [vec![b' '; 8 << 10], vec![b'\n']].concat()
                };
                let _ = stream.write_all(&frame).await;
                replies(&mut stream, Duration::from_secs(10)).await
            }
            // Truncated: half a request, then end-of-file, or the connection dropped.
            _ => {
                let _ = stream.write_all(br#"{"v":1,"op":"sta"#).await;
                if round.is_multiple_of(2) {
                    let _ = stream.shutdown().await;
                    replies(&mut stream, Duration::from_secs(10)).await
                } else {
                    drop(stream);
                    tally.add("dropped after half a request");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        };
        tally.add(&code_of(&reply));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client of another uid (this program, re-run as `--foreign SOCKET MILLIS` under uid 65534):
/// connects every 20 ms for MILLIS and prints what it was answered.
fn foreign(args: &[String]) {
    use std::io::Read;
    let (Some(socket), Some(millis)) = (args.first(), args.get(1).and_then(|m| m.parse::<u64>().ok())) else {
        std::process::exit(2);
    };
    let deadline = Instant::now() + Duration::from_millis(millis);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    while Instant::now() < deadline {
        let what = match std::os::unix::net::UnixStream::connect(socket) {
            Ok(mut stream) => {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reply = Vec::new();
                let _ = stream.read_to_end(&mut reply);
                code_of(&reply)
            }
            Err(e) => format!("connect: {e}"),
        };
        *seen.entry(what).or_default() += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    for (what, n) in seen {
        println!("{n}\t{what}");
    }
}

/// The foreign clients' tallies, added up.
fn run_foreign(socket: &std::path::Path, during: Duration) -> Result<BTreeMap<String, u64>, String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = (0..FOREIGN_CLIENTS)
        .map(|_| {
            std::process::Command::new(&exe)
                .arg("--foreign")
                .arg(socket)
                .arg(during.as_millis().to_string())
                .uid(NOBODY)
                .gid(NOBODY)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start a client as uid {NOBODY}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut total = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((n, what)) = line.split_once('\t') {
                *total.entry(what.to_owned()).or_insert(0) += n.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// The N of a count line, `N more refused connections (...) were not logged`.
fn counted(line: &str) -> Option<u64> {
    let (before, _) = line.split_once(" more refused connections")?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The number in `(N more refused and not logged before it)`, 0 without one.
fn left_out(line: &str) -> u64 {
    line.split_once(" more refused and not logged")
        .and_then(|(before, _)| before.rsplit('(').next()?.parse().ok())
        .unwrap_or(0)
}

fn abuse(during: Duration, connections: usize) -> Result<Vec<String>, String> {
    raise_fd_limit(connections as u64 + 256);
    let config = "shutdown_timeout = \"10s\"\n\n[app]\nwork_per_ms = 20\n";
    let watchdog = Duration::from_secs(1);
    let mut probe = Probe::start(&binary(), &duende_bench::scratch_dir(), config, Some(watchdog))?;
    let pid = probe.pid;
    let socket = probe.socket();
    println!("daemon: duende-probe pid {pid}, recording 20 requests/ms of its own, watchdog {watchdog:?}");
    std::thread::sleep(Duration::from_secs(1));
    let (rss_before, fds_before) = (probe.rss_kib(), probe.fds());
    let requests_before =
        probe.status(Duration::from_secs(5)).ok().and_then(|(l, _)| json_number(&l, "requests_total"));

    let root = duende_bench::probe::euid() == 0;
    if root {
        for (path, mode) in [(&probe.runtime_dir, 0o755), (&socket, 0o666)] {
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        }
    } else {
        println!("other uids: skipped (not root: cannot run a client as uid {NOBODY})");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let abusers: Vec<_> = (0..connections)
        .map(|i| {
            let kind = match i % 20 {
                0..=13 => 0,
                14..=17 => 1,
                18 => 2,
                _ => 3,
            };
            runtime.spawn(abuser(kind, socket.clone(), Arc::clone(&stop), Arc::clone(&tally)))
        })
        .collect();
    let abuse_started = Instant::now();
    let watchdogs_before = probe.watchdogs.load(Ordering::Relaxed);
    let foreign = root.then(|| {
        let socket = socket.clone();
        std::thread::spawn(move || run_foreign(&socket, during))
    });

    // The daemon's own user asks for `status` every 100 ms; memory and descriptors meanwhile.
    let (mut latencies, mut status_failures) = (Vec::new(), BTreeMap::<String, u64>::new());
    let (mut rss_peak, mut fds_peak) = (rss_before, fds_before);
    let mut rss_samples = duende_bench::probe::Samples::default();
    while abuse_started.elapsed() < during {
        match probe.status(Duration::from_secs(10)) {
            Ok((line, took)) if line.contains("\"ok\":true") => latencies.push(took.as_micros() as u64),
            Ok((line, _)) => {
                let message = line.split("\"message\":\"").nth(1).unwrap_or("").chars().take(40).collect::<String>();
                *status_failures.entry(format!("{}: {message}", code_of(line.as_bytes()))).or_default() += 1;
            }
            Err(e) => *status_failures.entry(e.split(':').next().unwrap_or("").to_owned()).or_default() += 1,
        }
        let rss = probe.rss_kib();
        rss_peak = rss_peak.max(rss);
        rss_samples.0.push(rss);
        fds_peak = fds_peak.max(probe.fds());
        std::thread::sleep(Duration::from_millis(100));
    }
    let abuse_took = abuse_started.elapsed();
    let watchdogs = probe.watchdogs.load(Ordering::Relaxed) - watchdogs_before;
    stop.store(true, Ordering::Relaxed);
    let foreign = match foreign {
        Some(handle) => Some(handle.join().map_err(|_| "the foreign clients' thread panicked")??),
        None => None,
    };
    for abuser in abusers {
        abuser.abort();
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    let requests_after = probe.status(Duration::from_secs(5)).ok().and_then(|(l, _)| json_number(&l, "requests_total"));
    std::thread::sleep(SETTLE);
    let (rss_after, fds_after) = (probe.rss_kib(), probe.fds());
    let status_after = probe.status(Duration::from_secs(5));

    let total_status = latencies.len() as u64 + status_failures.values().sum::<u64>();
    println!(
        "abuse: {connections} connections of the daemon's user for {:.1} s (70% silent, 20% slow-loris, 5% oversized, 5% truncated), \
         each reconnecting 200 ms after it is closed",
        abuse_took.as_secs_f64()
    );
    let answered: Vec<String> = tally
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("abusers were answered: {}", answered.join(", "));
    println!(
        "status during the abuse: {} of {total_status} answered; latency median {:.2} ms, max {:.2} ms; failures: {}",
        latencies.len(),
        median(latencies.iter().copied()) as f64 / 1000.0,
        latencies.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
        if status_failures.is_empty() { "none".to_owned() } else { format!("{status_failures:?}") }
    );
    let (_, _, _, early, late) = rss_samples.summary();
    let flat = late <= early * 1.10;
    println!(
        "memory: RSS before {rss_before} KiB, peak {rss_peak} KiB, after {rss_after} KiB; during the abuse, mean of the first \
         quarter {early:.0} KiB, of the last {late:.0} KiB ({})",
        if flat { "flat" } else { "growing" }
    );
    println!("fds: before {fds_before}, peak {fds_peak}, after {fds_after}");
    let expected_pings = abuse_took.as_secs_f64() / (watchdog.as_secs_f64() / 2.0);
    let work = match (requests_before, requests_after) {
        (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
        _ => "?".to_owned(),
    };
    println!(
        "manager and work: {watchdogs} WATCHDOG=1 during the abuse (one per {:?} expected: {expected_pings:.0}); {work} requests of its own work",
        watchdog / 2
    );

    let mut failures = Vec::new();
    if !status_failures.is_empty() {
        failures.push(format!(
            "status went unanswered {} times: {status_failures:?}",
            total_status - latencies.len() as u64
        ));
    }
    if !matches!(&status_after, Ok((line, _)) if line.contains("\"ok\":true")) {
        failures.push(format!("status after the abuse: {status_after:?}"));
    }
    if !flat || rss_after > rss_peak {
        failures.push(format!("memory grew: {early:.0} KiB to {late:.0} KiB during the abuse, {rss_after} KiB after"));
    }
    if fds_after > fds_before || fds_peak > fds_before + 2 * 16 + 8 {
        failures.push(format!("descriptors: {fds_before} before, peak {fds_peak}, after {fds_after}"));
    }
    if (watchdogs as f64) < expected_pings * 0.8 {
        failures.push(format!("the watchdog was fed {watchdogs} times, {expected_pings:.0} expected"));
    }

    if let Some(foreign) = foreign {
        let refused = foreign.get("permission-denied").copied().unwrap_or(0);
        let others: Vec<String> =
            foreign.iter().filter(|(k, _)| *k != "permission-denied").map(|(k, v)| format!("{k} {v}")).collect();
        let log = probe.log.snapshot();
        let lines: Vec<&String> =
            log.iter().filter(|l| l.contains(&format!("refused a connection from uid {NOBODY}"))).collect();
        let counts: Vec<u64> = log.iter().filter_map(|l| counted(l)).collect();
        let reported: u64 = lines.iter().map(|l| left_out(l)).sum::<u64>() + counts.iter().sum::<u64>();
        let limit = LOG_BURST + (abuse_took + SETTLE).as_secs() / LOG_REFILL.as_secs() + 1;
        println!(
            "other uids: {refused} connections of uid {NOBODY} refused (permission-denied){}; the daemon logged {} refusal lines \
             and {} counts of refusals left out (rate limit: {LOG_BURST} at once, then one per {}s: at most {limit} over {:.0} s), saying {reported} more were left out: \
             {} of {refused} refusals accounted for in the log",
            if others.is_empty() { String::new() } else { format!(", besides: {}", others.join(", ")) },
            lines.len(),
            counts.len(),
            LOG_REFILL.as_secs(),
            (abuse_took + SETTLE).as_secs_f64(),
            lines.len() as u64 + reported,
        );
        if (lines.len() + counts.len()) as u64 > limit {
            failures.push(format!(
                "{} refusal lines logged, more than the rate limit's {limit}",
                lines.len() + counts.len()
            ));
        }
        if lines.len() as u64 + reported != refused {
            failures.push(format!(
                "refusals not logged: {refused} refused, {} logged and {reported} counted as left out",
                lines.len()
            ));
        }
    }

    let ended = probe.terminate(Duration::from_secs(15))?;
    println!("shutdown: SIGTERM to exit {:.0} ms, exit {:?}", ended.after.as_secs_f64() * 1000.0, ended.code);
    if ended.code != Some(0) {
        failures.push(format!("the daemon did not stop cleanly: {ended:?}"));
    }
    Ok(failures)
}

/// Raises this process's open-file limit to `want` (or its hard limit) for the abusers' sockets.
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit to fill, then to read from.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
