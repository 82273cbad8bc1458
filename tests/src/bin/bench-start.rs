//! `start` → ready of the same daemon (the probe) under native supervision and under systemd,
//! measured in one throwaway container (the root suites' sandbox: a real systemd as PID 1 of a
//! `systemd-nspawn` container over an overlay of `/`), median of 15 each, timed inside the
//! container so both pay the same command-line start-up. `scripts/bench-native` runs it after the
//! native figures when it runs as root; it needs what the root suites need.

use std::time::Duration;

use duende_tests::sandbox::{Systemd, show_output};

const RUNS: usize = 15;

/// Median of the nanosecond figures a loop inside the container printed, one a line.
fn median_ms(text: &str) -> Result<f64, String> {
    let mut values: Vec<u64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    if values.len() != RUNS {
        return Err(format!("expected {RUNS} timings, got:\n{text}"));
    }
    values.sort_unstable();
    Ok(values[values.len() / 2] as f64 / 1e6)
}

/// Times `start` (then `stop`, untimed) `RUNS` times inside the container.
fn time(sb: &Systemd, start: &str, stop: &str) -> Result<f64, String> {
    let script = format!(
        "for i in $(seq {RUNS}); do s=$(date +%s%N); {start} >/dev/null || exit 1; e=$(date +%s%N); \
         echo $((e - s)); {stop} >/dev/null || exit 1; done"
    );
    let out = sb.exec(&["sh", "-c", &script]);
    if !out.status.success() {
        return Err(format!("`{start}` failed:\n{}", show_output(&out)));
    }
    median_ms(&String::from_utf8_lossy(&out.stdout))
}

fn run() -> Result<(), String> {
    // The probe built beside this binary (the container sees the target directory at the same path).
    let probe = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("probe");
    let probe = probe.display();
    let sb = Systemd::boot("bench-start").map_err(|e| format!("{e:#}"))?;
    let cli = |platform: &str, args: &str| format!("{probe} {args} --platform {platform}");
    for platform in ["native", "systemd"] {
        let out = sb.exec(&["sh", "-c", &cli(platform, "install")]);
        if !out.status.success() {
            return Err(format!("install --platform {platform} failed:\n{}", show_output(&out)));
        }
    }
    let native = time(&sb, &cli("native", "start"), &cli("native", "stop"))?;
    let systemd = time(&sb, &cli("systemd", "start"), &cli("systemd", "stop"))?;
    let bare = time(&sb, "systemctl start probe.service", "systemctl stop probe.service")?;
    println!("start -> ready of the probe in one container, median of {RUNS}:");
    println!("  probe start --platform native:    {native:.2} ms");
    println!("  probe start --platform systemd:   {systemd:.2} ms ({:.2}x native)", systemd / native);
    println!("  systemctl start probe.service:    {bare:.2} ms (what systemd alone takes)");
    for platform in ["native", "systemd"] {
        let _ = sb.exec(&["sh", "-c", &cli(platform, "uninstall")]);
    }
    let halted = sb.halt();
    if halted > Duration::from_secs(30) {
        eprintln!("note: the container took {halted:?} to halt");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-start: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
