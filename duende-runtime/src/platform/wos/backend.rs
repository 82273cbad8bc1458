//! [`WosBackend`]: `install --platform wos`, run from the host build of the daemon, given the
//! module (`platform.wos.module`, the same daemon built for wasm32-wasip1).
//!
//! Where WOS itself is absent (`wos-ctl` not on `PATH`, or `runtime = "wasmtime"`) the module runs
//! under the wasmtime engine, supervised by the host's manager: systemd where systemd is the init
//! ([`systemd_booted`]), duende's native supervisor elsewhere. The manager runs the WOS runner
//! (`NAME __wos-run --manifest FILE`, [`super::runner`]) in the daemon's place ([`Hosted`]), and
//! the plan is the manager's own (binary, configuration, its definition) plus, in
//!
//! | level  | directory                              |
//! |--------|----------------------------------------|
//! | system | `/var/lib/NAME/wos/`                   |
//! | user   | `$XDG_STATE_HOME/NAME/wos/` (`~/.local/state/NAME/wos/` without it) |
//!
//! `NAME.wasm` (a copy of the module: a changed one is `module` drift) and `NAME.wos.toml`, the
//! manifest ([`super::manifest`]: `manifest` drift), which records the module's digest, the
//! priority, the capabilities (the installed configuration's directory is added, read-only, and
//! the module gets `--config` with that file), the memory limit (`resources.memory_bytes`), the
//! environment (`env` and the installer's `NAME_*`) and the engine's absolute path as `install`
//! found it on `PATH`.
//!
//! The priority becomes the runner's nice value and, in a unit, `Nice=` and `CPUWeight=`
//! (see [`super`]). The engine compiles the module's code at run time: a unit allows writable
//! executable memory. `reload` goes through the runner's control socket and reports the
//! module's verdict; everything else goes through the manager.
//!
//! `runtime = "wos-ctl"` asks for WOS itself: without `wos-ctl` on `PATH` that is an error
//! naming it; with it, this version says it cannot drive it yet (WOS's tool has no interface
//! published to drive) rather than pretend. `auto` uses wasmtime, with a note when `wos-ctl`
//! is there.

use std::path::{Path, PathBuf};

use super::manifest::{self, Manifest};
use super::{WASMTIME, WOS_CTL, cpu_weight, nice};
use crate::config::platforms::WasiRuntime;
use crate::platform::Platform;
use crate::platform::backend::{Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service};
use crate::platform::detect::systemd_booted;
use crate::platform::finding::{Finding, Mark};
use crate::platform::host::Host;
use crate::platform::layout::{Places, home};
use crate::platform::native::NativeBackend;
use crate::platform::plan::{Action, FileRole, Found, Hosted, Manifest as Record, Plan, PlannedFile, Retirement};
use crate::platform::runner::{Invocation, SystemRunner};
use crate::platform::systemd::SystemdBackend;

/// The WOS backend on a host.
#[derive(Debug)]
pub struct WosBackend {
    manager: Manager,
}

#[derive(Debug)]
enum Manager {
    Systemd(SystemdBackend),
    Native(NativeBackend),
}

/// The directory of `name`'s module and manifest at `level` on `host`.
pub fn module_dir(host: &Host, name: &str, level: Level) -> Result<PathBuf, BackendError> {
    let state = match level {
        Level::System => PathBuf::from("/var/lib"),
        Level::User => host.state_home().map_or_else(|| home(host).map(|h| h.join(".local/state")), Ok)?,
    };
    Ok(state.join(name).join("wos"))
}

/// The manifest's path in `dir`.
pub fn manifest_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.wos.toml"))
}

