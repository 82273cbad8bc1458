//! Figures for `--platform pepita`: the smallest daemon (`duende-idle`, release build) installed
//! as a microVM, as an operator would (`--user`, under a scratch `HOME` and runtime directory),
//! with QEMU on KVM where it can boot a stock kernel and TCG elsewhere (`accel = "auto"`; the
//! accelerator in use is printed).
//!
//! - The bundle: the initramfs's and the kernel's sizes against the binary's, and how long
//!   building it takes (`install --dry-run`), median of 5.
//! - `start` until the guest daemon is ready (`start` returns once the supervisor has the
//!   runner's READY=1, relayed from the guest over vsock; `status --json` confirms it), and
//!   `stop` until no QEMU of the bundle is left, median of 5, against the hand-written
//!   equivalent measured in the same run: `vhost-device-vsock` and QEMU started with the same
//!   command lines, the configuration file answered on the guest's request as the runner does,
//!   the guest's READY=1 read from the same vsock report stream, and `stop` as one
//!   control-protocol line over vsock, then waiting for QEMU to exit. The hand-written runs also
//!   give the floor: QEMU started until the guest's first console line, which is the kernel's
//!   boot and the initramfs's unpacking before any of duende's code runs.
//!
//! Needs `[platform.pepita] kernel` (`DUENDE_BENCH_PEPITA_KERNEL`, set by `scripts/bench-pepita`),
//! QEMU and `vhost-device-vsock` in `PATH`. Everything is uninstalled at the end, also after an
//! error, and every process started by hand is killed by PID.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duende_bench::{median, ms, ok, run, scratch_dir};
use duende_runtime::platform::pepita::report::{self, Report};
use duende_runtime::platform::pepita::runner::{self, Description};
use duende_runtime::platform::pepita::{CONFIG_PORT, CONTROL_PORT, REPORT_PORT, config_port, hybrid};

const RUNS: usize = 5;
const NAME: &str = "duende-idle";
const PATIENCE: Duration = Duration::from_secs(120);

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

struct Bench {
    binary: PathBuf,
    scratch: PathBuf,
}

