//! Figures for `--platform container`: the smallest daemon (`duende-idle`, release build)
//! installed as a container, as an operator would, on every engine that answers here (docker
//! through `DOCKER_HOST`, podman).
//!
//! - The image: its size against the binary's, and how long building it takes (`install
//!   --dry-run`, which builds the image in memory and changes nothing), median of 5.
//! - `install --now` until the daemon is ready (its health command passed in the container),
//!   median of 5 per engine, against the hand-written floor measured in the same run: `load` of
//!   the same archive, `run -d`, and `exec ... __healthcheck` until it passes.
//!
//! Installs are `--user` ones under a scratch `HOME`; each run is uninstalled (and the floor's
//! container and image removed) before the next, also after an error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use duende_bench::{median, ms, ok, run, scratch_dir};

const RUNS: usize = 5;
const NAME: &str = "duende-idle";

struct Bench {
    binary: PathBuf,
    home: PathBuf,
}

impl Bench {
    fn duende(&self, engine: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .args(["--platform", "container", "--user", "--set", &format!("platform.container.engine={engine}")])
            .args(["--set", "health_check.interval=1s"])
            .env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME");
        command
    }

    fn archive(&self) -> PathBuf {
        self.home.join(".cache").join(NAME).join(format!("{NAME}-image.tar"))
    }
}

fn engine_cli(engine: &str, args: &[&str]) -> Command {
    let mut command = Command::new(engine);
    command.args(args);
    command
}

fn answers(engine: &str) -> bool {
    let format = if engine == "podman" { "{{.Version.Version}}" } else { "{{.ServerVersion}}" };
    run(&mut engine_cli(engine, &["info", "--format", format])).is_ok_and(|o| o.status.success())
}

/// `install --now` until ready, then uninstall; the time of the install.
fn duende_install(bench: &Bench, engine: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let installed = ok(&mut bench.duende(engine, &["install", "--now"]));
    let took = start.elapsed();
    let status = ok(&mut bench.duende(engine, &["status", "--json"]));
    ok(&mut bench.duende(engine, &["uninstall"]))?;
    installed?;
    let status = status?;
    if !status.contains("\"ready\":true") {
        return Err(format!("installed but not ready: {status}"));
    }
    Ok(took)
}

/// The floor: load the same archive, run it, wait until its health command passes.
fn floor_install(engine: &str, archive: &Path, reference: &str) -> Result<Duration, String> {
    let container = "duende-bench-floor";
    let start = Instant::now();
    let result = (|| {
        ok(&mut engine_cli(engine, &["load", "--input", &archive.to_string_lossy()]))?;
        let mut run_args = vec!["run", "--detach", "--name", container, "--network", "none"];
        if engine == "podman" {
            // What duende passes too: podman's default limits fail where the engine cannot raise them.
            run_args.extend(["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]);
        }
        run_args.push(reference);
        ok(&mut engine_cli(engine, &run_args))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let check =
                run(&mut engine_cli(engine, &["exec", container, &format!("/usr/local/bin/{NAME}"), "__healthcheck"]))?;
            if check.status.success() {
                return Ok(start.elapsed());
            }
            if Instant::now() > deadline {
                return Err("the floor's container never became ready".to_owned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })();
    let _ = run(&mut engine_cli(engine, &["rm", "--force", container]));
    let _ = run(&mut engine_cli(engine, &["image", "rm", reference]));
    result
}

fn main() -> Result<(), String> {
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let binary = here.with_file_name(NAME);
    let scratch = scratch_dir();
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let bench = Bench { binary: binary.clone(), home };
    let result = measure(&bench);
    for engine in ["docker", "podman"] {
        // After an error: nothing of ours stays in the engines.
        let _ = run(&mut bench.duende(engine, &["uninstall"]));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn measure(bench: &Bench) -> Result<(), String> {
    let binary_len = std::fs::metadata(&bench.binary).map_err(|e| e.to_string())?.len();
    let engines: Vec<&str> = ["docker", "podman"].into_iter().filter(|e| answers(e)).collect();
    let Some(first) = engines.first() else {
        return Err("no container engine answers (docker through DOCKER_HOST, podman); start one".to_owned());
    };
    let mut builds = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        ok(&mut bench.duende(first, &["install", "--dry-run"]))?;
        builds.push(start.elapsed());
    }
    println!("container image of {NAME} (release), {RUNS} runs each:");
    println!("  build (install --dry-run): median {:.1} ms", ms(median(builds)));
    let mut sized = false;
    for engine in engines {
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        let mut image = None;
        for _ in 0..RUNS {
            // Keep one archive for the floor: install, copy it, then time a fresh install.
            if image.is_none() {
                ok(&mut bench.duende(engine, &["install"]))?;
                let archive = bench.home.join("floor-image.tar");
                std::fs::copy(bench.archive(), &archive).map_err(|e| e.to_string())?;
                // Installed, not started: `status` exits non-zero and still prints the state.
                let status = run(&mut bench.duende(engine, &["status", "--json"]))?;
                let reference = String::from_utf8_lossy(&status.stdout)
                    .split("\"Image\":\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .ok_or("no image in status")?
                    .to_owned();
                ok(&mut bench.duende(engine, &["uninstall"]))?;
                let size = std::fs::metadata(&archive).map_err(|e| e.to_string())?.len();
                if !std::mem::replace(&mut sized, true) {
                    println!(
                        "  image size: {:.2} MiB, binary {:.2} MiB ({:.2}x the binary)",
                        size as f64 / 1048576.0,
                        binary_len as f64 / 1048576.0,
                        size as f64 / binary_len as f64
                    );
                }
                image = Some((archive, reference));
            }
            ours.push(duende_install(bench, engine)?);
            let (archive, reference) = image.as_ref().ok_or("no image")?;
            floor.push(floor_install(engine, archive, reference)?);
        }
        let (ours, floor) = (median(ours), median(floor));
        println!(
            "  {engine}: install --now -> ready median {:.0} ms; hand-written load + run + health check {:.0} ms ({:.2}x)",
            ms(ours),
            ms(floor),
            ms(ours) / ms(floor)
        );
    }
    Ok(())
}
