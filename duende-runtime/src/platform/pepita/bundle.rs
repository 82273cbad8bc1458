//! The VM bundle: what a VMM needs to boot the daemon as the guest's PID 1. A pure function from
//! its parts (the binary, the libraries it links, the configuration, the kernel's modules, the
//! daemon's command line) to the initramfs bytes, their listing for `--dry-run`, and the kernel
//! command line.
//!
//! The initramfs is one uncompressed newc cpio archive (the kernel unpacks it as is; compressing
//! would save memory only until it is unpacked, and would add a compressor to keep deterministic):
//!
//! - `/init`: the daemon's binary; the kernel runs it as PID 1. Its loader and libraries sit at
//!   the paths it names them by (a dynamically linked glibc binary finds them there without
//!   `/etc/ld.so.cache`).
//! - `/etc/NAME/NAME.toml`: the configuration, passed with `--config`. At boot the guest's init
//!   replaces it with the host's installed file, fetched over vsock (`config_port`), and does so
//!   again before each reload: this copy is what the guest runs when the host cannot be asked.
//! - `/lib/modules/VERSION/...`: the kernel modules the guest loads, and `/pepita/modules`
//!   listing them in load order.
//! - `/pepita/argv`, `/pepita/env`: the daemon's command line and its extra environment, each
//!   string ended by a NUL. The kernel command line cannot carry them: it splits on spaces and
//!   has no way to escape a quote.
//! - `/dev/console` (so the kernel can open init's standard streams before `/dev` is mounted) and
//!   the mount points `/proc`, `/sys`, `/dev`, `/run`, `/tmp`.
//!
//! The kernel command line sends the console to the first serial port, keeps the kernel quiet,
//! and makes a kernel panic reboot at once (`panic=-1`: with QEMU's `-no-reboot` the VMM then
//! exits instead of hanging). Under TCG it also pins the TSC (`tsc_early_khz=2000000
//! tsc=reliable`): without it about one boot in three hangs for good calibrating the TSC against a
//! PIT that QEMU's `microvm` machine does not have. Last comes the pepita marker
//! `PEPITA_VSOCK_CID=CID`: the kernel passes a `KEY=VALUE` parameter it does not know to init as
//! an environment variable, which is how the binary, as PID 1, knows it is a pepita guest and
//! how its daemon inherits the marker detection looks for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::cpio::{BadEntry, Cpio};
use super::{ARGV_FILE, ENV_FILE, MARKER, MODULES_FILE};
use crate::config::platforms::Accel;

/// Where the binary lives in the guest: the kernel runs `/init`.
pub const INIT: &str = "/init";

/// Everything a bundle is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSpec {
    /// The daemon's name.
    pub name: String,
    /// The binary.
    pub binary: Vec<u8>,
    /// The loader and libraries: path in the guest → content.
    pub libraries: BTreeMap<PathBuf, Vec<u8>>,
    /// The configuration file, installed at `/etc/NAME/NAME.toml`.
    pub config: Option<Vec<u8>>,
    /// The guest kernel.
    pub kernel: PathBuf,
    /// Its version: the name of its modules directory.
    pub kernel_version: String,
    /// The modules to load, in order: path relative to the modules directory → content.
    pub modules: Vec<(String, Vec<u8>)>,
    /// The daemon's command line, program name first.
    pub argv: Vec<String>,
    /// `KEY=VALUE` environment the daemon gets on top of what the kernel gives init.
    pub env: Vec<String>,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub memory_mb: u64,
    /// The guest's vsock context id.
    pub vsock_cid: u32,
    /// How the VMM runs the guest (`Auto` counts as TCG: resolve it first).
    pub accel: Accel,
}

/// A built bundle: the initramfs plus what the VMM is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The daemon's name.
    pub name: String,
    /// The guest kernel.
    pub kernel: PathBuf,
    /// The initramfs (an uncompressed newc cpio archive).
    pub initramfs: Vec<u8>,
    /// The initramfs's entries, one line each (what `--dry-run` shows).
    pub listing: Vec<String>,
    /// The kernel command line.
    pub cmdline: String,
    /// The daemon's command line in the guest (in `/pepita/argv`).
    pub argv: Vec<String>,
    /// The daemon's extra environment in the guest (in `/pepita/env`).
    pub env: Vec<String>,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub memory_mb: u64,
    /// The guest's vsock context id.
    pub vsock_cid: u32,
    /// How the VMM runs the guest.
    pub accel: Accel,
}

