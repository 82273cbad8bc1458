//! The lifecycle of a real daemon binary, driven with real signals and real files.

use duende_tests::Spawn;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn probe() -> Spawn {
    Spawn::new(PROBE)
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut d = probe().start();
    d.expect_line("run");
    d.signal(libc::SIGTERM);
    d.expect_line("shutdown requested");
    d.expect_line("shutdown end");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn sigint_shuts_down_gracefully() {
    let mut d = probe().start();
    d.expect_line("run");
    d.signal(libc::SIGINT);
    d.expect_line("shutdown end");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn sigquit_shuts_down_gracefully() {
    let mut d = probe().start();
    d.expect_line("run");
    d.signal(libc::SIGQUIT);
    d.expect_line("shutdown end");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn lifecycle_runs_in_order() {
    let mut d = probe().start();
    d.expect_line("run");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
    let out = d.output();
    // The probe's own stdout lines only: stderr (the runtime's log) is a separate pipe, so its
    // interleaving with stdout says nothing. Readiness after init is proven in notify.rs.
    let order = ["main body", "init label=", "run", "shutdown requested", "shutdown begin", "shutdown end"];
    let mut at = 0;
    for step in order {
        let found = out[at..].find(step).unwrap_or_else(|| panic!("{step:?} missing or out of order in:\n{out}"));
        at += found + step.len();
    }
}

#[test]
fn second_sigterm_during_shutdown_forces_exit_143() {
    let mut d = probe().args(["--set", "app.ignore_shutdown=true"]).start();
    d.expect_line("run");
    d.signal(libc::SIGTERM);
    d.expect_line("shutting down");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 143, "{}", d.output());
    assert!(d.output().contains("second SIGTERM during shutdown"));
}

/// Two TERMs that arrive together are one: the kernel keeps one pending signal of each kind, so
/// a second TERM forces the exit only when it comes after the first was handled (the "shutting
/// down" line). Made deterministic by stopping the daemon while both are sent.
#[test]
fn two_sigterms_arriving_together_count_as_one_graceful_shutdown() {
    let mut d = probe().start();
    d.expect_line("run");
    d.signal(libc::SIGSTOP);
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.pid())).unwrap_or_default();
        stat.rsplit(") ").next().and_then(|rest| rest.chars().next())
    };
    let deadline = std::time::Instant::now() + duende_tests::PATIENCE;
    while state() != Some('T') {
        assert!(std::time::Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    d.signal(libc::SIGTERM);
    d.signal(libc::SIGTERM);
    d.signal(libc::SIGCONT);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    let out = d.output();
    assert_eq!(out.matches("shutting down").count(), 1, "{out}");
    assert!(!out.contains("second SIGTERM"), "{out}");
    assert!(out.contains("shutdown end"), "{out}");
}

#[test]
fn second_sigint_during_shutdown_forces_exit_130() {
    let mut d = probe().args(["--set", "app.shutdown_delay_ms=60000"]).start();
    d.expect_line("run");
    d.signal(libc::SIGINT);
    d.expect_line("shutdown begin");
    d.signal(libc::SIGINT);
    assert_eq!(d.wait_exit(), 130, "{}", d.output());
}

#[test]
fn shutdown_exceeding_its_timeout_exits_75() {
    let mut d = probe().args(["--set", "shutdown_timeout=300ms", "--set", "app.shutdown_delay_ms=60000"]).start();
    d.expect_line("run");
    d.signal(libc::SIGTERM);
    d.expect_line("shutdown begin");
    assert_eq!(d.wait_exit(), 75, "{}", d.output());
    let out = d.output();
    assert!(out.contains("shutdown did not finish within shutdown_timeout"), "{out}");
    assert!(!out.contains("shutdown end"), "{out}");
}

#[test]
fn run_ignoring_shutdown_is_bounded_by_the_timeout_too() {
    let mut d = probe().args(["--set", "shutdown_timeout=300ms", "--set", "app.ignore_shutdown=true"]).start();
    d.expect_line("run");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 75, "{}", d.output());
}

