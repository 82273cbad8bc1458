//! pepita: the daemon as PID 1 of its own microVM (DESIGN.md section 6).
//!
//! What exists so far is the VM bundle, the guest side and the host's end of vsock:
//! - [`gather()`] reads what a bundle is made of from the host (the binary and the libraries it
//!   links, the configuration, the guest kernel's modules), [`bundle::build`] makes the
//!   initramfs and the kernel command line from it, a pure function, with [`cpio`] writing the
//!   archive; [`qemu::command`] is the VMM's command line for it (with its vsock device), and
//!   [`qemu::probe_kvm`] says whether KVM can run it here;
//! - in the guest, the binary finds itself PID 1 with [`MARKER`] in its environment and does an
//!   init's job before it runs the daemon (`pid1`). It gives the daemon `$NOTIFY_SOCKET` at
//!   [`NOTIFY_SOCKET`] and relays every datagram, then the daemon's exit status, to the host over
//!   vsock ([`report`], to host port [`REPORT_PORT`]); it serves the daemon's control channel on
//!   vsock port [`CONTROL_PORT`], each connection passed through to the daemon's control socket;
//!   it fetches the host's configuration file (host port [`CONFIG_PORT`], [`config_port`]) before
//!   the daemon starts and before each `reload` it passes on;
//! - on the host, [`hybrid`] speaks Firecracker's hybrid vsock (QEMU with `vhost-device-vsock`,
//!   Firecracker, cloud-hypervisor): a listener for the guest's report, and `CONNECT` to the
//!   guest's control port, where the control protocol's client works as on a unix socket; and a
//!   listener that answers the guest with the host's configuration file.
//!
//! - [`runner`] is the program a host's manager supervises for a pepita daemon
//!   (`NAME __pepita-vm --bundle DIR`): it runs the vsock backend and QEMU, relays the guest's
//!   readiness to its own `$NOTIFY_SOCKET`, serves the daemon's control socket on the host, and
//!   exits with the guest daemon's status.
//!
//! - [`backend`](mod@backend): [`PepitaBackend`], `install --platform pepita`: the bundle directory
//!   and the runner, supervised by a systemd unit where systemd is the init and by duende's
//!   native supervisor elsewhere.

pub mod backend;
pub mod bundle;
pub mod config_port;
pub mod cpio;
mod gather;
pub mod hybrid;
pub mod modules;
pub mod qemu;
pub mod report;
pub mod runner;

use std::path::PathBuf;

use crate::config::platforms::Accel;
use crate::platform::runner::Invocation;

pub use backend::PepitaBackend;
pub use bundle::{Bundle, BundleSpec};
pub use config_port::CONFIG_PORT;
pub use gather::{Request, check_kernel, gather, modules_dir};
pub use report::REPORT_PORT;

/// The environment variable that marks a pepita guest, with the guest's vsock context id as its
/// value. The kernel command line sets it; detection reads it.
pub const MARKER: &str = "PEPITA_VSOCK_CID";

/// The daemon's command line in the guest, each word ended by a NUL.
pub const ARGV_FILE: &str = "/pepita/argv";

/// `KEY=VALUE` variables the daemon gets in the guest besides init's, each ended by a NUL.
pub const ENV_FILE: &str = "/pepita/env";

/// The kernel modules the guest loads, in order, each path ended by a NUL.
pub const MODULES_FILE: &str = "/pepita/modules";

/// Where the guest's init receives the daemon's sd_notify datagrams: the daemon's
/// `$NOTIFY_SOCKET` in the guest.
pub const NOTIFY_SOCKET: &str = "/run/duende/notify.sock";

/// The guest's vsock port where its init serves the daemon's control channel: each connection
/// is passed through to the daemon's control socket, so the host speaks the control protocol
/// (`docs/control-protocol.md`) over it as over the socket itself.
pub const CONTROL_PORT: u32 = 1025;

/// The guest's vsock context id when `vsock_cid = 0` ("pick one"): the first one a guest may
/// have (0-2 are the hypervisor, reserved and the host). Each VM gets a vsock backend of its own,
/// so guests on one host need not differ.
pub const DEFAULT_CID: u32 = 3;

/// How to get a guest kernel, for the messages that need one.
pub const HOW_TO_GET_A_KERNEL: &str = "`scripts/pepita-kernel` in duende's repository fetches Debian's cloud kernel \
     (`apt-get download` of the package `linux-image-cloud-amd64` depends on, unpacked with `dpkg -x`, nothing installed) \
     and prints the path to set";