/// The runner a manager runs for the manifest at `manifest` (`__wos-run --manifest FILE`), and
/// what it asks of a manager: the engine at `engine` (a sandbox must not hide it), writable
/// executable memory (the engine compiles the module's code), the scheduling of `priority` and
/// the directories in `writable` (its `fs:write` capabilities). Its files are added by the plan.
pub fn runner_hosted(manifest: &Path, engine: &Path, priority: u8, writable: Vec<PathBuf>) -> Hosted {
    Hosted {
        command: vec!["__wos-run".to_owned(), "--manifest".to_owned(), manifest.to_string_lossy().into_owned()],
        files: Vec::new(),
        needs: vec![("WASI engine", engine.to_path_buf())],
        jit: true,
        devices: Vec::new(),
        nice: Some(nice(priority)),
        cpu_weight: Some(cpu_weight(priority)),
        writable,
    }
}

fn engine_missing() -> BackendError {
    BackendError::Unavailable {
        what: format!(
            "`{WASMTIME}` is not in PATH; the wos backend runs the module with the wasmtime engine where WOS is absent"
        ),
        fix: "install the wasmtime CLI (`cargo install --locked wasmtime-cli`, or a release from \
              https://github.com/bytecodealliance/wasmtime/releases) and put it in PATH"
            .to_owned(),
    }
}

fn wos_ctl_missing() -> BackendError {
    BackendError::Unavailable {
        what: format!("`platform.wos.runtime = \"wos-ctl\"` asks for WOS, but `{WOS_CTL}` is not in PATH"),
        fix: "run on WOS, or set `platform.wos.runtime = \"wasmtime\"` (or `\"auto\"`) to run the module under the \
              wasmtime engine supervised by this host's manager"
            .to_owned(),
    }
}

impl WosBackend {
    /// The backend on `host`: the runner is a systemd unit where systemd is the init, and run by
    /// duende's native supervisor elsewhere.
    pub fn new(host: Host) -> WosBackend {
        let manager = if systemd_booted(&host) {
            Manager::Systemd(SystemdBackend::new(SystemRunner, host))
        } else {
            Manager::Native(NativeBackend::supervising_for(Platform::Wos, host))
        };
        WosBackend { manager }
    }

    fn manager(&self) -> &dyn Backend {
        match &self.manager {
            Manager::Systemd(systemd) => systemd,
            Manager::Native(native) => native,
        }
    }

    /// The runtime `configured` resolves to here: wasmtime, or an error for WOS's own tool.
    fn runtime(&self, configured: WasiRuntime) -> Result<Option<String>, BackendError> {
        let wos_ctl = self.host().find_tool(WOS_CTL);
        match (configured, wos_ctl) {
            (WasiRuntime::WosCtl, None) => Err(wos_ctl_missing()),
            (WasiRuntime::WosCtl, Some(path)) => Err(BackendError::NotSupported {
                platform: Platform::Wos,
                what: format!(
                    "register the module with `{}` yet (this version runs WOS modules under wasmtime only); set \
                     `platform.wos.runtime = \"wasmtime\"`",
                    path.display()
                ),
            }),
            (WasiRuntime::Auto, Some(path)) => Ok(Some(format!(
                "note: `{WOS_CTL}` is {}, but this version does not drive it yet: the module runs under wasmtime, \
                 supervised by this host's manager",
                path.display()
            ))),
            (WasiRuntime::Auto | WasiRuntime::Wasmtime, _) => Ok(None),
        }
    }