/// The memory the guest kernel needs besides the initramfs, in MiB: measured with Debian 12's
/// cloud kernel (6.1) under QEMU `microvm`, where a 95 MiB initramfs failed to unpack in 320 MiB
/// ("Initramfs unpacking failed: write error", then a panic: no init) and booted in 336 MiB.
pub const KERNEL_MB: u64 = 160;

/// `bytes` in MiB, rounded up.
pub fn mib(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX).div_ceil(1 << 20)
}

/// The least guest memory, in MiB, that boots an initramfs of `bytes`: the kernel holds it twice
/// while it unpacks it (the archive, and the files in the root file system), plus its own.
pub fn minimum_memory_mb(bytes: usize) -> u64 {
    mib(bytes).saturating_mul(2).saturating_add(KERNEL_MB)
}

/// The path of the configuration file in the guest: where the container image has it.
pub use crate::platform::container::image::config_path;

/// The daemon's command line in the guest: `NAME [--config FILE] [--set K=V]... run [-- ARGS]`,
/// the container image's command after the program's name.
pub fn daemon_argv(name: &str, has_config: bool, sets: &[String], args: &[String]) -> Vec<String> {
    let mut argv = vec![name.to_owned()];
    argv.extend(crate::platform::container::spec::daemon_command(name, has_config, sets, args));
    argv
}

/// The kernel command line for a guest with vsock context id `cid` run with `accel`.
pub fn cmdline(cid: u32, accel: Accel) -> String {
    let mut words = vec!["console=ttyS0".to_owned(), "quiet".to_owned(), "panic=-1".to_owned()];
    if accel != Accel::Kvm {
        words.extend(["tsc_early_khz=2000000".to_owned(), "tsc=reliable".to_owned()]);
    }
    words.push(format!("{MARKER}={cid}"));
    words.join(" ")
}

/// Strings each ended by a NUL: how `/pepita/argv`, `/pepita/env` and `/pepita/modules` hold
/// them. `None` when a string contains a NUL itself.
pub fn nul_list(items: &[String]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for item in items {
        if item.as_bytes().contains(&0) {
            return None;
        }
        out.extend_from_slice(item.as_bytes());
        out.push(0);
    }
    Some(out)
}

/// Builds the bundle.
pub fn build(spec: &BundleSpec) -> Result<Bundle, BadEntry> {
    let mut cpio = Cpio::new();
    let nul = |path: &str, items: &[String]| {
        nul_list(items).ok_or_else(|| BadEntry(path.to_owned(), "one of its strings contains a NUL byte"))
    };
    cpio.file(INIT, 0o755, spec.binary.clone())?;
    for (path, bytes) in &spec.libraries {
        cpio.file(&path.to_string_lossy(), 0o755, bytes.clone())?;
    }
    if let Some(config) = &spec.config {
        cpio.file(&config_path(&spec.name), 0o644, config.clone())?;
    }
    let modules_dir = format!("/lib/modules/{}", spec.kernel_version);
    let mut load = Vec::new();
    for (path, bytes) in &spec.modules {
        let at = format!("{modules_dir}/{path}");
        cpio.file(&at, 0o644, bytes.clone())?;
        load.push(at);
    }
    cpio.file(MODULES_FILE, 0o644, nul(MODULES_FILE, &load)?)?;
    cpio.file(ARGV_FILE, 0o644, nul(ARGV_FILE, &spec.argv)?)?;
    cpio.file(ENV_FILE, 0o644, nul(ENV_FILE, &spec.env)?)?;
    cpio.char_device("/dev/console", 0o600, 5, 1)?;
    for dir in ["/proc", "/sys"] {
        cpio.dir(dir, 0o555)?;
    }
    cpio.dir("/run", 0o755)?;
    cpio.dir("/tmp", 0o1777)?;
    Ok(Bundle {
        name: spec.name.clone(),
        kernel: spec.kernel.clone(),
        initramfs: cpio.finish(),
        listing: cpio.listing(),
        cmdline: cmdline(spec.vsock_cid, spec.accel),
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        vcpus: spec.vcpus,
        memory_mb: spec.memory_mb,
        vsock_cid: spec.vsock_cid,
        accel: spec.accel,
    })
}

#[cfg(test)]
mod tests;
