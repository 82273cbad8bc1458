//! The native platform end to end: the probe daemon installed with `--platform native`, started
//! under its own supervisor, killed, restarted with backoff, reloaded, stopped and uninstalled,
//! by real processes and real signals: as an unprivileged user on this host (everything under a
//! temporary home), and as root for a system service inside a throwaway container (so `/usr/local`,
//! `/etc`, `/run` and `/var/log` of this host are never touched).
#![cfg(feature = "root-tests")]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use duende_tests::nobody::Nobody;
use duende_tests::sandbox::{Systemd, show_output, wait_until};
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// Where the management commands run: as `nobody` on this host, or as root in a container.
trait Host {
    /// `probe ARGS --platform native`.
    fn probe(&self, args: &[&str]) -> Output;
    /// Sends `signal` to `pid` (a pid as this host's commands see it).
    fn kill(&self, pid: u64, signal: &str);
    /// True while `pid` exists.
    fn alive(&self, pid: u64) -> bool;
    /// The file's text, empty when it is not there.
    fn read(&self, path: &str) -> String;
    /// Writes the file (as the service's user).
    fn write(&self, path: &str, text: &str);
    /// Removes the file.
    fn remove(&self, path: &str);
    /// Runs a shell script (with `$P` the probe) as the service's user.
    fn sh(&self, script: &str) -> Output;
    /// Every path under the places an install touches, for a before/after comparison.
    fn listing(&self) -> Vec<String>;
}

impl Host for Nobody {
    fn probe(&self, args: &[&str]) -> Output {
        let mut command = self.command(PROBE);
        command.args(args).args(["--platform", "native"]);
        command.output().expect("run the probe")
    }

    fn kill(&self, pid: u64, signal: &str) {
        let out = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).output().expect("kill");
        assert!(out.status.success(), "kill -{signal} {pid}: {}", show_output(&out));
    }

    fn alive(&self, pid: u64) -> bool {
        running(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path(path)).unwrap_or_default()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.path(path);
        let mut command = self.command("sh");
        command.args(["-c", "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"", "sh"]).arg(&path);
        let mut child = command.stdin(std::process::Stdio::piped()).spawn().expect("sh");
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
        assert!(child.wait().expect("wait").success(), "writing {}", path.display());
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.path(path)).unwrap_or_else(|e| panic!("rm {path}: {e}"));
    }

    fn sh(&self, script: &str) -> Output {
        let mut command = self.command("sh");
        command.args(["-c", script]).env("P", PROBE).current_dir(self.path("home"));
        command.output().expect("sh")
    }

    fn listing(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(self.base(), self.base(), &mut found);
        found
    }
}

/// True when a `/proc/PID/stat` line is a live process (not gone, not a zombie waiting for its
/// new parent to reap it).
fn running(stat: &str) -> bool {
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z")
}

fn walk(dir: &Path, base: &Path, into: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        into.push(format!("{} uid={}", path.strip_prefix(base).unwrap_or(&path).display(), meta.uid()));
        if meta.is_dir() {
            walk(&path, base, into);
        }
    }
}

/// Root in a container booted for the test.
struct Contained {
    sb: Systemd,
}

impl Host for Contained {
    fn probe(&self, args: &[&str]) -> Output {
        let mut argv = vec![PROBE];
        argv.extend_from_slice(args);
        argv.extend(["--platform", "native"]);
        self.sb.exec(&argv)
    }

    fn kill(&self, pid: u64, signal: &str) {
        let out = self.sb.exec(&["kill", &format!("-{signal}"), &pid.to_string()]);
        assert!(out.status.success(), "kill -{signal} {pid}: {}", show_output(&out));
    }

    fn alive(&self, pid: u64) -> bool {
        running(&String::from_utf8_lossy(&self.sb.exec(&["cat", &format!("/proc/{pid}/stat")]).stdout))
    }

    fn read(&self, path: &str) -> String {
        String::from_utf8_lossy(&self.sb.exec(&["cat", path]).stdout).into_owned()
    }

