//! The trim after READY (`resources.trim_after_ready`, `duende_runtime::trim`): a ready daemon
//! holds fewer pages of its own code than the same daemon with the trim off, and goes on working
//! (it stops gracefully, which runs code the trim handed back).

use duende_tests::Spawn;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// Resident KiB of the mappings of `binary` in `/proc/PID/smaps` that are executable: read here,
/// independently of the runtime's own reading.
fn resident_code_kib(pid: i32, binary: &str) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut ours = false;
    let mut total = 0;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        if let (Some(range), Some(perms)) = (words.next(), words.next())
            && range.contains('-')
            && !range.ends_with(':')
            && range.split('-').all(|half| u64::from_str_radix(half, 16).is_ok())
        {
            ours = perms.contains('x') && words.nth(3) == Some(binary);
        } else if ours && let Some(value) = line.strip_prefix("Rss:") {
            total += value.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap();
        }
    }
    total
}

/// The probe's resident code once it is ready and, with the trim, once the trim has logged what
/// it did; then its graceful stop.
fn ready_code_kib(trim: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let set = format!("resources.trim_after_ready={trim}");
    let mut daemon =
        Spawn::new(PROBE).args(["--set", &set, "--set", "log_level=debug"]).runtime_dir(dir.path()).start();
    daemon.expect_line("run");
    if trim {
        daemon.expect_line("of startup pages");
    }
    let kib = resident_code_kib(daemon.pid(), PROBE);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0, "trim={trim}: a graceful stop:\n{}", daemon.output());
    kib
}

#[test]
fn a_ready_daemon_holds_less_of_its_code_with_the_trim_and_still_stops_gracefully() {
    let kept = ready_code_kib(false);
    let trimmed = ready_code_kib(true);
    eprintln!("resident code once ready: {kept} KiB with the trim off, {trimmed} KiB with it on");
    assert!(kept > 0, "the mapping of {PROBE} is found");
    assert!(trimmed < kept, "trimmed {trimmed} KiB, kept {kept} KiB");
}
