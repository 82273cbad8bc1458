//! Figures for `--platform native`: the smallest daemon (`duende-idle`) installed natively and
//! driven through its own command line, as an operator would.
//!
//! - `start` → ready: how long `duende-idle start` takes to return (it returns once the daemon
//!   sent READY=1 to its supervisor), median of 15, against starting the same binary directly and
//!   waiting for its READY=1 (the floor: what a hand-written `fork + exec` costs), measured in the
//!   same run.
//! - The supervisor while idle: wake-ups over 10 s (target 0) and its resident memory.
//! - Density: N services (1,000 by default, `--services N`), each with its own supervisor, started
//!   one after another; their total resident memory and CPU time over 10 s idle, and how long
//!   stopping them all takes.
//!
//! Every service lives in a directory of its own under a scratch directory (its own `HOME` and
//! runtime directory, installed `--in-place`), so nothing outside it is touched; everything is
//! stopped and removed at the end, also after an error.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use duende_bench::{context_switches, median, scratch_dir, spawn_quiet, status_field, terminate, wait_ready};

const RUNS: usize = 15;
const IDLE: Duration = Duration::from_secs(10);

/// One natively installed service of `duende-idle`, in a directory of its own.
struct Service {
    dir: PathBuf,
}

impl Service {
    fn new(base: &Path, name: &str) -> Result<Service, String> {
        let dir = base.join(name);
        for sub in ["home", "run"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        }
        Ok(Service { dir })
    }