impl Bench {
    fn duende(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .args(["--platform", "pepita", "--user", "--config"])
            .arg(self.scratch.join("idle.toml"))
            .env("HOME", self.scratch.join("home"))
            .env("XDG_RUNTIME_DIR", self.scratch.join("run"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("NOTIFY_SOCKET");
        command
    }

    fn bundle(&self) -> PathBuf {
        self.scratch.join("home/.local/state").join(NAME).join("pepita")
    }
}

/// The PIDs of the QEMU processes whose command line names `needle`.
fn qemus(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmdline = String::from_utf8_lossy(&std::fs::read(entry.path().join("cmdline")).ok()?).into_owned();
            (cmdline.contains("qemu-system") && cmdline.contains(&needle)).then_some(pid)
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// `start` until ready, then `stop` until no QEMU is left: the two times.
fn duende_cycle(bench: &Bench) -> Result<(Duration, Duration), String> {
    let start = Instant::now();
    ok(&mut bench.duende(&["start"]))?;
    let started = start.elapsed();
    let status = ok(&mut bench.duende(&["status", "--json"]))?;
    if !status.contains("\"ready\":true") {
        return Err(format!("started but not ready: {status}"));
    }
    if qemus(&bench.bundle()).len() != 1 {
        return Err("started, but not one QEMU runs the bundle".to_owned());
    }
    let stop = Instant::now();
    ok(&mut bench.duende(&["stop"]))?;
    wait_for("QEMU gone after stop", || qemus(&bench.bundle()).is_empty())?;
    Ok((started, stop.elapsed()))
}

/// A process killed (SIGKILL, by PID) and reaped when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// By hand, with the installed bundle's own command lines: the time to the guest's first
/// console line (the floor), to READY=1, and from the stop request to QEMU's exit.
fn hand_cycle(bench: &Bench, description: &Description) -> Result<(Duration, Duration, Duration), String> {
    let dir = bench.scratch.join("hand");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let vmm = runner::vmm_command(description, &bench.bundle(), &dir);
    let (vhost, uds) = (dir.join("vm.vhost.sock"), dir.join("vm.vsock"));
    let backend = hybrid::backend_command(hybrid::BACKEND, description.vsock_cid, &vhost, &uds);
    // The hand-written script would start the backend first too: not counted.
    let _backend = Killed(
        Command::new(&backend.program)
            .args(&backend.args)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", backend.program))?,
    );
    wait_for("the vsock backend's socket", || vhost.exists())?;
    let listener = hybrid::listen(&uds, REPORT_PORT).map_err(|e| e.to_string())?;
    // The guest asks for its configuration file before it starts the daemon: the same file,
    // answered as the runner answers it.
    let config = hybrid::listen(&uds, CONFIG_PORT).map_err(|e| e.to_string())?;
    let file = bench.scratch.join("idle.toml");
    std::thread::spawn(move || config_port::serve(&config, Some(file)));

    let start = Instant::now();
    let mut qemu = Killed(
        Command::new(&vmm.program)
            .args(&vmm.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", vmm.program))?,
    );
    let (first_tx, first_line) = mpsc::channel();
    let console = qemu.0.stdout.take().ok_or("no QEMU output")?;
    std::thread::spawn(move || {
        let mut lines = BufReader::new(console).lines();
        if lines.next().is_some() {
            let _ = first_tx.send(Instant::now());
        }
        lines.for_each(drop);
    });
    let (stream, _) = listener.accept().map_err(|e| format!("no report connection: {e}"))?;
    stream.set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    let mut reader = report::Reader::new(stream);
    loop {
        match reader.next_report().map_err(|e| e.to_string())? {
            Some(Report::Notify(notification)) if notification.is_ready() => break,
            Some(Report::Exit(code)) => return Err(format!("the guest daemon exited ({code}) before READY=1")),
            Some(_) => {}
            None => return Err("the report ended before READY=1".to_owned()),
        }
    }
    let ready = start.elapsed();
    let floor = first_line.recv_timeout(PATIENCE).map_err(|_| "no console line")?.duration_since(start);

    let stop = Instant::now();
    let mut control = hybrid::connect(&uds, CONTROL_PORT, PATIENCE).map_err(|e| e.to_string())?;
    control.write_all(b"{\"v\":1,\"op\":\"stop\"}\n").map_err(|e| e.to_string())?;
    // The guest reports the exit and waits for the acknowledgement before it powers off.
    std::thread::spawn(move || {
        while let Ok(Some(message)) = reader.next_report() {
            if matches!(message, Report::Exit(_)) {
                let _ = reader.get_mut().write_all(report::ACK);
            }
        }
    });
    wait_for("QEMU's exit after the stop request", || qemu.0.try_wait().ok().flatten().is_some())?;
    Ok((floor, ready, stop.elapsed()))
}

fn main() -> Result<(), String> {
    let Some(kernel) = std::env::var_os("DUENDE_BENCH_PEPITA_KERNEL") else {
        return Err("DUENDE_BENCH_PEPITA_KERNEL is not set: run scripts/bench-pepita, which fetches one".to_owned());
    };
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    let bench = Bench { binary: here.with_file_name(NAME), scratch: scratch_dir().join("duende-bench-pepita") };
    let _ = std::fs::remove_dir_all(&bench.scratch);
    for dir in ["home", "run"] {
        std::fs::create_dir_all(bench.scratch.join(dir)).map_err(|e| e.to_string())?;
    }
    let config = format!("[platform.pepita]\nkernel = \"{}\"\naccel = \"auto\"\n", Path::new(&kernel).display());
    std::fs::write(bench.scratch.join("idle.toml"), config).map_err(|e| e.to_string())?;
    let result = measure(&bench);
    let _ = run(&mut bench.duende(&["uninstall"]));
    let _ = std::fs::remove_dir_all(&bench.scratch);
    result
}

fn measure(bench: &Bench) -> Result<(), String> {
    let binary_len = std::fs::metadata(&bench.binary).map_err(|e| e.to_string())?.len();
    let mut builds = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        ok(&mut bench.duende(&["install", "--dry-run"]))?;
        builds.push(start.elapsed());
    }
    ok(&mut bench.duende(&["install"]))?;
    let description = runner::read(&bench.bundle()).map_err(|e| e.to_string())?;
    let size = |file: &str| std::fs::metadata(bench.bundle().join(file)).map(|m| m.len()).map_err(|e| e.to_string());
    let (initramfs, kernel) = (size(runner::INITRAMFS)?, size("vmlinuz")?);
    println!(
        "pepita microVM of {NAME} (release), {} MiB guest memory, {} vCPU, accel {:?}, {RUNS} runs each:",
        description.memory_mb, description.vcpus, description.accel
    );
    println!(
        "  bundle: initramfs {:.2} MiB ({:.2}x the {:.2} MiB binary), kernel {:.2} MiB; build (install --dry-run) median {:.0} ms",
        mib(initramfs),
        initramfs as f64 / binary_len as f64,
        mib(binary_len),
        mib(kernel),
        ms(median(builds))
    );
    let (mut starts, mut stops) = (Vec::new(), Vec::new());
    let (mut floors, mut hand_starts, mut hand_stops) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let (start, stop) = duende_cycle(bench)?;
        starts.push(start);
        stops.push(stop);
        let (floor, ready, stop) = hand_cycle(bench, &description)?;
        floors.push(floor);
        hand_starts.push(ready);
        hand_stops.push(stop);
    }
    let runs = |label: &str, values: &[Duration]| {
        let each: Vec<String> = values.iter().map(|d| format!("{:.0}", ms(*d))).collect();
        println!("    {label} (ms, in run order): {}", each.join(" "));
    };
    runs("start -> READY", &starts);
    runs("by hand", &hand_starts);
    runs("floor", &floors);
    runs("stop -> QEMU gone", &stops);
    runs("by hand", &hand_stops);
    let (start, hand_start, floor) = (median(starts), median(hand_starts), median(floors));
    let (stop, hand_stop) = (median(stops), median(hand_stops));
    println!(
        "  start -> guest READY: median {:.0} ms; by hand (backend + QEMU, READY over vsock) {:.0} ms ({:.2}x); floor (QEMU to the guest's first console line) {:.0} ms",
        ms(start),
        ms(hand_start),
        ms(start) / ms(hand_start),
        ms(floor)
    );
    println!(
        "  stop -> QEMU gone: median {:.0} ms; by hand (control `stop` over vsock until QEMU exits) {:.0} ms ({:.2}x)",
        ms(stop),
        ms(hand_stop),
        ms(stop) / ms(hand_stop)
    );
    Ok(())
}