/// Why a bundle cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PepitaError {
    /// `platform.pepita.kernel` is not set.
    #[error(
        "`platform.pepita.kernel` is not set: it names the guest kernel, a `.../boot/vmlinuz-VERSION` with its modules in `.../lib/modules/VERSION/`; {HOW_TO_GET_A_KERNEL}"
    )]
    NoKernel,
    /// The kernel file is missing or misnamed.
    #[error("`platform.pepita.kernel = \"{path}\"`: {reason}; {HOW_TO_GET_A_KERNEL}")]
    Kernel {
        /// The configured kernel.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel's modules cannot be found or resolved.
    #[error("the modules of `platform.pepita.kernel = \"{kernel}\"` in {dir}: {reason}")]
    Modules {
        /// The configured kernel.
        kernel: PathBuf,
        /// Its modules directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The binary cannot run in the guest.
    #[error("cannot put {path} in a VM bundle: {reason}")]
    Binary {
        /// The binary.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// KVM was asked for and cannot be used.
    #[error(transparent)]
    Accel(#[from] qemu::KvmUnusable),
    /// The initramfs cannot hold an entry.
    #[error(transparent)]
    Archive(#[from] cpio::BadEntry),
    /// The guest's memory cannot hold the initramfs.
    #[error(
        "`platform.pepita.memory_mb = {memory_mb}` is too small for this bundle: the kernel holds its {initramfs_mb} MiB \
         initramfs twice while it unpacks it (the archive and the files) and needs about {} MiB of its own; set at least \
         {minimum_mb} (a release build of the daemon makes a much smaller initramfs)",
        bundle::KERNEL_MB
    )]
    Memory {
        /// The configured memory.
        memory_mb: u64,
        /// The initramfs's size, rounded up.
        initramfs_mb: u64,
        /// The least memory it boots in.
        minimum_mb: u64,
    },
    /// A monitor other than QEMU was asked for.
    #[error(
        "`platform.pepita.vmm = \"{0}\"` is not supported yet: this version runs guests with QEMU's `microvm` \
         machine only (the host's vsock side already speaks Firecracker's hybrid protocol, but neither Firecracker nor \
         cloud-hypervisor is started by it); set `platform.pepita.vmm = \"qemu\"` or `\"auto\"`"
    )]
    Vmm(&'static str),
}

/// Reads what the bundle of `request` holds from `host` and builds it ([`gather()`], then
/// [`bundle::build`]); refuses a bundle the guest's memory cannot boot.
pub fn build(host: &crate::platform::Host, request: &Request<'_>) -> Result<Bundle, PepitaError> {
    let bundle = bundle::build(&gather(host, request)?)?;
    let initramfs_mb = bundle::mib(bundle.initramfs.len());
    let minimum_mb = bundle::minimum_memory_mb(bundle.initramfs.len());
    if bundle.memory_mb < minimum_mb {
        return Err(PepitaError::Memory { memory_mb: bundle.memory_mb, initramfs_mb, minimum_mb });
    }
    Ok(bundle)
}

/// What `--dry-run` shows of a bundle: the kernel, the initramfs's entries, the machine, the
/// kernel command line, and the VMM's command line.
pub fn describe(bundle: &Bundle, vmm: &Invocation) -> String {
    let mut text = format!("kernel: {}\n", bundle.kernel.display());
    text.push_str(&format!("initramfs: {} bytes, {} entries\n", bundle.initramfs.len(), bundle.listing.len()));
    for line in &bundle.listing {
        text.push_str(&format!("  {line}\n"));
    }
    let accel = if bundle.accel == Accel::Kvm { "kvm" } else { "tcg" };
    text.push_str(&format!(
        "machine: {} vCPU, {} MiB, vsock CID {}, {accel}\n",
        bundle.vcpus, bundle.memory_mb, bundle.vsock_cid
    ));
    text.push_str(&format!("kernel command line: {}\n", bundle.cmdline));
    if let Some((program, args)) = bundle.argv.split_first() {
        text.push_str(&format!("daemon: {}\n", Invocation::new(program, args.iter().map(String::as_str))));
    }
    for variable in &bundle.env {
        text.push_str(&format!("daemon environment: {}\n", Invocation::new(variable, None::<&str>)));
    }
    text.push_str(&format!("vmm: {vmm}\n"));
    text
}
