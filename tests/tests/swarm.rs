//! The swarm platform end to end, on a real single-node swarm: the suite makes the dockerd
//! `scripts/test` starts (`DUENDE_TEST_DOCKER_HOST`) a swarm manager (`docker swarm init
//! --advertise-addr 127.0.0.1`) and leaves the swarm at the end (removing the
//! `docker_gwbridge` network `init` creates on the host). The probe is installed `--now` with 3
//! replicas; a task killed with SIGKILL is replaced; a new configuration rolls out one task at a
//! time with never fewer than 2 healthy; a configuration whose daemon never becomes healthy is
//! rolled back by the engine, `install` fails and the old version serves; scaled to zero and
//! back; reloaded in every task; uninstalled leaving `docker service ls`, `docker config ls`
//! and `docker images` as they were. A foreign service of the same name is never touched.
#![cfg(feature = "root-tests")]

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use duende_tests::sandbox::{show_output, wait_until};
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn docker_host() -> String {
    std::env::var("DUENDE_TEST_DOCKER_HOST").unwrap_or_else(|_| {
        panic!(
            "DUENDE_TEST_DOCKER_HOST is not set: the swarm suite needs the dockerd that `scripts/test` starts (run the \
             suite through scripts/test)"
        )
    })
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).env("DOCKER_HOST", docker_host()).output().expect("docker runs")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?} failed:\n{}", show_output(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The engine as a swarm manager for the guard's life.
struct Swarm;

impl Swarm {
    fn init() -> Swarm {
        // A free port for the swarm's listener (2377 may be another engine's).
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let listen = format!("127.0.0.1:{port}");
        docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &listen]);
        Swarm
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let out = docker(&["swarm", "leave", "--force"]);
        if !out.status.success() {
            eprintln!("docker swarm leave --force failed:\n{}", show_output(&out));
        }
        // `swarm init` created this bridge on the host for the ingress network's sandbox.
        let _ = docker(&["network", "rm", "docker_gwbridge"]);
    }
}

/// Everything the engine has that uninstall must leave as it found it.
fn inventory() -> (String, String, String) {
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines.join("\n")
    };
    (
        sorted(docker_ok(&["service", "ls", "--format", "{{.Name}} {{.Image}}"])),
        sorted(docker_ok(&["config", "ls", "--format", "{{.Name}}"])),
        sorted(docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])),
    )
}