#[test]
fn init_failure_exits_70_and_never_runs() {
    let (code, out) = probe().args(["--set", "app.fail_init=true"]).run();
    assert_eq!(code, 70, "{out}");
    assert!(out.contains("init failed: told to fail in init"), "{out}");
    assert!(!out.lines().any(|l| l == "run"), "run was entered:\n{out}");
    assert!(!out.contains("shutdown begin"), "{out}");
}

#[test]
fn run_failure_exits_70_after_shutdown() {
    let (code, out) = probe().args(["--set", "app.fail_run=true"]).run();
    assert_eq!(code, 70, "{out}");
    assert!(out.contains("run failed: told to fail in run"), "{out}");
    assert!(out.contains("shutdown end"), "shutdown still runs after a failed run:\n{out}");
}

#[test]
fn user_signals_and_cont_reach_the_daemon() {
    let mut d = probe().start();
    d.expect_line("run");
    d.signal(libc::SIGUSR1);
    d.expect_line("event User1");
    d.signal(libc::SIGUSR2);
    d.expect_line("event User2");
    d.signal(libc::SIGCONT);
    d.expect_line("event Continued");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn a_burst_of_a_thousand_mixed_signals_neither_crashes_nor_loses_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    duende_tests::write_atomic(&file, "[app]\nlabel = \"burst\"\n");
    let mut d = probe().args(["--config", file.to_str().unwrap()]).start();
    d.expect_line("run");
    let mix = [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGCONT];
    for i in 0..1000 {
        d.signal(mix[i % mix.len()]);
    }
    // The reload and the USR1 event race: either may come first.
    d.expect_all(&["event User1", "reloaded generation="]);
    assert!(d.is_alive(), "died during the burst:\n{}", d.output());
    d.signal(libc::SIGTERM);
    d.expect_line("shutdown end");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn sighup_reloads_a_good_file_and_keeps_the_old_config_for_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    duende_tests::write_atomic(&file, "[app]\nlabel = \"one\"\n");
    let mut d = probe().args(["--config", file.to_str().unwrap()]).start();
    d.expect_line("init label=one");
    d.expect_line("run");

    duende_tests::write_atomic(&file, "[app]\nlabel = \"two\"\n");
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=2 label=two");

    // Invalid by the daemon's own rule: refused, generation 2 stays.
    duende_tests::write_atomic(&file, "[app]\nlabel = \"three\"\nlevel = -1\n");
    d.signal(libc::SIGHUP);
    let line = d.expect_line("reload rejected label=");
    assert!(line.contains("label=two") && line.contains("app.level"), "{line}");

    // Not even TOML: refused too.
    duende_tests::write_atomic(&file, "[app\nlabel = ");
    d.signal(libc::SIGHUP);
    d.expect_line("reload rejected label=two");

    // Fixed again: accepted as generation 3.
    duende_tests::write_atomic(&file, "[app]\nlabel = \"four\"\n");
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=3 label=four");
    assert!(d.is_alive());
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn bad_config_exits_78_naming_key_and_source() {
    let (code, out) = probe().args(["--set", "shutdown_timeout=0s"]).run();
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("shutdown_timeout") && out.contains("--set"), "{out}");
    assert!(!out.contains("main body"), "the daemon was built despite bad config:\n{out}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    duende_tests::write_atomic(&file, "# comment\n[resources]\ncpu_shares = 0\n");
    let (code, out) = probe().args(["--config", file.to_str().unwrap()]).run();
    assert_eq!(code, 78, "{out}");
    let at = format!("{}:3", file.display());
    assert!(out.contains("resources.cpu_shares") && out.contains(&at), "expected key and {at}:\n{out}");

    let (code, out) = probe().env("PROBE_APP__LEVEL", "-5").run();
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("app.level") && out.contains("PROBE_APP__LEVEL"), "{out}");
}

#[test]
fn a_panic_in_run_exits_70() {
    let (code, out) = probe().args(["--set", "app.panic_run=true"]).run();
    assert_eq!(code, 70, "{out}");
    assert!(out.contains("told to panic in run") && out.contains("the daemon panicked"), "{out}");
}

#[test]
fn sigterm_during_init_skips_run_but_still_shuts_down() {
    let mut d = probe().args(["--set", "app.init_delay_ms=500"]).start();
    d.expect_line("init label=");
    d.signal(libc::SIGTERM);
    d.expect_line("init done");
    d.expect_line("shutdown end");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    assert!(!d.output().lines().any(|l| l == "run"), "run was entered after shutdown was requested");
}

