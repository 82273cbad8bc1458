//! Figures for `--platform swarm`: the smallest daemon (`duende-idle`, release build) as a
//! swarm service of 3 replicas on the engine `DOCKER_HOST` names, which must be a swarm manager
//! (`docker swarm init --advertise-addr 127.0.0.1`; `scripts/bench-swarm` makes its own).
//!
//! - `install --now` until all 3 tasks run and are healthy (a swarm task runs only once its
//!   health check passed; `install` returns once the engine says so), from nothing;
//! - a rolling update of the 3 replicas (a changed configuration file: a new config object,
//!   one task at a time, each watched for the health window), until `install` returns.
//!
//! Health checks every second (`health_check.interval = "1s"`, 2 retries, so the update's
//! monitor window is 5 s). Median of 3 runs each; every run is uninstalled before the next,
//! also after an error.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use duende_bench::{median, ms, ok, run, scratch_dir};

const RUNS: usize = 3;
const NAME: &str = "duende-idle";

struct Bench {
    binary: PathBuf,
    home: PathBuf,
    config: PathBuf,
}

impl Bench {
    fn duende(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .args(["--platform", "swarm", "--user", "--config"])
            .arg(&self.config)
            .env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME");
        command
    }

    fn configure(&self, log_level: &str) -> Result<(), String> {
        let text = format!(
            "log_level = \"{log_level}\"\nshutdown_timeout = \"5s\"\n[health_check]\ninterval = \"1s\"\ntimeout = \
             \"1s\"\nretries = 2\n[platform.swarm]\nreplicas = 3\n"
        );
        std::fs::write(&self.config, text).map_err(|e| e.to_string())
    }

    /// `status --json` says all 3 replicas run and are ready.
    fn all_ready(&self) -> Result<(), String> {
        let status = ok(&mut self.duende(&["status", "--json"]))?;
        if status.contains("\"ready\":true") && status.contains("\"Replicas\":\"3/3\"") {
            Ok(())
        } else {
            Err(format!("installed but not all replicas ready: {status}"))
        }
    }
}

fn main() -> Result<(), String> {
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let scratch = scratch_dir();
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let bench = Bench { binary: here.with_file_name(NAME), config: home.join("daemon.toml"), home };
    let result = measure(&bench);
    // After an error: nothing of ours stays in the engine.
    let _ = run(&mut bench.duende(&["uninstall"]));
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn measure(bench: &Bench) -> Result<(), String> {
    let manager = ok(Command::new("docker").args(["info", "--format", "{{.Swarm.ControlAvailable}}"]))?;
    if manager.trim() != "true" {
        return Err("the engine DOCKER_HOST names is not a swarm manager; `docker swarm init --advertise-addr \
                    127.0.0.1` makes it one (scripts/bench-swarm does, on a dockerd of its own)"
            .to_owned());
    }
    let mut installs: Vec<Duration> = Vec::new();
    let mut updates: Vec<Duration> = Vec::new();
    for _ in 0..RUNS {
        bench.configure("info")?;
        let start = Instant::now();
        ok(&mut bench.duende(&["install", "--now"]))?;
        installs.push(start.elapsed());
        bench.all_ready()?;
        bench.configure("debug")?;
        let start = Instant::now();
        let out = ok(&mut bench.duende(&["install"]))?;
        updates.push(start.elapsed());
        if !out.contains("service update") {
            return Err(format!("the second install was not a rolling update:\n{out}"));
        }
        bench.all_ready()?;
        ok(&mut bench.duende(&["uninstall"]))?;
    }
    println!("swarm service of {NAME} (release), 3 replicas, health checks every 1 s, {RUNS} runs each:");
    println!(
        "  install --now -> 3 tasks running and healthy: median {:.0} ms (runs: {:?})",
        ms(median(installs.iter().copied())),
        installs.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    println!(
        "  rolling update of 3 replicas (new configuration) -> all healthy again: median {:.0} ms (runs: {:?})",
        ms(median(updates.iter().copied())),
        updates.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
    Ok(())
}