    /// The module, the manifest and the runner's command for `request`.
    fn hosted(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        notes: &mut Vec<String>,
    ) -> Result<Hosted, BackendError> {
        let host = self.host();
        let settings = request.settings;
        let wos = &settings.platform.wos;
        notes.extend(self.runtime(wos.runtime)?);
        let source = wos.module.as_deref().ok_or_else(|| {
            BackendError::Render(
                "`platform.wos.module` is not set: build the daemon for WOS (`cargo build --release --target \
                 wasm32-wasip1`) and set it to the absolute path of the `.wasm` it makes"
                    .to_owned(),
            )
        })?;
        let bytes = crate::platform::engine::read_source(&host.path(source))?;
        if !bytes.starts_with(b"\0asm") {
            return Err(BackendError::Render(format!(
                "`platform.wos.module = \"{}\"` is not a WebAssembly module (it does not start with `\\0asm`); set it \
                 to the `.wasm` that `cargo build --target wasm32-wasip1` makes",
                source.display()
            )));
        }
        let found = host.find_tool(WASMTIME).ok_or_else(engine_missing)?;
        let engine = std::path::absolute(&found).map_err(|source| BackendError::Io { path: found.clone(), source })?;
        let dir = module_dir(host, service.name, service.level)?;
        let module = dir.join(format!("{}.wasm", service.name));
        let config = Places::of(host, service.name, service.level)?.config;

        let mut args = Vec::new();
        let mut capabilities = wos.capabilities.clone();
        if request.config_file.is_some() {
            args.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
            if let Some(config_dir) = config.parent() {
                let granted = format!("fs:read:{}", config_dir.display());
                if !capabilities.contains(&granted) {
                    capabilities.insert(0, granted);
                }
            }
        }
        for set in request.sets {
            args.extend(["--set".to_owned(), set.clone()]);
        }
        args.push("run".to_owned());
        if !settings.args.is_empty() {
            args.push("--".to_owned());
            args.extend(settings.args.iter().cloned());
        }
        let manifest = Manifest {
            name: service.name.to_owned(),
            module: module.clone(),
            digest: manifest::digest_of(&bytes),
            priority: wos.priority,
            args,
            capabilities,
            memory_bytes: settings.resources.memory_bytes,
            shutdown_timeout_ms: u64::try_from(settings.shutdown_timeout.as_millis()).unwrap_or(u64::MAX),
            wasmtime: Some(engine.clone()),
            env: settings
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(request.overrides.iter().cloned())
                .collect(),
        };
        let problems = manifest.problems();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|p| format!("`{}` {}", p.key, p.problem)).collect();
            return Err(BackendError::Render(format!("the WOS manifest cannot be written: {}", text.join("; "))));
        }
        for capability in manifest.parsed_capabilities() {
            match capability {
                super::capability::Capability::Connect(addr) => notes.push(format!(
                    "warning: `net:connect:{addr}` is recorded in the manifest for WOS, but WASI preview 1 under \
                     wasmtime cannot open outgoing connections: the module gets none"
                )),
                super::capability::Capability::Dir { path, write: false } => notes.push(format!(
                    "note: wasmtime's `--dir` lets the module write in {} too: `fs:read` is recorded for WOS, not \
                     enforced on this host",
                    path.display()
                )),
                _ => {}
            }
        }
        let text = manifest::render(&manifest, "").map_err(|err| BackendError::Render(err.to_string()))?;
        let path = manifest_path(&dir, service.name);
        let files = vec![
            PlannedFile {
                path: module,
                shown: format!("(a copy of {}, {} bytes, {})", source.display(), bytes.len(), manifest.digest),
                contents: bytes,
                mode: 0o644,
                role: FileRole::Module,
            },
            PlannedFile::text(path.clone(), text, 0o644, FileRole::WosManifest),
        ];
        let writable = manifest
            .parsed_capabilities()
            .into_iter()
            .filter_map(|capability| match capability {
                super::capability::Capability::Dir { path, write: true } => Some(path),
                _ => None,
            })
            .collect();
        Ok(Hosted { files, ..runner_hosted(&path, &engine, wos.priority, writable) })
    }
}

impl Backend for WosBackend {
    fn platform(&self) -> Platform {
        Platform::Wos
    }

    fn host(&self) -> &Host {
        self.manager().host()
    }

    fn available(&self, level: Level) -> Result<(), BackendError> {
        self.manager().available(level)?;
        self.host().find_tool(WASMTIME).ok_or_else(engine_missing).map(drop)
    }