#[test]
fn the_forced_exit_works_even_when_every_worker_thread_is_blocked() {
    let mut d = probe().args(["--set", "app.block_workers=true", "--set", "app.ignore_shutdown=true"]).start();
    d.expect_line("workers blocked");
    d.signal(libc::SIGTERM);
    d.expect_line("shutting down");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 143, "{}", d.output());
}

#[test]
fn with_every_worker_blocked_reload_works_and_the_shutdown_bound_still_holds() {
    let mut d = probe().args(["--set", "app.block_workers=true", "--set", "shutdown_timeout=500ms"]).start();
    d.expect_line("workers blocked");
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=2");
    // The probe's `shutdown` awaits a tokio timer, which no blocked worker can drive: only a
    // deadline kept outside the async runtime can end this.
    d.signal(libc::SIGTERM);
    d.expect_line("shutdown begin");
    assert_eq!(d.wait_exit(), 75, "{}", d.output());
    assert!(d.output().contains("shutdown did not finish within shutdown_timeout"));
}

/// The names of the process's threads, sorted.
#[cfg(target_os = "linux")]
fn thread_names(pid: i32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect();
    names.sort();
    names
}

/// Waits (with the harness's patience) until `pid`'s threads are `expected`.
#[cfg(target_os = "linux")]
fn expect_threads(pid: i32, expected: &[String]) {
    let deadline = std::time::Instant::now() + duende_tests::PATIENCE;
    let mut names = thread_names(pid);
    while names != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        names = thread_names(pid);
    }
    assert_eq!(names, expected, "the daemon's threads");
}

#[test]
#[cfg(target_os = "linux")]
fn an_idle_daemon_has_one_service_thread_and_a_reload_thread_only_while_reloading() {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut idle = vec!["duende-signals".to_owned(), "probe".to_owned()];
    idle.extend(std::iter::repeat_n("tokio-rt-worker".to_owned(), workers));
    idle.sort();
    let mut d = probe().start();
    d.expect_line("run");
    expect_threads(d.pid(), &idle);
    // A reload runs on a thread of its own, which ends with the last queued request.
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=2");
    expect_threads(d.pid(), &idle);
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=3");
    expect_threads(d.pid(), &idle);
    // A stray SIGALRM outside a shutdown changes nothing (the deadline's timer uses it).
    d.signal(libc::SIGALRM);
    d.signal(libc::SIGUSR1);
    d.expect_line("event User1");
    expect_threads(d.pid(), &idle);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn a_shutdown_that_is_not_from_a_signal_is_bounded_too() {
    // `run` returns by itself and `shutdown` blocks the daemon's own thread: only the deadline,
    // armed by the shutdown that `run`'s return began, ends it.
    let mut d = probe()
        .args(["--set", "app.fail_run=true", "--set", "app.block_shutdown=true", "--set", "shutdown_timeout=300ms"])
        .start();
    d.expect_line("shutdown begin");
    assert_eq!(d.wait_exit(), 75, "{}", d.output());
    assert!(d.output().contains("shutdown did not finish within shutdown_timeout"));
}

#[test]
fn signals_that_wait_unread_coalesce_per_kind_and_none_is_crowded_out() {
    let mut d = probe().args(["--set", "app.deaf_ms=1500"]).start();
    d.expect_line("deaf");
    for _ in 0..300 {
        d.signal(libc::SIGUSR2);
        d.signal(libc::SIGCONT);
    }
    d.signal(libc::SIGUSR1);
    d.expect_line("listening");
    // The queued events come in no fixed order; wait for all three before stopping the daemon,
    // or its `select!` may take the shutdown branch first.
    let kinds = ["User1", "User2", "Continued"];
    d.expect_all(&["event User1", "event User2", "event Continued"]);
    // Anything still queued would arrive now: give it a moment, then stop.
    std::thread::sleep(std::time::Duration::from_millis(200));
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
    let out = d.output();
    for kind in kinds {
        let n = out.lines().filter(|l| *l == format!("event {kind}")).count();
        assert_eq!(n, 1, "expected exactly one {kind} event after the burst:\n{out}");
    }
}