    fn cli(&self, binary: &Path, args: &[&str]) -> Result<Output, String> {
        Command::new(binary)
            .args(args)
            .args(["--platform", "native", "--user"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.join("home"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            // Root's runtime directory would be `/run/NAME`, one for all: each gets its own.
            .env("RUNTIME_DIRECTORY", self.dir.join("run"))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))
    }

    fn ok(&self, binary: &Path, args: &[&str]) -> Result<String, String> {
        let out = self.cli(binary, args)?;
        if !out.status.success() {
            return Err(format!(
                "`{} {}` failed ({}): {}{}",
                binary.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The supervisor's and the daemon's pids, from `status --json`.
    fn pids(&self, binary: &Path) -> Result<(u32, u32), String> {
        let text = self.ok(binary, &["status", "--json"])?;
        let number = |key: &str| -> Option<u32> {
            let at = text.find(key)? + key.len();
            let digits: String =
                text[at..].chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        match (number("\"supervisor_pid\":"), number("\"pid\":")) {
            (Some(supervisor), Some(daemon)) => Ok((supervisor, daemon)),
            _ => Err(format!("no pids in `status --json`: {text}")),
        }
    }
}

/// `field` (such as `Pss:`) of /proc/PID/smaps_rollup in KiB: what a process costs once the
/// pages it shares with others (the same binary's text) are divided among them.
fn rollup(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Private (clean plus dirty) memory of `pid` in KiB: what it alone holds.
fn private(pid: u32) -> u64 {
    rollup(pid, "Private_Clean:") + rollup(pid, "Private_Dirty:")
}

/// User plus system CPU time of `pid` in clock ticks (/proc/PID/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Starting the binary directly and waiting for its READY=1: the floor.
fn direct_start(binary: &Path, scratch: &Path) -> Result<Duration, String> {
    let socket_path = scratch.join("direct.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let mut command = Command::new(binary);
        command.env("RUNTIME_DIRECTORY", scratch.join("direct-run"));
        let started = Instant::now();
        let mut child = spawn_quiet(command, &socket_path)?;
        wait_ready(&socket, &child)?;
        times.push(started.elapsed());
        terminate(&child);
        let _ = child.wait();
        duende_bench::drain(&socket)?;
    }
    Ok(median(times))
}

fn run(binary: &Path, services: usize, base: &Path) -> Result<(), String> {
    println!("native supervision, {} (median of {RUNS} where timed)", binary.display());
    std::fs::create_dir_all(base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
    let floor = direct_start(binary, base)?;

    let one = Service::new(base, "one")?;
    one.ok(binary, &["install", "--in-place"])?;
    let mut starts = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        one.ok(binary, &["start"])?;
        starts.push(started.elapsed());
        one.ok(binary, &["stop"])?;
    }
    let start = median(starts);
    println!(
        "  start -> ready:          {} (direct spawn -> READY=1: {}; {:.2}x)",
        millis(start),
        millis(floor),
        start.as_secs_f64() / floor.as_secs_f64()
    );
    one.ok(binary, &["start"])?;
    let (supervisor, daemon) = one.pids(binary)?;
    std::thread::sleep(Duration::from_millis(500));
    let before = context_switches(supervisor);
    std::thread::sleep(IDLE);
    let wakeups = context_switches(supervisor) - before;
    println!("  idle supervisor:         {wakeups} wake-ups in {}s (target 0)", IDLE.as_secs());
    println!(
        "  resident memory:         supervisor {} KiB RSS ({} KiB private), its daemon {} KiB RSS ({} KiB private)",
        status_field(supervisor, "VmRSS:"),
        private(supervisor),
        status_field(daemon, "VmRSS:"),
        private(daemon)
    );
    one.ok(binary, &["stop"])?;
    one.ok(binary, &["uninstall"])?;

    println!("  {services} services, each with its own supervisor:");
    let many: Vec<Service> =
        (0..services).map(|i| Service::new(&base.join("many"), &format!("{i:04}"))).collect::<Result<_, _>>()?;
    for service in &many {
        service.ok(binary, &["install", "--in-place"])?;
    }
    let started = Instant::now();
    let mut pids = Vec::new();
    let result = (|| {
        for service in &many {
            service.ok(binary, &["start"])?;
        }
        Ok::<(), String>(())
    })();
    let start_all = started.elapsed();
    for service in &many {
        if let Ok(pair) = service.pids(binary) {
            pids.push(pair);
        }
    }
    if result.is_ok() {
        println!(
            "    started all in         {:.1} s ({} each)",
            start_all.as_secs_f64(),
            millis(start_all / u32::try_from(services.max(1)).unwrap_or(1))
        );
        std::thread::sleep(Duration::from_secs(1));
        let rss_supervisors: u64 = pids.iter().map(|(s, _)| status_field(*s, "VmRSS:")).sum();
        let rss_daemons: u64 = pids.iter().map(|(_, d)| status_field(*d, "VmRSS:")).sum();
        let pss_supervisors: u64 = pids.iter().map(|(s, _)| rollup(*s, "Pss:")).sum();
        let pss_daemons: u64 = pids.iter().map(|(_, d)| rollup(*d, "Pss:")).sum();
        let ticks = |pids: &[(u32, u32)]| pids.iter().map(|(s, d)| cpu_ticks(*s) + cpu_ticks(*d)).sum::<u64>();
        let before = ticks(&pids);
        std::thread::sleep(IDLE);
        let idle_ticks = ticks(&pids) - before;
        println!(
            "    resident memory (RSS): {} MiB supervisors + {} MiB daemons = {} MiB",
            rss_supervisors / 1024,
            rss_daemons / 1024,
            (rss_supervisors + rss_daemons) / 1024
        );
        println!(
            "    proportional (PSS):    {} MiB supervisors + {} MiB daemons = {} MiB (shared pages counted once)",
            pss_supervisors / 1024,
            pss_daemons / 1024,
            (pss_supervisors + pss_daemons) / 1024
        );
        println!(
            "    idle CPU over {}s:     {idle_ticks} clock ticks ({:.3}% of one CPU)",
            IDLE.as_secs(),
            idle_ticks as f64 / (IDLE.as_secs_f64() * 100.0) * 100.0
        );
    }
    let stopping = Instant::now();
    for service in &many {
        let _ = service.cli(binary, &["stop"]);
    }
    println!("    stopped all in         {:.1} s", stopping.elapsed().as_secs_f64());
    for service in &many {
        let _ = service.cli(binary, &["uninstall"]);
    }
    result
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut services = 1000;
    let mut binary = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--services" => services = args.next().and_then(|n| n.parse().ok()).unwrap_or(services),
            path => binary = Some(PathBuf::from(path)),
        }
    }
    let binary = binary
        .unwrap_or_else(|| std::env::current_exe().map(|exe| exe.with_file_name("duende-idle")).unwrap_or_default());
    let base = scratch_dir().join(format!("duende-bench-native-{}", std::process::id()));
    let result = run(&binary, services, &base);
    let _ = std::fs::remove_dir_all(&base);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("duende-bench-native: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