    fn write(&self, path: &str, text: &str) {
        let script = format!("mkdir -p \"$(dirname '{path}')\" && printf '%s' \"$1\" > '{path}'");
        let out = self.sb.exec(&["sh", "-c", &script, "sh", text]);
        assert!(out.status.success(), "writing {path}: {}", show_output(&out));
    }

    fn remove(&self, path: &str) {
        let out = self.sb.exec(&["rm", path]);
        assert!(out.status.success(), "rm {path}: {}", show_output(&out));
    }

    fn sh(&self, script: &str) -> Output {
        self.sb.exec(&["env", &format!("P={PROBE}"), "sh", "-c", &format!("cd /tmp; {script}")])
    }

    fn listing(&self) -> Vec<String> {
        let dirs = ["/usr/local/bin", "/usr/local/share", "/etc/probe", "/run/probe", "/var/log/probe"];
        let mut argv = vec!["find"];
        argv.extend(dirs);
        let out = self.sb.exec(&argv);
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }
}

fn ok(host: &dyn Host, args: &[&str]) -> String {
    let out = host.probe(args);
    assert!(out.status.success(), "probe {args:?}: {}", show_output(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(host: &dyn Host) -> (Option<i32>, Value) {
    let out = host.probe(&["status", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text.lines().find(|l| l.starts_with('{')).map(duende_tests::schema::status);
    (out.status.code(), json.unwrap_or_else(|| panic!("no JSON from status: {}", show_output(&out))))
}

fn pid_of(json: &Value) -> u64 {
    json["pid"].as_u64().unwrap_or_else(|| panic!("no pid in {json}"))
}

/// The restart delays and their caps the supervisor logged, in order.
fn delays(log: &str) -> Vec<(f64, f64)> {
    log.lines()
        .filter_map(|line| {
            let rest = line.split("restarting in ").nth(1)?;
            let delay: f64 = rest.split('s').next()?.parse().ok()?;
            let cap: f64 = rest.split("backoff ").nth(1)?.split('s').next()?.parse().ok()?;
            Some((delay, cap))
        })
        .collect()
}

/// The whole cycle on `host`, whose configuration file is `config`, logs `log`, whose
/// `install` takes `level`, and whose completions and man page go under `data`.
fn cycle(host: &dyn Host, level: &str, config: &str, log: &str, data: &str) {
    let before = host.listing();
    let set = ["--set", "backoff.initial=200ms", "--set", "backoff.jitter=1.0", "--set", "shutdown_timeout=5s"];
    let mut install = vec!["install", level, "--now"];
    install.extend(set);
    let docs = [
        (format!("{data}/bash-completion/completions/probe"), vec!["completions", "bash"]),
        (format!("{data}/zsh/site-functions/_probe"), vec!["completions", "zsh"]),
        (format!("{data}/fish/vendor_completions.d/probe.fish"), vec!["completions", "fish"]),
        (format!("{data}/man/man1/probe.1"), vec!["man"]),
    ];
    let mut dry_run = install.clone();
    dry_run.push("--dry-run");
    let dry = ok(host, &dry_run);
    assert_eq!(host.listing(), before, "a dry run changes nothing");
    let out = ok(host, &install);
    assert!(out.contains("started probe (pid "), "{out}");
    // The completions and the man page: shown by --dry-run, written as the binary prints them.
    for (path, command) in &docs {
        let shown = path.trim_start_matches("home/");
        assert!(dry.contains(&format!("{shown}:\n")), "--dry-run does not show {shown}:\n{dry}");
        assert!(out.contains(&format!("{shown}\n")), "install did not write {shown}:\n{out}");
        assert_eq!(host.read(path), ok(host, command), "{path}");
    }
    let script = docs[0].0.replacen("home/", "$HOME/", 1);
    let loaded = host.sh(&format!("bash --norc -c '. {script} && complete -p probe'"));
    assert!(
        String::from_utf8_lossy(&loaded.stdout).trim_end().ends_with("-F _probe probe"),
        "{}",
        show_output(&loaded)
    );
    let (code, json) = status(host);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!((json["state"].as_str(), json["ready"].as_bool()), (Some("running"), Some(true)), "{json}");
    assert_eq!(json["restarts"].as_u64(), Some(0), "{json}");
    let first = pid_of(&json);
    assert!(host.alive(first));
    assert!(json["live"]["pid"].as_u64() == Some(first), "the daemon answers on its control socket: {json}");

    // Installing the same thing again changes nothing and does not restart.
    let again = ok(host, &install);
    assert!(again.contains("nothing to change"), "{again}");
    assert_eq!(pid_of(&status(host).1), first);

    // A second start sees the first and says so.
    let second = ok(host, &["start"]);
    assert!(second.contains("already running under its supervisor"), "{second}");

    // SIGKILL the daemon, three times: restarted each time, with growing caps and full jitter.
    let mut pid = first;
    for n in 1..=3 {
        host.kill(pid, "KILL");
        let killed = pid;
        wait_until(
            &format!("restart {n}"),
            Duration::from_secs(20),
            || {
                let (_, json) = status(host);
                json["state"] == "running" && json["pid"].as_u64().is_some_and(|p| p != killed)
            },
            || format!("{}\n{}", status(host).1, host.read(log)),
        );
        let (_, json) = status(host);
        assert_eq!(json["restarts"].as_u64(), Some(n), "{json}");
        assert_eq!(json["last_exit_status"].as_i64(), Some(137), "killed by SIGKILL: {json}");
        pid = pid_of(&json);
    }
    let logged = host.read(log);
    let delays = delays(&logged);
    assert_eq!(delays.len(), 3, "one logged delay per restart:\n{logged}");
    let caps: Vec<f64> = delays.iter().map(|(_, cap)| *cap).collect();
    assert_eq!(caps, [0.2, 0.4, 0.8], "the cap doubles from backoff.initial:\n{logged}");
    assert!(delays.iter().all(|(delay, cap)| *delay <= *cap), "{delays:?}");
    assert!(delays.iter().any(|(delay, cap)| delay < cap), "full jitter draws below the cap: {delays:?}");

    // Reload, good and bad: the outcome is the daemon's.
    host.write(config, "[app]\nlabel = \"two\"\n");
    let reloaded = ok(host, &["reload"]);
    assert!(reloaded.contains("reloaded"), "{reloaded}");
    wait_until(
        "the reload in the log",
        Duration::from_secs(10),
        || host.read(log).contains("reloaded generation=2 label=two"),
        || host.read(log),
    );
    host.write(config, "[app]\nlevel = -1\n");
    let rejected = host.probe(&["reload"]);
    assert_eq!(rejected.status.code(), Some(78), "{}", show_output(&rejected));
    let said = String::from_utf8_lossy(&rejected.stderr).into_owned();
    assert!(said.contains("app.level = -1") && said.contains("must be 0 or more"), "{said}");
    assert_eq!(pid_of(&status(host).1), pid, "a rejected reload keeps the daemon running");
    host.write(config, "[app]\nlabel = \"three\"\n");

    // `logs -n N` shows the last N lines; `logs -f` shows what comes after it started.
    let tail = ok(host, &["logs", "-n", "3"]);
    let logged = host.read(log);
    assert_eq!(tail.lines().count(), 3, "{tail}");
    assert_eq!(tail.lines().last(), logged.lines().last(), "{tail}");
    let followed = host.sh(
        "$P logs -f --platform native > follow.out 2>&1 & F=$!; sleep 0.5; $P reload --platform native >/dev/null; \
         sleep 1; kill $F; cat follow.out; rm follow.out",
    );
    let shown = show_output(&followed);
    let followed = String::from_utf8_lossy(&followed.stdout).into_owned();
    assert!(followed.contains("reloaded generation=3 label=three"), "logs -f missed the reload:\n{shown}");

    // The supervisor killed with -9: its daemon follows, status says so, start recovers.
    let (_, json) = status(host);
    let supervisor: u64 = json["manager"]["supervisor_pid"].as_str().and_then(|p| p.parse().ok()).unwrap_or(0);
    assert!(supervisor > 0 && host.alive(supervisor), "{json}");
    host.kill(supervisor, "KILL");
    wait_until("the orphaned daemon to stop", Duration::from_secs(15), || !host.alive(pid), || host.read(log));
    let (code, json) = status(host);
    assert_eq!(code, Some(69), "{json}");
    assert_eq!(json["state"], "failed", "{json}");
    let detail = json["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("the supervisor (pid {supervisor}) is gone")), "{json}");
    let started = ok(host, &["start"]);
    assert!(started.contains("probe on native: running"), "{started}");
    let pid = pid_of(&status(host).1);

    // Stop: TERM, a graceful shutdown within the deadline, and nothing left running.
    let stopped = Instant::now();
    let out = ok(host, &["stop"]);
    assert!(stopped.elapsed() < Duration::from_secs(10), "stop took {:?}", stopped.elapsed());
    assert!(out.contains("stopped"), "{out}");
    assert!(!host.alive(pid));
    let logged = host.read(log);
    assert!(logged.contains("shutdown requested") && logged.contains("shutdown end"), "{logged}");
    let (code, json) = status(host);
    assert_eq!((code, json["state"].as_str()), (Some(69), Some("stopped")), "{json}");

    // Uninstall leaves exactly what was there before (the configuration file is the test's).
    host.remove(config);
    ok(host, &["uninstall"]);
    assert_eq!(host.listing(), before, "uninstall removes everything install and the service created");
    // Nothing is installed: `status` asks whether a daemon runs in the foreground; none does.
    let (code, json) = status(host);
    assert_eq!((code, &json["live"]), (Some(69), &Value::Null), "{json}");
}

#[test]
fn an_unprivileged_user_runs_the_whole_cycle() {
    assert_eq!(duende_tests::euid(), 0, "the root suites run as root (to become nobody)");
    let nobody = Nobody::new("probe");
    cycle(&nobody, "--user", "home/.config/probe/probe.toml", "home/.local/state/probe/probe.log", "home/.local/share");
}

#[test]
fn root_runs_the_whole_cycle_as_a_system_service() {
    let sb = Systemd::boot("native").unwrap_or_else(|e| panic!("{e:#}"));
    let host = Contained { sb };
    cycle(&host, "--system", "/etc/probe/probe.toml", "/var/log/probe/probe.log", "/usr/local/share");
}

#[test]
fn a_crash_loop_gives_up_within_the_budget_and_bad_configuration_is_not_restarted() {
    let nobody = Nobody::new("probe");
    let host: &dyn Host = &nobody;
    let log = "home/.local/state/probe/probe.log";
    let rules = ["--set", "backoff.initial=50ms", "--set", "platform.native.restart_budget=3 in 1m"];
    let mut install = vec!["install", "--user", "--set", "app.fail_init=true"];
    install.extend(rules);
    ok(host, &install);
    // `start` fails with the daemon's last words; the supervisor goes on by the policy.
    let failed = host.probe(&["start"]);
    let said = String::from_utf8_lossy(&failed.stderr).into_owned();
    assert_eq!(failed.status.code(), Some(71), "{}", show_output(&failed));
    assert!(said.contains("the daemon ended before it was ready (exit status 70)"), "{said}");
    assert!(said.contains("told to fail in init"), "the last log lines: {said}");
    wait_until(
        "the supervisor to give up",
        Duration::from_secs(20),
        || status(host).1["state"] == "failed",
        || format!("{}\n{}", status(host).1, host.read(log)),
    );
    let (code, json) = status(host);
    assert_eq!(code, Some(69), "{json}");
    assert_eq!(json["restarts"].as_u64(), Some(3), "exactly the budget: {json}");
    assert_eq!(json["last_exit_status"].as_i64(), Some(70), "init failed: {json}");
    let detail = json["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("restarted 3 times within 1m; giving up"), "{json}");
    let logged = host.read(log);
    assert_eq!(
        logged.matches("init failed: told to fail in init").count(),
        4,
        "the first run and three restarts:\n{logged}"
    );
    assert!(logged.contains("supervisor: pid ") && logged.contains("giving up: restarted 3 times"), "{logged}");

    // `start` replaces the supervisor that gave up; this time the configuration breaks under it.
    let mut reinstall = vec!["install", "--user", "--now"];
    reinstall.extend(rules);
    ok(host, &reinstall);
    let started = ok(host, &["start"]);
    assert!(started.contains("probe on native: running"), "{started}");
    let pid = pid_of(&status(host).1);
    host.write("home/.config/probe/probe.toml", "[app]\nlevel = -1\n");
    host.kill(pid, "KILL");
    wait_until(
        "the supervisor to give up on exit 78",
        Duration::from_secs(20),
        || status(host).1["state"] == "failed",
        || format!("{}\n{}", status(host).1, host.read(log)),
    );
    let (_, json) = status(host);
    assert_eq!(json["last_exit_status"].as_i64(), Some(78), "{json}");
    assert_eq!(json["restarts"].as_u64(), Some(1), "restarted once after the kill, never after 78: {json}");
    assert!(json["detail"].as_str().unwrap_or_default().contains("exited with status 78"), "{json}");
    host.remove("home/.config/probe/probe.toml");
    ok(host, &["stop"]);
    ok(host, &["uninstall"]);
    assert!(nobody.listing().iter().all(|p| !p.contains("probe")), "{:?}", nobody.listing());
}

#[test]
fn a_daemon_that_ignores_term_is_killed_with_its_group_and_its_log_rotates() {
    use duende_runtime::platform::native::client;
    use duende_runtime::platform::native::protocol::Launch;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let log = dir.path().join("log/stubborn.log");
    // A daemon that says it is ready, ignores SIGTERM, keeps a child in its process group and
    // writes a line every 5 ms.
    let child_file = dir.path().join("child.pid");
    let script = format!(
        "trap '' TERM; sleep 1000 & echo $! > '{}'; systemd-notify --ready; \
         i=0; while :; do echo \"line $i ..........................................\"; i=$((i+1)); sleep 0.005; done",
        child_file.display()
    );
    let launch = Launch {
        name: "stubborn".to_owned(),
        program: "/bin/sh".into(),
        args: vec!["-c".to_owned(), script],
        env: Vec::new(),
        working_dir: None,
        runtime_dir: run.clone(),
        log: log.clone(),
    };
    let flags: Vec<String> =
        ["shutdown_timeout=1s", "platform.native.log_max_bytes=4096", "platform.native.log_files=3"]
            .iter()
            .flat_map(|set| ["--set".to_owned(), (*set).to_owned()])
            .collect();
    let started = client::spawn(Path::new(PROBE), &flags, &launch, Duration::from_secs(20)).expect("ready");
    let guard = KillOnDrop(started.supervisor_pid);
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    wait_until(
        "two rotations",
        Duration::from_secs(20),
        || rotated(2).exists(),
        || format!("{:?}", std::fs::read_dir(dir.path().join("log")).map(|d| d.count())),
    );
    assert!(!rotated(3).exists(), "three files are kept, the current one included");
    for file in [log.clone(), rotated(1), rotated(2)] {
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(u64::MAX);
        assert!(size <= 4096, "{} has {size} bytes", file.display());
    }
    let text = std::fs::read_to_string(rotated(2)).unwrap_or_default()
        + &std::fs::read_to_string(rotated(1)).unwrap_or_default();
    assert!(text.lines().all(|l| l.starts_with("line ") || l.starts_with("supervisor: ")), "whole lines only:\n{text}");

    let child: i32 = std::fs::read_to_string(&child_file).ok().and_then(|p| p.trim().parse().ok()).unwrap_or(0);
    assert!(child > 0 && running(&std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default()));
    let stopping = Instant::now();
    let stopped = client::stop(&run, Duration::from_secs(30)).expect("stop");
    let took = stopping.elapsed();
    assert!(stopped.killed, "{stopped:?}");
    assert_eq!(stopped.pid, Some(started.pid));
    assert!(took >= Duration::from_secs(6) && took < Duration::from_secs(12), "TERM, 1 s + 5 s, then KILL: {took:?}");
    let alive = |pid: i32| running(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
    wait_until("the group's other member to go", Duration::from_secs(5), || !alive(child), || format!("pid {child}"));
    for pid in [started.pid, started.supervisor_pid] {
        let pid = i32::try_from(pid).unwrap_or(0);
        wait_until(
            "the daemon and its supervisor to go",
            Duration::from_secs(5),
            || !alive(pid),
            || format!("pid {pid}"),
        );
    }
    let left: Vec<_> =
        std::fs::read_dir(&run).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "the supervisor left {left:?}");
    // The daemon writes until it is killed, so the supervisor's line may already be rotated.
    let logged: String =
        [rotated(2), rotated(1), log.clone()].iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
    assert!(logged.contains("did not stop within 6s; SIGKILL to its process group"), "{logged}");
    drop(guard);
}

/// Kills a supervisor a failed test left running (by pid, only while it is one).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.0)).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("__supervise") {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(i32::try_from(self.0).unwrap_or(0), libc::SIGKILL) };
        }
    }
}

#[test]
fn the_supervisor_reports_the_daemons_own_verdict_on_a_reload() {
    use duende_runtime::platform::native::client::{self, ClientError};
    use duende_runtime::platform::native::protocol::Launch;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("probe.toml");
    std::fs::write(&config, "[app]\nlabel = \"one\"\n").expect("write");
    let flags = vec!["--config".to_owned(), config.to_string_lossy().into_owned()];
    let mut args = flags.clone();
    args.push("run".to_owned());
    let launch = Launch {
        name: "probe".to_owned(),
        program: PROBE.into(),
        args,
        env: Vec::new(),
        working_dir: None,
        runtime_dir: dir.path().join("run"),
        log: dir.path().join("probe.log"),
    };
    let started = client::spawn(Path::new(PROBE), &flags, &launch, Duration::from_secs(20)).expect("ready");
    let _guard = KillOnDrop(started.supervisor_pid);
    // Asked directly (no command line validating first), the daemon itself refuses a broken file.
    std::fs::write(&config, "[app]\nlevel = -1\n").expect("write");
    let refused = client::reload(&launch.runtime_dir, Duration::from_secs(20));
    let Err(ClientError::Rejected { message }) = refused else { panic!("not rejected: {refused:?}") };
    assert!(message.contains("reload rejected; configuration generation 1 kept"), "{message}");
    let report = client::status(&launch.runtime_dir).expect("status");
    assert_eq!((report.pid, report.ready), (Some(started.pid), true), "{report:?}");
    std::fs::write(&config, "[app]\nlabel = \"two\"\n").expect("write");
    let taken = client::reload(&launch.runtime_dir, Duration::from_secs(20)).expect("reload");
    assert_eq!(taken.status_text, "running (configuration generation 2)");
    // The daemon's own line about the reload follows its READY=1.
    let log = || std::fs::read_to_string(dir.path().join("probe.log")).unwrap_or_default();
    wait_until(
        "the daemon's reload lines",
        Duration::from_secs(10),
        || log().contains("reload rejected label=one") && log().contains("reloaded generation=2 label=two"),
        log,
    );
    let stopped = client::stop(&launch.runtime_dir, Duration::from_secs(30)).expect("stop");
    assert_eq!((stopped.pid, stopped.killed), (Some(started.pid), false), "{stopped:?}");
}
