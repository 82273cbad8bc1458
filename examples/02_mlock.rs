//! A swap-device style daemon: it holds a buffer that must never be paged out, so it requires
//! locked memory (`mlock = "required"`). Without CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK
//! it exits with status 71 before `init` runs, saying what to change.
//!
//! `sudo cargo run --example 02_mlock` runs it; it prints where its buffer is and VmLck (the
//! kernel's count of locked memory) after `init`, and VmLck again on SIGUSR1. The buffer's
//! mapping in `/proc/PID/smaps` then shows it locked: `Locked:` equal to `Rss:`.

use duende::prelude::*;
use serde::{Deserialize, Serialize};

/// The `[app]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwapConfig {
    /// Size of the page buffer in MiB.
    pub buffer_mib: usize,
}

impl Default for SwapConfig {
    fn default() -> Self {
        SwapConfig { buffer_mib: 16 }
    }
}

#[derive(Default)]
struct SwapDevice {
    pages: Vec<u8>,
}

/// The kernel's count of this process's locked memory, in KiB.
fn vm_lck_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmLck:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Daemon for SwapDevice {
    type Config = SwapConfig;

    fn validate(config: &SwapConfig) -> Result<(), Vec<Violation>> {
        if !(1..=4096).contains(&config.buffer_mib) {
            return Err(vec![Violation::new("buffer_mib", "must be between 1 and 4096")]);
        }
        Ok(())
    }

    async fn init(&mut self, ctx: &mut DaemonContext<SwapConfig>) -> Result<()> {
        // Touch every page: with MCL_FUTURE the kernel locks them as they are faulted in.
        self.pages = vec![0xA5; ctx.app().buffer_mib << 20];
        // The address, so the buffer's own mapping can be looked up in `/proc/PID/smaps`.
        println!(
            "init: buffer of {} MiB at {:p}, VmLck = {} kB",
            ctx.app().buffer_mib,
            self.pages.as_ptr(),
            vm_lck_kib().unwrap_or(0)
        );
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<SwapConfig>) -> Result<ExitReason> {
        loop {
            duende::tokio::select! {
                _ = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
                Some(event) = ctx.next_event() => {
                    if event == Event::User1 {
                        println!("VmLck = {} kB", vm_lck_kib().unwrap_or(0));
                    }
                }
            }
        }
    }
}

#[duende::main(name = "swapd", mlock = "required")]
fn main() -> SwapDevice {
    SwapDevice::default()
}