    fn diagnose(&self, level: Level) -> Vec<Finding> {
        const SECTION: &str = "service manager";
        let host = self.host();
        let mut found = vec![Finding::new(
            SECTION,
            Mark::Ok,
            match &self.manager {
                Manager::Systemd(_) => {
                    "wos: WOS is not here; systemd is the init: the module's runner is a systemd unit"
                }
                Manager::Native(_) => "wos: WOS is not here; duende's own supervisor runs the module's runner",
            },
            None,
        )];
        found.push(match host.find_tool(WASMTIME) {
            Some(path) => Finding::new(
                SECTION,
                Mark::Ok,
                format!("wos: the WASI engine `{WASMTIME}` is {}", path.display()),
                None,
            ),
            None => match engine_missing() {
                BackendError::Unavailable { what, fix } => Finding::new(SECTION, Mark::Problem, what, Some(fix)),
                other => Finding::new(SECTION, Mark::Problem, other.to_string(), None),
            },
        });
        if let Some(path) = host.find_tool(WOS_CTL) {
            found.push(Finding::new(
                SECTION,
                Mark::Warn,
                format!(
                    "wos: `{WOS_CTL}` is {}, but this version does not drive it: modules run under wasmtime",
                    path.display()
                ),
                None,
            ));
        }
        for degraded in [
            "wos: under wasmtime, `fs:read` capabilities are granted read and write alike (`--dir` has no read-only mode)",
            "wos: under wasmtime, `net:connect` capabilities grant nothing (WASI preview 1 cannot connect out)",
            "wos: in the module there are no signals (stop, reload and status go through its standard input), no \
             threads, no memory locking and no metrics listener",
        ] {
            found.push(Finding::new(SECTION, Mark::Warn, degraded, None));
        }
        found.extend(self.manager().diagnose(level).into_iter().filter(|finding| finding.mark != Mark::Ok));
        found
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        self.manager().found(service)
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Record,
    ) -> Result<Plan, BackendError> {
        for (key, value) in [("user", &request.settings.user), ("group", &request.settings.group)] {
            if value.is_some() {
                return Err(BackendError::Render(format!(
                    "`{key}` is set, but a WOS module's runner runs as the user who installs it; unset `{key}`"
                )));
            }
        }
        let mut notes = Vec::new();
        let hosted = self.hosted(service, request, &mut notes)?;
        let mut plan = match &self.manager {
            Manager::Systemd(systemd) => systemd.plan_hosting(service, request, previous, hosted)?,
            Manager::Native(native) => native.plan_hosting(service, request, previous, hosted)?,
        };
        if service.level == Level::User && nice(request.settings.platform.wos.priority) < 0 {
            notes.push(format!(
                "note: priority {} asks for a nice value below 0, which a user's service cannot take: it runs at the \
                 default priority (install with `--system` for more)",
                request.settings.platform.wos.priority
            ));
        }
        plan.notes.extend(notes);
        Ok(plan)
    }

    fn verify(
        &self,
        service: &Service<'_>,
        file: &PlannedFile,
        dry_run: bool,
    ) -> Result<Option<Invocation>, BackendError> {
        self.manager().verify(service, file, dry_run)
    }

    fn retire(&self, service: &Service<'_>, observed: &Observed) -> Result<Retirement, BackendError> {
        let mut retirement = self.manager().retire(service, observed)?;
        // Inside the data directory (the supervisor's log directory, systemd's state directory):
        // emptied first, so that one is not kept "for its data" only because of it.
        retirement.data_dirs.insert(0, module_dir(self.host(), service.name, service.level)?);
        Ok(retirement)
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let mut observed = self.manager().observe(service)?;
        observed.status.platform = Platform::Wos;
        Ok(observed)
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        if op != Op::Reload {
            return self.manager().act(service, op, dry_run);
        }
        crate::platform::backend::reload_through(self.manager(), service, "the module", dry_run)
    }

    fn run_step(&self, service: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        self.manager().run_step(service, step)
    }

    fn restore(&self, service: &Service<'_>, was_running: bool) {
        self.manager().restore(service, was_running);
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        self.manager().log_tail(service)
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        self.manager().logs(service, query, out)
    }

    fn control_socket(&self, service: &Service<'_>) -> Option<PathBuf> {
        self.manager().control_socket(service)
    }
}