/// A home of its own for `--user` installs.
struct Site {
    home: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Site {
    fn new() -> Site {
        let home = tempfile::Builder::new().prefix("duende-swarm-").tempdir().expect("a temporary home");
        let config = home.path().join("daemon.toml");
        Site { home, config }
    }

    fn configure(&self, app: &str) {
        let text = format!(
            "shutdown_timeout = \"5s\"\n[health_check]\ninterval = \"1s\"\ntimeout = \"2s\"\nretries = \
             2\n[platform.swarm]\nreplicas = 3\n[app]\n{app}\n"
        );
        duende_tests::write_atomic(&self.config, &text);
    }

    fn duende(&self, args: &[&str]) -> Output {
        Command::new(PROBE)
            .args(args)
            .args(["--platform", "swarm", "--user", "--config"])
            .arg(&self.config)
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("DOCKER_HOST", docker_host())
            .env_remove("RUST_LOG")
            .output()
            .expect("the probe runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.duende(args);
        assert!(out.status.success(), "{args:?} failed:\n{}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.duende(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("status --json: {err}\n{}", show_output(&out)))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // Whatever a failed test left of the probe's service (only if it is duende's).
        let out = docker(&["service", "inspect", "--format", "{{index .Spec.Labels \"io.duende.service\"}}", "probe"]);
        if String::from_utf8_lossy(&out.stdout).trim() == "probe" {
            let _ = docker(&["service", "rm", "probe"]);
        }
        // And the images and config objects duende made for it.
        let images = docker(&["images", "--filter", "label=io.duende.service=probe", "--format", "{{.ID}}"]);
        for image in String::from_utf8_lossy(&images.stdout).split_whitespace() {
            let _ = docker(&["image", "rm", "--force", image]);
        }
        let configs = docker(&["config", "ls", "--filter", "label=io.duende.service=probe", "--format", "{{.Name}}"]);
        for config in String::from_utf8_lossy(&configs.stdout).split_whitespace() {
            let _ = docker(&["config", "rm", config]);
        }
    }
}

/// The probe's tasks that should run: (task id, state, container id, config object).
fn tasks() -> Vec<(String, String, String, String)> {
    let ids = docker_ok(&["service", "ps", "--quiet", "--no-trunc", "--filter", "desired-state=running", "probe"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut words = vec!["inspect", "--type", "task"];
    words.extend(ids);
    let out = docker(&words);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    all.as_array()
        .map(|tasks| {
            tasks
                .iter()
                .map(|t| {
                    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                    (
                        text(&t["ID"]),
                        text(&t["Status"]["State"]),
                        text(&t["Status"]["ContainerStatus"]["ContainerID"]),
                        text(&t["Spec"]["ContainerSpec"]["Configs"][0]["ConfigName"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn health(container: &str) -> String {
    if container.is_empty() {
        return "none".to_owned();
    }
    docker(&["container", "inspect", "--format", "{{.State.Health.Status}}", container])
        .stdout
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Tasks running and healthy by the engine's own check.
fn healthy() -> Vec<(String, String, String, String)> {
    tasks()
        .into_iter()
        .filter(|(_, state, container, _)| state == "running" && health(container) == "healthy")
        .collect()
}

#[test]
fn a_swarm_service_scales_rolls_and_rolls_back() {
    let _swarm = Swarm::init();
    let before = inventory();
    let site = Site::new();
    site.configure("label = \"one\"");

    // check: the engine is a swarm manager.
    let out = Command::new(PROBE)
        .args(["check", "--platform", "swarm"])
        .env("HOME", site.home.path())
        .env("DOCKER_HOST", docker_host())
        .output()
        .expect("check runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is a swarm manager"), "{}", show_output(&out));

    // --dry-run prints every engine call and changes nothing.
    let out = site.ok(&["install", "--now", "--dry-run"]);
    for call in ["load --input", "config create --label io.duende.service=probe probe-", "service create"] {
        assert!(out.contains(call), "{call} not in:\n{out}");
    }
    assert_eq!(inventory(), before, "a dry run changes nothing");

    // install --now: 3 tasks, healthy.
    let started = Instant::now();
    let out = site.ok(&["install", "--now"]);
    assert!(out.contains("service create"), "{out}");
    let status = site.status();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["ready"], true);
    assert_eq!(status["manager"]["Replicas"], "3/3", "{status}");
    assert_eq!(status["live"]["state"], "running", "a task's own account, through its control channel: {status}");
    wait_until("3 healthy tasks", Duration::from_secs(60), || healthy().len() == 3, || format!("{:?}", tasks()));
    eprintln!("install --now to 3 healthy tasks: {:?}", started.elapsed());
    let first = tasks();
    let first_config = first[0].3.clone();
    assert!(first_config.starts_with("probe-"), "the configuration is a config object: {first:?}");
    for key in ["Task 1", "Task 2", "Task 3"] {
        let task = status["manager"][key].as_str().unwrap_or_default();
        assert!(
            task.starts_with("running") && task.contains("health healthy") && task.contains("live: running"),
            "{key}: {task}"
        );
    }

    // Installing again changes nothing.
    let out = site.ok(&["install", "--now"]);
    assert!(out.contains("nothing to change"), "{out}");

    // SIGKILL to one task's process: the engine replaces the task.
    let (_, _, victim, _) = first[0].clone();
    let pid = docker_ok(&["container", "inspect", "--format", "{{.State.Pid}}", &victim]);
    let pid: i32 = pid.trim().parse().expect("a pid");
    // SAFETY: kill with a pid the engine gave and a valid signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    wait_until(
        "the engine to replace the killed task",
        Duration::from_secs(60),
        || {
            let now = healthy();
            now.len() == 3 && now.iter().all(|(_, _, c, _)| *c != victim)
        },
        || format!("{:?}", tasks()),
    );

    // A new configuration: a rolling update, one task at a time, never fewer than 2 healthy.
    site.configure("label = \"two\"");
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let watching = Arc::clone(&watching);
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while watching.load(Ordering::SeqCst) {
                samples.push(healthy().len());
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    let started = Instant::now();
    let out = site.duende(&["install"]);
    let rolled = started.elapsed();
    watching.store(false, Ordering::SeqCst);
    let samples = watcher.join().expect("the watcher");
    assert!(out.status.success(), "{}", show_output(&out));
    eprintln!("rolling update of 3 replicas: {rolled:?}; healthy tasks sampled: {samples:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config-add"), "{}", show_output(&out));
    assert!(samples.len() > 5, "{samples:?}");
    assert!(samples.iter().all(|n| *n >= 2), "never fewer than 2 healthy: {samples:?}");
    assert!(samples.contains(&2), "one task at a time was replaced: {samples:?}");
    let second = tasks();
    assert_eq!(second.len(), 3);
    assert!(second.iter().all(|(_, state, _, config)| state == "running" && *config != first_config), "{second:?}");
    let second_config = second[0].3.clone();
    assert!(docker(&["config", "inspect", &first_config]).status.code() != Some(0), "the old object is removed");

    // A configuration whose daemon never becomes healthy: the engine rolls back, install fails.
    site.configure("label = \"bad\"\nunhealthy_after_ms = 1");
    let out = site.duende(&["install"]);
    assert_eq!(out.status.code(), Some(71), "a rolled back update must fail the install:\n{}", show_output(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rolled the update back"), "{}", show_output(&out));
    eprintln!("install of a never-healthy configuration ({:?}):\n{}", out.status.code(), show_output(&out));
    let status = site.status();
    assert_eq!(status["state"], "running", "the old version serves: {status}");
    assert_eq!(status["manager"]["Replicas"], "3/3", "{status}");
    assert!(
        status["manager"]["UpdateStatus"].as_str().is_some_and(|s| s.starts_with("rollback_completed")),
        "{status}"
    );
    wait_until(
        "3 healthy tasks after the rollback",
        Duration::from_secs(60),
        || healthy().len() == 3,
        || format!("{:?}", tasks()),
    );
    assert!(tasks().iter().all(|(_, _, _, config)| *config == second_config), "{:?}", tasks());
    let configs = docker_ok(&["config", "ls", "--format", "{{.Name}}"]);
    assert_eq!(configs.lines().filter(|c| c.starts_with("probe-")).count(), 1, "the bad object is removed: {configs}");
    site.configure("label = \"two\"");

    // The engine prunes a service's task history as it goes, so a task `service ps` listed can be
    // gone when the backend inspects it: inspect then prints the tasks it found, fails, and names
    // the missing one as not found. The backend reads the found ones (swarm/backend.rs `tasks`).
    let listed = docker_ok(&["service", "ps", "--quiet", "--no-trunc", "probe"]);
    let first = listed.split_whitespace().next().expect("the service has tasks");
    let out = docker(&["inspect", "--type", "task", first, "duendeprunedtask000000000"]);
    let found: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(!out.status.success() && found[0]["ID"] == first, "{}", show_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("duendeprunedtask000000000 not found"),
        "{}",
        show_output(&out)
    );

    // reload: SIGHUP to every task, each daemon's verdict.
    let out = site.ok(&["reload"]);
    assert!(out.contains("reloaded in 3 tasks"), "{out}");
    assert_eq!(out.matches("generation 2 is in effect").count(), 3, "{out}");
    let logs = site.duende(&["logs"]);
    let logs = format!("{}{}", String::from_utf8_lossy(&logs.stdout), String::from_utf8_lossy(&logs.stderr));
    assert!(logs.matches("reloaded generation=2 label=two").count() >= 3, "merged logs of every task:\n{logs}");

    // stop scales to zero, start scales back.
    site.ok(&["stop"]);
    assert_eq!(site.status()["state"], "stopped");
    assert!(tasks().is_empty(), "{:?}", tasks());
    site.ok(&["start"]);
    let status = site.status();
    assert_eq!((status["state"].as_str(), status["manager"]["Replicas"].as_str()), (Some("running"), Some("3/3")));

    // restart: a rolling restart, every task replaced.
    let before_restart: Vec<String> = tasks().into_iter().map(|(_, _, container, _)| container).collect();
    site.ok(&["restart"]);
    let status = site.status();
    assert_eq!((status["state"].as_str(), status["manager"]["Replicas"].as_str()), (Some("running"), Some("3/3")));
    let after_restart = tasks();
    assert_eq!(after_restart.len(), 3);
    assert!(
        after_restart.iter().all(|(_, _, c, _)| !before_restart.contains(c)),
        "{before_restart:?} {after_restart:?}"
    );

    // uninstall: the engine is as before.
    let out = site.ok(&["uninstall"]);
    assert!(out.contains("service rm probe") && out.contains("config rm") && out.contains("image rm"), "{out}");
    eprintln!("uninstall:\n{out}");
    assert_eq!(inventory(), before, "uninstall leaves the engine as it found it");

    foreign_service_survives(&site);
}

/// A service named like the daemon that duende did not create is never touched.
fn foreign_service_survives(site: &Site) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs.tar");
    std::fs::write(dir.path().join("marker"), "not a daemon\n").expect("write");
    let status = Command::new("tar").arg("-cf").arg(&rootfs).arg("-C").arg(dir.path()).arg("marker").status();
    assert!(status.is_ok_and(|s| s.success()));
    let image = "localhost/duende-foreign:1";
    docker_ok(&["import", &rootfs.to_string_lossy(), image]);
    docker_ok(&[
        "service",
        "create",
        "--detach",
        "--quiet",
        "--no-resolve-image",
        "--replicas",
        "0",
        "--name",
        "probe",
        image,
        "/nothing",
    ]);
    let id = docker_ok(&["service", "inspect", "--format", "{{.ID}}", "probe"]);
    let out = site.duende(&["install", "--now"]);
    assert_eq!(out.status.code(), Some(64), "{}", show_output(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", show_output(&out));
    assert_eq!(docker_ok(&["service", "inspect", "--format", "{{.ID}}", "probe"]), id, "untouched");
    docker_ok(&["service", "rm", "probe"]);
    let _ = docker(&["image", "rm", "--force", image]);
    // What the refused install loaded is not left behind.
    let _ = site.duende(&["uninstall"]);
    let images = docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert!(!images.contains("localhost/probe"), "{images}");
}
