//! Locked memory of `examples/02_mlock.rs` (16 MiB buffer, `mlock = "required"`) against a bare
//! tokio daemon that calls `mlockall(MCL_CURRENT | MCL_FUTURE)` the same way with the same buffer
//! (`mlock-baseline`), in the same run: pinned bytes (the resident part of the locked mappings:
//! `Rss` summed over the mappings of /proc/PID/smaps whose `VmFlags` has `lo`), `VmLck` (the
//! locked address space, what RLIMIT_MEMLOCK is charged for) and `VmRSS`, each read once the daemon
//! is ready; medians of several starts. The baseline also runs with `MALLOC_ARENA_MAX=1`, which is
//! what duende does for itself, to show where the difference comes from.
//!
//! Needs CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK (both daemons lock everything);
//! `scripts/bench` builds the binaries in release mode and runs this after `duende-bench`.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use duende_bench::{drain, median, scratch_dir, spawn_quiet, status_field, terminate, wait_ready};

const RUNS: usize = 7;

struct Subject {
    label: &'static str,
    path: PathBuf,
    env: &'static [(&'static str, &'static str)],
}

/// One reading, in KiB.
#[derive(Default, Clone, Copy)]
struct Reading {
    pinned: u64,
    vm_lck: u64,
    vm_rss: u64,
}

fn main() -> Result<(), String> {
    let dir = std::env::current_exe().map_err(|e| e.to_string())?.parent().map(Path::to_path_buf).unwrap_or_default();
    let baseline = dir.join("mlock-baseline");
    let subjects = [
        Subject { label: "bare tokio + mlockall", path: baseline.clone(), env: &[] },
        Subject { label: "  same, MALLOC_ARENA_MAX=1", path: baseline, env: &[("MALLOC_ARENA_MAX", "1")] },
        Subject { label: "02_mlock", path: dir.join("examples/02_mlock"), env: &[] },
    ];
    for s in &subjects {
        if !s.path.exists() {
            return Err(format!("{} not found; run scripts/bench (it builds every bench binary)", s.path.display()));
        }
    }
    let work = scratch_dir().join(format!("duende-bench-mlock-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let socket_path = work.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut readings: Vec<Vec<Reading>> = vec![Vec::new(); subjects.len()];
    for run in 0..RUNS {
        for (s, r) in subjects.iter().zip(readings.iter_mut()) {
            r.push(measure(s, &socket, &socket_path, &work.join(format!("run-{run}")))?);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    let medians: Vec<Reading> = readings
        .iter()
        .map(|r| Reading {
            pinned: median(r.iter().map(|x| x.pinned)),
            vm_lck: median(r.iter().map(|x| x.vm_lck)),
            vm_rss: median(r.iter().map(|x| x.vm_rss)),
        })
        .collect();
    report(&subjects, &medians);
    Ok(())
}

fn measure(s: &Subject, socket: &UnixDatagram, socket_path: &Path, run_dir: &Path) -> Result<Reading, String> {
    let mut command = Command::new(&s.path);
    command.env("RUNTIME_DIRECTORY", run_dir).envs(s.env.iter().copied());
    let mut child = spawn_quiet(command, socket_path)?;
    if let Err(err) = wait_ready(socket, &child) {
        let _ = child.kill();
        let status = child.wait().map_err(|e| e.to_string())?;
        return Err(format!(
            "{} ({status}): {err}; both daemons lock all their memory: run as root or with CAP_IPC_LOCK",
            s.label
        ));
    }
    // Ready means the buffer is allocated and touched; the runtime's threads are all up.
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id();
    let reading = Reading {
        pinned: pinned_kib(pid).ok_or_else(|| format!("cannot read /proc/{pid}/smaps"))?,
        vm_lck: status_field(pid, "VmLck:"),
        vm_rss: status_field(pid, "VmRSS:"),
    };
    terminate(&child);
    let status = child.wait().map_err(|e| e.to_string())?;
    drain(socket)?;
    if !status.success() {
        return Err(format!("{} exited with {status} after SIGTERM", s.label));
    }
    Ok(reading)
}

/// `Rss` summed over the mappings whose `VmFlags` has `lo`, in KiB. Read here, independently of
/// the runtime's own reading, so the bench checks what duende reports.
fn pinned_kib(pid: u32) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let (mut rss, mut pinned) = (0, 0);
    for line in smaps.lines() {
        if let Some(value) = line.strip_prefix("Rss:") {
            rss = value.split_whitespace().next()?.parse().ok()?;
        } else if let Some(flags) = line.strip_prefix("VmFlags:") {
            if flags.split_whitespace().any(|flag| flag == "lo") {
                pinned += rss;
            }
            rss = 0;
        }
    }
    Some(pinned)
}

fn report(subjects: &[Subject], m: &[Reading]) {
    println!("locked memory: medians of {RUNS} starts each, read once ready (16 MiB buffer touched)");
    println!("{:<28} {:>13} {:>13} {:>13} {:>14}", "", "pinned", "VmLck", "VmRSS", "VmLck/pinned");
    for (s, r) in subjects.iter().zip(m) {
        println!(
            "{:<28} {:>9} KiB {:>9} KiB {:>9} KiB {:>13.2}x",
            s.label,
            r.pinned,
            r.vm_lck,
            r.vm_rss,
            r.vm_lck as f64 / r.pinned.max(1) as f64
        );
    }
    let (base, ours) = (&m[0], &m[2]);
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    let verdict = |ok: bool| if ok { "meets target" } else { "MISSES target" };
    let own = ratio(ours.vm_lck, ours.pinned);
    println!("02_mlock VmLck/pinned {own:.2}x (target <= 1.25x)  {}", verdict(own <= 1.25));
    println!(
        "02_mlock / bare: pinned {:.2}x, VmLck {:.2}x, VmRSS {:.2}x",
        ratio(ours.pinned, base.pinned),
        ratio(ours.vm_lck, base.vm_lck),
        ratio(ours.vm_rss, base.vm_rss)
    );
}
