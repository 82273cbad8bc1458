//! The container platform end to end, against a real Docker engine (the dockerd `scripts/test`
//! starts on its own socket, `DUENDE_TEST_DOCKER_HOST`) and real podman (on runc): the probe
//! daemon installed with `--platform container --now`, healthy, reloaded, killed and restarted
//! by the engine, stopped gracefully, reinstalled without change, replaced with rollback, made
//! unhealthy, uninstalled without a trace; a foreign container of the same name survives; the
//! mlock daemon locks its memory inside; hostile configuration values arrive exactly.
//!
//! The installs are `--user` ones with `HOME` in a temporary directory, so the record and the
//! image archive never touch this host's `/etc` or `/var/cache`; the engines are the host's.
#![cfg(feature = "root-tests")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use duende_tests::sandbox::{show_output, wait_until};
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const MLOCK: &str = env!("CARGO_BIN_EXE_example-mlock");

/// An engine the suite drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Docker,
    Podman,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    /// The engine's own CLI, with `args`.
    fn cli(self, args: &[&str]) -> Output {
        let mut command = Command::new(self.name());
        command.args(args);
        if self == Engine::Docker {
            command.env("DOCKER_HOST", docker_host());
        }
        command.output().unwrap_or_else(|err| panic!("cannot run {}: {err}", self.name()))
    }

    /// The engine's CLI, required to succeed; its standard output.
    fn ok(self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "{} {args:?} failed:\n{}", self.name(), show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn inspect(self, name: &str) -> Option<Value> {
        let out = self.cli(&["container", "inspect", name]);
        if !out.status.success() {
            return None;
        }
        let all: Value = serde_json::from_slice(&out.stdout).expect("inspect prints JSON");
        Some(all[0].clone())
    }

    /// Every container and image the engine has, for before/after comparisons.
    fn inventory(self) -> (String, String) {
        let containers = self.ok(&["ps", "--all", "--format", "{{.Names}} {{.Image}}"]);
        let mut containers: Vec<&str> = containers.lines().collect();
        containers.sort();
        let images = self.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
        let mut images: Vec<&str> = images.lines().collect();
        images.sort();
        (containers.join("\n"), images.join("\n"))
    }
}

fn docker_host() -> String {
    std::env::var("DUENDE_TEST_DOCKER_HOST").unwrap_or_else(|_| {
        panic!(
            "DUENDE_TEST_DOCKER_HOST is not set: the container suite needs the dockerd that `scripts/test` starts \
             (run the suite through scripts/test)"
        )
    })
}

/// A home of its own for `--user` installs, and the engine the daemon is installed on.
struct Site {
    home: tempfile::TempDir,
    engine: Engine,
    binary: &'static str,
    /// The daemon's name: its container's.
    name: &'static str,
    config: Option<std::path::PathBuf>,
}

impl Site {
    fn new(engine: Engine, binary: &'static str) -> Site {
        let home = tempfile::Builder::new().prefix("duende-container-").tempdir().expect("a temporary home");
        let name = if binary == MLOCK { "swapd" } else { "probe" };
        Site { home, engine, binary, name, config: None }
    }

    /// Writes `text` as the configuration file every later command gets with `--config`.
    fn configure(&mut self, text: &str) {
        let path = self.home.path().join("daemon.toml");
        duende_tests::write_atomic(&path, text);
        self.config = Some(path);
    }

    /// `BINARY ARGS --platform container --user ...`, as root with this site's home.
    fn duende(&self, args: &[&str]) -> Output {
        let mut command = Command::new(self.binary);
        command.args(args).args(["--platform", "container", "--user"]);
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        command.args(["--set", &format!("platform.container.engine={}", self.engine.name())]);
        command
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("DOCKER_HOST", docker_host())
            .env_remove("RUST_LOG");
        command.output().expect("the daemon binary runs")
    }

