//! WOS: the daemon built for wasm32-wasip1, run as a WASI module (DESIGN.md section 6).
//!
//! The module itself is the same daemon (`crate::wasi`); its stop path is the control protocol
//! on its standard input and output (`docs/control-protocol.md`). What lives here is the host's
//! side, in the host build of the same daemon:
//!
//! - [`capability`]: what a module may reach (`fs:read:/data`, `net:listen:127.0.0.1:8080`), the
//!   grammar of `platform.wos.capabilities` and of the manifest;
//! - [`manifest`](mod@manifest): the WOS process manifest (name, module and digest, priority,
//!   capabilities, memory limit, environment), rendered by a pure function and validated when
//!   read;
//! - [`engine_command`]: the `wasmtime run` command line a manifest stands for (pure);
//! - [`runner`] (Unix): `NAME __wos-run --manifest FILE`, what a host's manager supervises in the
//!   module's place where WOS is absent: it runs the engine, holds the module's standard input,
//!   relays its notices to `$NOTIFY_SOCKET`, serves the daemon's control socket, and exits with
//!   the module's status;
//! - [`backend`](mod@backend) (Unix): [`WosBackend`], `install --platform wos`.
//!
//! **Priority** (0 critical … 7 idle) becomes the host's scheduling where the host runs the
//! module: a nice value ([`nice`]), set by the runner on itself (and so on the engine it starts)
//! under any manager, and `Nice=` plus `CPUWeight=` ([`cpu_weight`]) in a systemd unit:
//!
//! | priority | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 |
//! |---|---|---|---|---|---|---|---|---|
//! | nice | -15 | -10 | -5 | -2 | 0 | 5 | 10 | 19 |
//! | CPUWeight | 1000 | 500 | 200 | 150 | 100 | 50 | 20 | 1 |
//!
//! Priority 4 is the host's default scheduling. Raising one above it (a negative nice) needs
//! `CAP_SYS_NICE`: a user's service runs at nice 0 instead, and the runner says so.

pub mod capability;
// The configuration's `[platform.wos]` is validated in every build; the rest is the backend's.
#[cfg(feature = "wos")]
pub mod manifest;

#[cfg(all(unix, feature = "wos"))]
pub mod backend;
#[cfg(all(unix, feature = "wos"))]
pub mod runner;

#[cfg(feature = "wos")]
use std::path::Path;

#[cfg(feature = "wos")]
use crate::platform::runner::Invocation;
#[cfg(all(unix, feature = "wos"))]
pub use backend::WosBackend;
#[cfg(feature = "wos")]
use capability::Capability;
#[cfg(feature = "wos")]
pub use manifest::Manifest;

/// The engine's program name, looked up on `PATH` when the manifest names none.
#[cfg(feature = "wos")]
pub const WASMTIME: &str = "wasmtime";

/// WOS's own tool, used where it exists.
#[cfg(feature = "wos")]
pub const WOS_CTL: &str = "wos-ctl";

/// The nice value for `priority` (see the module documentation); 0 for anything past 7.
#[cfg(feature = "wos")]
pub fn nice(priority: u8) -> i32 {
    const NICE: [i32; 8] = [-15, -10, -5, -2, 0, 5, 10, 19];
    NICE.get(usize::from(priority)).copied().unwrap_or(0)
}

/// systemd's `CPUWeight=` for `priority` (see the module documentation); 100 past 7.
#[cfg(feature = "wos")]
pub fn cpu_weight(priority: u8) -> u64 {
    const WEIGHT: [u64; 8] = [1000, 500, 200, 150, 100, 50, 20, 1];
    WEIGHT.get(usize::from(priority)).copied().unwrap_or(100)
}

/// `wasmtime run` for `manifest` with the engine `engine`: each directory capability a `--dir
/// PATH::PATH`, each listener a `-S tcplisten=ADDR`, each variable an `--env KEY=VALUE`, the
/// memory limit `-W max-memory-size=BYTES`, then the module and its arguments (everything after
/// the module is the module's). Outgoing connections (`net:connect`) have no flag: WASI preview
/// 1 cannot make them.
#[cfg(feature = "wos")]
pub fn engine_command(manifest: &Manifest, engine: &Path) -> Invocation {
    let mut args = vec!["run".to_owned()];
    for capability in manifest.parsed_capabilities() {
        match capability {
            Capability::Dir { path, .. } => {
                args.extend(["--dir".to_owned(), format!("{}::{}", path.display(), path.display())]);
            }
            Capability::Listen(addr) => args.extend(["-S".to_owned(), format!("tcplisten={addr}")]),
            Capability::Connect(_) => {}
        }
    }
    for (key, value) in &manifest.env {
        args.extend(["--env".to_owned(), format!("{key}={value}")]);
    }
    if let Some(bytes) = manifest.memory_bytes {
        args.extend(["-W".to_owned(), format!("max-memory-size={bytes}")]);
    }
    args.push(manifest.module.to_string_lossy().into_owned());
    args.extend(manifest.args.iter().cloned());
    Invocation { program: engine.to_string_lossy().into_owned(), args }
}
