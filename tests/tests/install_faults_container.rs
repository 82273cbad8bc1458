//! Faults during `install` (issue 15, item 5) on the container platform, against the real Docker
//! engine (the dockerd `scripts/test` starts on its own socket, `DUENDE_TEST_DOCKER_HOST`) and
//! real podman (on runc): the installer killed with SIGKILL before each step of an OLD → NEW
//! install (writing the image archive and the record, loading the image, renaming the old
//! container to `probe-previous`, stopping it, creating the new one, restarting it, the install
//! standing, removing the old container and image), with the rounds of `faults/mod.rs`: the
//! listing holds the files under a temporary home and the engine's objects of the daemon
//! (containers `probe` and `probe-previous` with their image, whether they run, the images
//! `localhost/probe:*`), and the service's identity is the id of the container `probe`, so a
//! taken-back install must leave the very container that ran before, running again.
//!
//! Docker gets every round; podman gets a shorter pass: killed before each step, then
//! `uninstall` straight away must leave the engine and the home as they were (taking the
//! interrupted install back on the way). A full disk: the image archive's directory on a tmpfs that holds the old archive
//! and not a second one.
#![cfg(feature = "root-tests")]

mod faults;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use duende_tests::sandbox::show_output;
use faults::{
    Listing, PROBE, Rig, Tmpfs, differences, host_exe, json_of, list, old_binary, rounds, uninstall_after_kills,
};
use serde_json::Value;

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

    fn cli(self, args: &[&str]) -> Output {
        let mut command = Command::new(self.name());
        command.args(args);
        if self == Engine::Docker {
            command.env("DOCKER_HOST", docker_host());
        }
        command.output().unwrap_or_else(|err| panic!("cannot run {}: {err}", self.name()))
    }

    fn inspect(self, name: &str) -> Option<Value> {
        let out = self.cli(&["container", "inspect", name]);
        if !out.status.success() {
            return None;
        }
        let all: Value = serde_json::from_slice(&out.stdout).expect("inspect prints JSON");
        Some(all[0].clone())
    }

    /// The daemon's containers and images, as listing items.
    fn objects(self, into: &mut Listing) {
        for name in ["probe", "probe-previous"] {
            let Some(container) = self.inspect(name) else { continue };
            let image = container["Config"]["Image"].as_str().unwrap_or_default().to_owned();
            into.insert(format!("engine container {name}"), (0, Some(image.into_bytes())));
            if container["State"]["Running"] == true {
                into.insert(format!("engine running {name}"), (0, Some(Vec::new())));
            }
        }
        let out = self.cli(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
        assert!(out.status.success(), "{}", show_output(&out));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((reference, id)) = line.split_once(' ')
                && reference.starts_with("localhost/probe:")
            {
                into.insert(format!("engine image {reference}"), (0, Some(id.as_bytes().to_vec())));
            }
        }
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

/// A temporary home for `--user` installs of `probe` on one engine, its configurations and the
/// old binary; removes what a failed test left of the daemon when dropped.
struct Site {
    home: tempfile::TempDir,
    engine: Engine,
    old_bytes: Vec<u8>,
}

impl Site {
    fn new(engine: Engine, new_label: &str) -> Site {
        let home = tempfile::Builder::new().prefix("duende-faults-container-").tempdir().expect("a temporary home");
        let old_bytes = old_binary(&home.path().join("probe-old"));
        for (name, label) in [("old.toml", "old"), ("new.toml", new_label)] {
            let text = format!(
                "[health_check]\ninterval = \"1s\"\ntimeout = \"5s\"\nretries = 2\n[app]\nlabel = \"{label}\"\n"
            );
            std::fs::write(home.path().join(name), text).expect("write a configuration");
        }
        std::fs::create_dir(home.path().join("home")).expect("mkdir home");
        Site { home, engine, old_bytes }
    }

    fn at(&self, relative: &str) -> PathBuf {
        self.home.path().join(relative)
    }

    /// `BINARY ARGS --platform container --user`, as root with this site's home.
    fn probe(&self, binary: &str, args: &[&str], kill_at: Option<usize>) -> Output {
        let mut command = Command::new(binary);
        command.args(args).args(["--platform", "container"]);
        command.args(["--set", &format!("platform.container.engine={}", self.engine.name())]);
        command
            .env("HOME", self.at("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("DOCKER_HOST", docker_host())
            .env_remove("RUST_LOG")
            .env_remove(faults_kill_at());
        if let Some(step) = kill_at {
            command.env(faults_kill_at(), step.to_string());
        }
        command.output().expect("the probe runs")
    }

    fn listing(&self) -> Listing {
        let home = self.at("home");
        let mut listing = list(&[&home], &|_| false);
        self.engine.objects(&mut listing);
        listing
    }
}

fn faults_kill_at() -> &'static str {
    "DUENDE_TEST_KILL_AT"
}

impl Drop for Site {
    fn drop(&mut self) {
        for name in ["probe", "probe-previous"] {
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

/// Runs `what` with a rig for `engine`.
fn with_rig<T>(engine: Engine, what: impl FnOnce(&Rig<'_>) -> T) -> T {
    let site = Site::new(engine, "new");
    let (old_config, new_config) = (site.at("old.toml"), site.at("new.toml"));
    let (old_config, new_config) = (old_config.to_string_lossy(), new_config.to_string_lossy());
    let old_binary = site.at("probe-old");
    let old_binary = old_binary.to_string_lossy();
    let probe = |binary: &str, args: &[&str], kill_at: Option<usize>| site.probe(binary, args, kill_at);
    let listing = || site.listing();
    let identity =
        || engine.inspect("probe").map(|c| c["Id"].as_str().unwrap_or_default().to_owned()).unwrap_or_default();
    let rig = Rig {
        what: engine.name(),
        probe: &probe,
        listing: &listing,
        alive: &|pid| Path::new(&format!("/proc/{pid}")).exists(),
        exe: &host_exe,
        identity: &identity,
        bookkeeping: &|item| item.ends_with(" probe-previous"),
        new_binary: PROBE,
        old_binary: &old_binary,
        old_bytes: site.old_bytes.clone(),
        old_args: &["--now", "--config", &old_config, "--set", "shutdown_timeout=5s"],
        new_args: &["--now", "--config", &new_config, "--set", "shutdown_timeout=6s"],
        checks_exe: true,
        status: true,
    };
    what(&rig)
}

/// On docker, one after the other (both use the container name `probe` on the one engine),
/// while podman's pass runs beside them: the kill rounds, then the full disk.
#[test]
fn docker_installs_killed_at_each_step_or_on_a_full_disk_leave_old_or_new() {
    killed_at_each_step_on_docker();
    on_a_full_disk_on_docker();
}

fn killed_at_each_step_on_docker() {
    let outcomes = with_rig(Engine::Docker, |rig| rounds(rig, "--user"));
    // The steps the backend journals with their undo, and the clean-ups after the install stood.
    for step in
        ["load --input", "rename probe probe-previous", "stop --time", "create --name probe", "restart", "settle"]
    {
        assert!(outcomes.iter().any(|o| o.contains(step)), "a kill before `{step}`: {outcomes:#?}");
    }
    let finished = outcomes.iter().filter(|o| o.contains("clean up:") && o.ends_with("then finished")).count();
    assert_eq!(finished, 2, "killed before each of the two clean-ups: {outcomes:#?}");
}

#[test]
fn podman_installs_killed_at_each_step_are_uninstalled_without_a_trace() {
    let steps = with_rig(Engine::Podman, |rig| uninstall_after_kills(rig, "--user"));
    assert_eq!(steps, 10, "every step of the container install, its two clean-ups included");
}

/// A full disk during the writes on docker: the image archive's directory on a tmpfs that holds
/// the OLD archive and not a second one, while the OLD container runs. The install fails naming
/// the full disk, and leaves the OLD files, image and container (the same one, still running,
/// not restarted), and no journal; once the tmpfs is gone, `install` completes.
fn on_a_full_disk_on_docker() {
    let site = Site::new(Engine::Docker, &"new".repeat(20));
    let engine = site.engine;
    let old_binary = site.at("probe-old");
    let old_binary = old_binary.to_string_lossy();
    let (old_config, new_config) = (site.at("old.toml"), site.at("new.toml"));
    let old_args = ["install", "--now", "--user", "--config", &*old_config.to_string_lossy()].map(String::from);
    let new_args = ["install", "--now", "--user", "--config", &*new_config.to_string_lossy()].map(String::from);
    let run = |binary: &str, args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        site.probe(binary, &args, None)
    };
    let before = site.listing();
    let out = run(&old_binary, &old_args);
    assert!(out.status.success(), "{}", show_output(&out));
    let old = site.listing();
    let container = engine.inspect("probe").expect("the old container");
    let (id, pid) = (container["Id"].clone(), container["State"]["Pid"].clone());
    let cache = site.at("home/.cache/probe");
    let archive = cache.join("probe-image.tar");
    let bytes = std::fs::read(&archive).expect("the old image archive");
    // Room for the old archive and less than a second one of the same size.
    let mount = Tmpfs::mount(&cache, bytes.len() + bytes.len() / 2, 0);
    std::fs::write(&archive, &bytes).expect("the old archive fits");
    std::fs::set_permissions(&archive, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    assert_eq!(differences(&site.listing(), &old), Vec::<String>::new(), "the old set, the archive on the tmpfs");
    let out = run(faults::PROBE, &new_args);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the new archive cannot fit: {}", show_output(&out));
    assert!(
        said.contains("No space left on device") && said.contains("probe-image.tar"),
        "the error names the full disk and the file: {}",
        show_output(&out)
    );
    assert_eq!(differences(&site.listing(), &old), Vec::<String>::new(), "the old set, exactly:\n{said}");
    let container = engine.inspect("probe").expect("the old container");
    assert_eq!((container["Id"].clone(), container["State"]["Pid"].clone()), (id, pid), "the same, untouched");
    let status = site.probe(faults::PROBE, &["status", "--json", "--user"], None);
    let json = json_of(&status);
    assert_eq!(json["state"], "running", "{json}");
    assert!(json["drift"].as_array().is_some_and(|d| !d.iter().any(|k| k == "interrupted")), "{json}");
    drop(mount);
    let out = run(faults::PROBE, &new_args);
    assert!(out.status.success(), "with room again: {}", show_output(&out));
    let container = engine.inspect("probe").expect("the new container");
    let pid = container["State"]["Pid"].as_u64().unwrap_or(0);
    assert!(host_exe(pid) == std::fs::read(PROBE).expect("the probe"), "the new container runs the new binary");
    let out = site.probe(faults::PROBE, &["uninstall", "--user"], None);
    assert!(out.status.success(), "{}", show_output(&out));
    assert_eq!(differences(&site.listing(), &before), Vec::<String>::new(), "uninstall");
    eprintln!(
        "[docker, full disk] a {} byte archive: refused on a tmpfs of 1.5 times it, installed after",
        bytes.len()
    );
}