    /// The same, required to exit 0; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.duende(args);
        assert!(out.status.success(), "{args:?} failed:\n{}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.duende(&["status", "--json"]);
        duende_tests::schema::status(&String::from_utf8_lossy(&out.stdout))
    }

    fn logs(&self) -> String {
        let out = self.duende(&["logs"]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    /// Every file under the home, for before/after comparisons.
    fn files(&self) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                out.push(entry.path().display().to_string());
                if entry.path().is_dir() {
                    walk(&entry.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.home.path(), &mut out);
        out.sort();
        out
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // Whatever a failed test left of this site's daemon (and only of it: other tests run at
        // the same time): the container, its replaced twin, and their images.
        for name in [self.name.to_owned(), format!("{}-previous", self.name)] {
            let name = name.as_str();
            if let Some(container) = self.engine.inspect(name)
                && container["Config"]["Labels"]["io.duende.service"].is_string()
            {
                let image = container["Config"]["Image"].as_str().unwrap_or_default().to_owned();
                let _ = self.engine.cli(&["rm", "--force", name]);
                let _ = self.engine.cli(&["image", "rm", &image]);
            }
        }
    }
}

fn last_exit(engine: Engine, name: &str) -> i64 {
    engine.inspect(name).map(|c| c["State"]["ExitCode"].as_i64().unwrap_or(-1)).unwrap_or(-1)
}

fn health(engine: Engine, name: &str) -> String {
    let Some(container) = engine.inspect(name) else { return "gone".to_owned() };
    let state = &container["State"];
    let health = if state["Health"].is_object() { &state["Health"] } else { &state["Healthcheck"] };
    health["Status"].as_str().unwrap_or("none").to_owned()
}

/// The whole life of a container service on `engine`.
fn lifecycle(engine: Engine) {
    let before = engine.inventory();
    let mut site = Site::new(engine, PROBE);
    site.configure("shutdown_timeout = \"5s\"\n[health_check]\ninterval = \"1s\"\ntimeout = \"5s\"\nretries = 2\n[app]\nlabel = \"one\"\n");
    let files_before = site.files();

    // check: which engine answers, its version and cgroup driver, and what memory locking can do.
    let out = Command::new(PROBE)
        .args(["check", "--platform", "container"])
        .env("HOME", site.home.path())
        .env("DOCKER_HOST", docker_host())
        .output()
        .expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("container engine"), "{}", show_output(&out));
    assert!(
        text.contains(&format!("{} ", engine.name()))
            && text.contains("answers; cgroup driver")
            && text.contains("memlock"),
        "{}",
        show_output(&out)
    );

    // A dry run of a first install with --now lists the start too (the container does not exist
    // yet), and changes nothing.
    let out = site.ok(&["install", "--now", "--dry-run"]);
    assert!(out.contains(" create --name probe") && out.contains("would start probe"), "{out}");
    assert_eq!(site.files(), files_before, "a dry run writes nothing");

    // install --now: running, ready, healthy by the engine's own check.
    let out = site.ok(&["install", "--now"]);
    assert!(out.contains("load --input") && out.contains(" create --name probe"), "{out}");
    let status = site.status();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["ready"], true);
    assert_eq!(status["live"]["state"], "running", "the daemon's own account, from inside: {status}");
    assert_eq!(status["live"]["config_generation"], 1);
    wait_until(
        "the engine's health check to pass",
        Duration::from_secs(30),
        || {
            if engine == Engine::Podman {
                let _ = engine.cli(&["healthcheck", "run", "probe"]);
            }
            health(engine, "probe") == "healthy"
        },
        || format!("{:?}", engine.inspect("probe")),
    );
    let container = engine.inspect("probe").expect("the container exists");
    assert_eq!(container["Config"]["Labels"]["io.duende.service"], "probe");
    assert!(container["Config"]["Labels"]["io.duende.hash"].as_str().is_some_and(|h| h.len() == 16));
    assert_eq!(container["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    let first_image = container["Config"]["Image"].as_str().unwrap_or_default().to_owned();
    assert!(first_image.starts_with("localhost/probe:"), "{first_image}");

    // Installing twice more changes nothing and restarts nothing.
    let pid = status["pid"].as_u64().expect("a pid");
    for _ in 0..2 {
        let out = site.ok(&["install", "--now"]);
        assert!(out.contains("nothing to change"), "{out}");
    }
    assert_eq!(site.status()["pid"].as_u64(), Some(pid), "a no-op install must not restart");

    // reload: SIGHUP through the engine, the daemon's verdict reported.
    site.configure("shutdown_timeout = \"5s\"\n[health_check]\ninterval = \"1s\"\ntimeout = \"5s\"\nretries = 2\n[app]\nlabel = \"one\"\n");
    let out = site.ok(&["reload"]);
    assert!(out.contains("generation 2 is in effect"), "{out}");
    assert!(site.logs().contains("reloaded generation=2 label=one"), "{}", site.logs());

    // A crash (SIGKILL to the container's process, not an operator's `kill`): the engine restarts it.
    let host_pid = engine.inspect("probe").and_then(|c| c["State"]["Pid"].as_i64()).expect("pid");
    // SAFETY: kill with a pid we read from the engine and a valid signal.
    assert_eq!(unsafe { libc::kill(host_pid as i32, libc::SIGKILL) }, 0);
    wait_until(
        "the engine to restart the container",
        Duration::from_secs(30),
        || {
            engine
                .inspect("probe")
                .is_some_and(|c| c["RestartCount"].as_u64().unwrap_or(0) >= 1 && c["State"]["Running"] == true)
        },
        || format!("{:?}", engine.inspect("probe")),
    );
    wait_until("ready again", Duration::from_secs(30), || site.status()["ready"] == true, || site.status().to_string());
    assert_eq!(site.status()["restarts"].as_u64(), Some(1));

    // stop: graceful, exit 0 in the engine's JSON, the daemon's shutdown ran.
    let out = site.ok(&["stop"]);
    assert!(out.contains("stopped"), "{out}");
    assert_eq!(engine.inspect("probe").map(|c| c["State"]["Status"].clone()), Some(Value::from("exited")));
    assert_eq!(last_exit(engine, "probe"), 0, "{}", site.logs());
    assert!(site.logs().contains("shutdown end"), "{}", site.logs());
    site.ok(&["start"]);
    assert_eq!(site.status()["state"], "running");

    // A new configuration whose daemon never becomes ready: rolled back to the running one.
    site.configure("shutdown_timeout = \"5s\"\nrestart = \"never\"\n[health_check]\ninterval = \"1s\"\ntimeout = \"5s\"\nretries = 2\n[app]\nfail_init = true\n");
    let out = site.duende(&["install"]);
    assert_eq!(out.status.code(), Some(71), "a daemon failing init must not install:\n{}", show_output(&out));
    let status = site.status();
    assert_eq!(status["state"], "running", "the previous container runs again: {status}");
    assert_eq!(status["manager"]["Image"], first_image.as_str());
    assert!(engine.inspect("probe-previous").is_none(), "the replaced container was renamed back");

    // A new configuration that works: replaced, the old container and image removed.
    site.configure("shutdown_timeout = \"5s\"\n[health_check]\ninterval = \"1s\"\ntimeout = \"5s\"\nretries = 2\n[app]\nlabel = \"two\"\n");
    let out = site.ok(&["install"]);
    assert!(out.contains("rename probe probe-previous") && out.contains("rm --force probe-previous"), "{out}");
    let status = site.status();
    assert_eq!(status["state"], "running", "{status}");
    assert_ne!(status["manager"]["Image"], first_image.as_str());
    assert!(engine.cli(&["image", "inspect", &first_image]).status.code() != Some(0), "the old image is gone");
    assert!(site.logs().contains("init label=two"), "{}", site.logs());

    // A daemon that turns unhealthy: the engine says so, and so does status.
    site.configure("shutdown_timeout = \"5s\"\n[health_check]\ninterval = \"1s\"\ntimeout = \"5s\"\nretries = 1\n[app]\nunhealthy_after_ms = 3000\n");
    site.ok(&["install"]);
    wait_until(
        "the engine to see the daemon unhealthy",
        Duration::from_secs(30),
        || {
            if engine == Engine::Podman {
                // podman schedules its checks with systemd timers; there are none here: run one.
                let _ = engine.cli(&["healthcheck", "run", "probe"]);
                std::thread::sleep(Duration::from_millis(500));
            }
            health(engine, "probe") == "unhealthy"
        },
        || format!("{:?}", engine.inspect("probe")),
    );
    let status = site.status();
    assert_eq!(status["state"], "failed", "{status}");
    assert!(status["detail"].as_str().is_some_and(|d| d.contains("unhealthy")), "{status}");
    assert_eq!(site.duende(&["status"]).status.code(), Some(69));

    // uninstall: the engine and the home are as before.
    let out = site.ok(&["uninstall"]);
    assert!(out.contains("rm --force probe") && out.contains("image rm"), "{out}");
    assert_eq!(engine.inventory(), before, "uninstall leaves the engine as it found it");
    let mut files = site.files();
    files.retain(|f| !f.ends_with("daemon.toml"));
    assert_eq!(files, files_before.into_iter().filter(|f| !f.ends_with("daemon.toml")).collect::<Vec<_>>());
}

#[test]
fn docker_runs_the_daemon_from_install_to_uninstall() {
    lifecycle(Engine::Docker);
    foreign_container_survives(Engine::Docker);
    hostile_values_arrive_exactly(Engine::Docker);
}

#[test]
fn podman_runs_the_daemon_from_install_to_uninstall() {
    lifecycle(Engine::Podman);
    foreign_container_survives(Engine::Podman);
}

/// A container named like the daemon that duende did not create is never touched.
fn foreign_container_survives(engine: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs.tar");
    std::fs::write(dir.path().join("marker"), "not a daemon\n").expect("write");
    let status = Command::new("tar").arg("-cf").arg(&rootfs).arg("-C").arg(dir.path()).arg("marker").status();
    assert!(status.is_ok_and(|s| s.success()));
    let image = "localhost/duende-foreign:1";
    engine.ok(&["import", &rootfs.to_string_lossy(), image]);
    engine.ok(&["create", "--name", "probe", image, "/nothing"]);
    let id = engine.inspect("probe").map(|c| c["Id"].clone());
    let site = Site::new(engine, PROBE);
    let out = site.duende(&["install", "--now"]);
    assert_eq!(out.status.code(), Some(64), "{}", show_output(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", show_output(&out));
    assert_eq!(engine.inspect("probe").map(|c| c["Id"].clone()), id, "the foreign container is untouched");
    let out = site.duende(&["uninstall"]);
    assert!(out.status.success(), "{}", show_output(&out));
    assert_eq!(engine.inspect("probe").map(|c| c["Id"].clone()), id, "uninstall leaves it too");
    engine.ok(&["rm", "probe"]);
    engine.ok(&["image", "rm", image]);
    // The image the refused install loaded, if it got that far, is not left either.
    let images = engine.inventory().1;
    assert!(!images.contains("localhost/probe:"), "{images}");
}

/// Hostile values (quotes, newlines, flags, substitutions, unicode) reach the daemon exactly,
/// and none becomes an engine flag.
fn hostile_values_arrive_exactly(engine: Engine) {
    let hostile: Vec<String> = [
        "--privileged",
        "--cap-add=ALL",
        "-v /:/host",
        "--network=host",
        "$(id)",
        "`id`",
        "${HOME}",
        "$HOME",
        "'single'",
        "\"double\"",
        "a\"b'c",
        "back\\slash",
        "\\n literal",
        "tab\there",
        "semi;colon",
        "pipe|line",
        "amp&&er",
        "redirect > /etc/passwd",
        "< in",
        "star *",
        "question ?",
        "[brackets]",
        "{braces}",
        "#hash",
        "%specifier",
        "%n%s",
        "=leading-equals",
        "trailing=",
        "key = value",
        "[section]",
        "---",
        "- item",
        "yes",
        "null",
        "~",
        "0x10",
        "1e9",
        "-1",
        "  spaced  ",
        "ünïcödé",
        "日本語",
        "emoji 🦀",
        "rtl \u{202e}gnp",
        "zero\u{200b}width",
        "line1\nline2",
        "cr\rreturn",
        "--",
        "-",
        "--set=x",
        "--config=/etc/shadow",
        "\u{7f}del",
        "json {\"a\":1}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert!(hostile.len() >= 50);
    let mut site = Site::new(engine, PROBE);
    // As `nobody`: the image's passwd has it, the container runs as it, the health check finds its socket.
    let mut toml =
        String::from("shutdown_timeout = \"5s\"\nuser = \"nobody\"\n[health_check]\ninterval = \"1s\"\n[env]\n");
    for (i, value) in hostile.iter().enumerate() {
        toml.push_str(&format!("ECHO_{i:02} = {}\n", toml_string(value)));
    }
    toml.push_str("[app]\nlabel = ");
    toml.push_str(&toml_string(&hostile.join(" ")));
    toml.push('\n');
    toml.insert_str(
        0,
        &format!("args = [{}]\n", hostile.iter().map(|v| toml_string(v)).collect::<Vec<_>>().join(", ")),
    );
    site.configure(&toml);
    site.ok(&["install", "--now"]);
    let logs = site.logs();
    for (i, value) in hostile.iter().enumerate() {
        let line = format!("env ECHO_{i:02}={value:?}");
        assert!(logs.contains(&line), "missing {line}\n{logs}");
    }
    assert!(logs.contains(&format!("args={hostile:?}")), "args differ:\n{logs}");
    let container = engine.inspect("probe").expect("container");
    assert_eq!(container["HostConfig"]["Privileged"], false);
    assert!(
        container["HostConfig"]["CapAdd"].as_array().is_none_or(Vec::is_empty),
        "{}",
        container["HostConfig"]["CapAdd"]
    );
    assert!(container["HostConfig"]["Binds"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(container["HostConfig"]["NetworkMode"], "none");
    assert_eq!(container["Config"]["User"], "65534:65534");
    let pid = container["State"]["Pid"].as_u64().expect("pid");
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:").map(|u| u.split_whitespace().next().unwrap_or("").to_owned()));
    assert_eq!(uid.as_deref(), Some("65534"), "the daemon runs as nobody");
    assert_eq!(site.status()["ready"], true);
    site.ok(&["uninstall"]);
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn the_mlock_daemon_locks_its_memory_inside_the_container() {
    let engine = Engine::Docker;
    let mut site = Site::new(engine, MLOCK);
    site.configure("shutdown_timeout = \"5s\"\n[resources]\nlock_memory = true\n[health_check]\ninterval = \"1s\"\n");
    let out = site.ok(&["install", "--now"]);
    assert!(out.contains("--cap-add IPC_LOCK"), "{out}");
    let container = engine.inspect("swapd").expect("container");
    let pid = container["State"]["Pid"].as_u64().expect("pid");
    // The container's first process, or the daemon under it when the first is its init.
    let mut pids = vec![pid];
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    pids.extend(children.split_whitespace().filter_map(|p| p.parse::<u64>().ok()));
    let locked: Vec<u64> = pids
        .iter()
        .map(|p| {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmLck:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                .unwrap_or(0)
        })
        .collect();
    assert!(locked.iter().any(|kb| *kb > 0), "VmLck of {pids:?}: {locked:?}\n{}", site.logs());
    site.ok(&["uninstall"]);
    assert!(engine.inspect("swapd").is_none());
}
