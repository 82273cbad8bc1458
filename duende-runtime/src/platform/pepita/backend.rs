//! [`PepitaBackend`]: `install --platform pepita`. The daemon runs as PID 1 of a microVM; on the
//! host its stand-in is the VM runner (`NAME __pepita-vm --bundle DIR`, [`super::runner`]), which
//! the host's manager supervises like any daemon: it reports readiness, serves the daemon's
//! control socket and exits with the guest daemon's status.
//!
//! The manager is systemd where systemd is the init ([`systemd_booted`]), duende's native
//! supervisor everywhere else. The plan is that manager's own (binary, configuration, and its
//! definition: the unit `NAME.service`, or the supervisor's `NAME.pepita.toml`) with the runner
//! as the command run in the daemon's place ([`Hosted`]) and the bundle directory beside it:
//!
//! | level  | bundle directory                    |
//! |--------|-------------------------------------|
//! | system | `/var/lib/NAME/pepita/`             |
//! | user   | `$XDG_STATE_HOME/NAME/pepita/` (`~/.local/state/NAME/pepita/` without it) |
//!
//! holding `initramfs` (the binary, its libraries, the guest's modules and a copy of the
//! configuration, which the guest falls back on when the host cannot hand it the installed file:
//! any change to it is `bundle` drift, beside the `binary` or `config` drift of its cause; an
//! edit of the installed configuration, which the guest reads at boot and at reload, is `bundle`
//! drift alone), `vmlinuz` (a copy of `platform.pepita.kernel`, so that
//! the bundle boots whatever happens to the configured file and a changed kernel is kernel
//! drift) and `vm.json` (the machine, [`super::runner::Description`], with the vsock backend's
//! absolute path as `install` found it on `PATH`, so a manager's own `PATH` need not have it).
//! The bundle is state, not configuration: it is rebuilt from the binary and the configuration
//! by every `install`.
//!
//! Under systemd the unit is the daemon's ([`UnitSpec::hosting`](crate::platform::systemd::UnitSpec::hosting)):
//! `Type=notify` with the guest's notifications relayed by the runner, the restart policy, and
//! the sandbox minus what QEMU cannot run in: writable executable memory is allowed (TCG
//! compiles the guest's code), and under KVM `/dev/kvm` is the one device node beside the pseudo
//! devices. `TimeoutStopSec=` is `shutdown_timeout` + 5 s; the runner kills QEMU at
//! `shutdown_timeout` + [`runner::STOP_MARGIN`], before that.
//!
//! Every operation and `status` go through the manager, and `status` reaches the guest daemon
//! through the runner's control socket. `logs` shows the runner's output, the guest's console
//! supervisor, and the unit's journal (what the runner says) under systemd.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Request, hybrid, qemu, runner};
use crate::config::platforms::Accel;
use crate::platform::Platform;
use crate::platform::backend::{Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service};
use crate::platform::detect::systemd_booted;
use crate::platform::finding::{Finding, Mark};
use crate::platform::host::Host;
use crate::platform::layout::home;
use crate::platform::native::NativeBackend;
use crate::platform::plan::{Action, FileRole, Found, Hosted, Manifest, Plan, PlannedFile, Retirement};
use crate::platform::runner::{Invocation, SystemRunner};
use crate::platform::systemd::SystemdBackend;

/// The guest kernel's copy in the bundle directory.
pub const KERNEL: &str = "vmlinuz";

/// The `PATH` systemd gives its services (for a warning when QEMU is elsewhere).
const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The pepita backend on a host.
#[derive(Debug)]
pub struct PepitaBackend {
    manager: Manager,
}

/// The host's manager the runner is installed with.
#[derive(Debug)]
enum Manager {
    /// A systemd unit.
    Systemd(SystemdBackend),
    /// duende's native supervisor.
    Native(NativeBackend),
}

/// The bundle directory of `name` at `level` on `host`.
pub fn bundle_dir(host: &Host, name: &str, level: Level) -> Result<PathBuf, BackendError> {
    let state = match level {
        Level::System => PathBuf::from("/var/lib"),
        Level::User => host.state_home().map_or_else(|| home(host).map(|h| h.join(".local/state")), Ok)?,
    };
    Ok(state.join(name).join("pepita"))
}

/// The runner a manager runs for the bundle in `dir`: `__pepita-vm --bundle DIR`, and what a
/// sandbox must allow it: the vsock backend program at `vsock_backend`, writable executable
/// memory (QEMU's TCG compiles the guest's code; QEMU is not counted on to do without it under
/// KVM either), and under KVM the device `/dev/kvm`. Its files are added by the plan.
pub fn runner_hosted(dir: &Path, accel: Accel, vsock_backend: &Path) -> Hosted {
    Hosted {
        command: vec!["__pepita-vm".to_owned(), "--bundle".to_owned(), dir.to_string_lossy().into_owned()],
        files: Vec::new(),
        needs: vec![("vsock backend", vsock_backend.to_path_buf())],
        jit: true,
        devices: if accel == Accel::Kvm { vec![PathBuf::from("/dev/kvm")] } else { Vec::new() },
        ..Hosted::default()
    }
}

fn qemu_missing() -> BackendError {
    BackendError::Unavailable {
        what: format!("`{}` is not in PATH; the pepita backend runs the VM with it", qemu::PROGRAM),
        fix: "install the apt package `qemu-system-x86` (`apt-get install qemu-system-x86`)".to_owned(),
    }
}

fn vsock_backend_missing() -> BackendError {
    BackendError::Unavailable {
        what: format!("`{}` is not in PATH; the pepita backend gives the VM its vsock with it", hybrid::BACKEND),
        fix: "install the crate `vhost-device-vsock` (`cargo install --locked vhost-device-vsock`) and put it in PATH"
            .to_owned(),
    }
}

impl PepitaBackend {
    /// The backend on `host`: the runner is a systemd unit where systemd is the init, and run by
    /// duende's native supervisor elsewhere.
    pub fn new(host: Host) -> PepitaBackend {
        let manager = if systemd_booted(&host) {
            Manager::Systemd(SystemdBackend::new(SystemRunner, host))
        } else {
            Manager::Native(NativeBackend::supervising_for(Platform::Pepita, host))
        };
        PepitaBackend { manager }
    }

    /// The platform of the manager that runs the VM runner: systemd or native.
    pub fn manager_platform(&self) -> Platform {
        match &self.manager {
            Manager::Systemd(_) => Platform::Systemd,
            Manager::Native(_) => Platform::Native,
        }
    }

    fn manager(&self) -> &dyn Backend {
        match &self.manager {
            Manager::Systemd(systemd) => systemd,
            Manager::Native(native) => native,
        }
    }

    /// `reload` through the runner's control socket, under either manager: the guest fetches the
    /// installed configuration and its daemon answers with its verdict, which is the command's
    /// (a rejection names the daemon's reason). The manager still sees the reload, through the
    /// `RELOADING=1` and `READY=1` the runner relays; SIGHUP to the runner (`systemctl reload`)
    /// does the same without the verdict.
    fn reload(&self, service: &Service<'_>, dry_run: bool) -> Result<Action, BackendError> {
        crate::platform::backend::reload_through(self.manager(), service, "the guest's daemon", dry_run)
    }

    /// The bundle's files and the runner's command for `request`.
    fn hosted(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Hosted, BackendError> {
        let host = self.host();
        let settings = request.settings;
        let dir = bundle_dir(host, service.name, service.level)?;
        let found = host.find_tool(hybrid::BACKEND).ok_or_else(vsock_backend_missing)?;
        let vsock_backend =
            std::path::absolute(&found).map_err(|source| BackendError::Io { path: found.clone(), source })?;
        let env: BTreeMap<String, String> =
            settings.env.iter().map(|(k, v)| (k.clone(), v.clone())).chain(request.overrides.iter().cloned()).collect();
        let wanted = Request {
            name: service.name,
            binary: request.binary,
            config: request.config_file,
            sets: request.sets,
            args: &settings.args,
            env: &env,
            settings: &settings.platform.pepita,
        };
        let mut bundle = super::build(host, &wanted).map_err(|err| BackendError::Render(err.to_string()))?;
        let configured = bundle.kernel.clone();
        let kernel = crate::platform::engine::read_source(&host.path(&configured))?;
        bundle.kernel = dir.join(KERNEL);
        let description = runner::Description::of(&bundle, settings.shutdown_timeout, Some(vsock_backend.clone()));
        let json = runner::render(&description).map_err(|err| BackendError::Render(err.to_string()))?;
        let runtime_dir = host.runtime_dir(service.name);
        let vmm = runner::vmm_command(&description, &dir, &runtime_dir);
        let files = vec![
            PlannedFile {
                path: dir.join(KERNEL),
                shown: format!("(a copy of {}, {} bytes)", configured.display(), kernel.len()),
                contents: kernel,
                mode: 0o644,
                role: FileRole::Kernel,
            },
            PlannedFile {
                path: dir.join(runner::INITRAMFS),
                shown: super::describe(&bundle, &vmm),
                contents: std::mem::take(&mut bundle.initramfs),
                mode: 0o600,
                role: FileRole::Bundle,
            },
            PlannedFile::text(dir.join(runner::DESCRIPTION), json, 0o644, FileRole::Other),
        ];
        Ok(Hosted { files, ..runner_hosted(&dir, bundle.accel, &vsock_backend) })
    }
}

impl Backend for PepitaBackend {
    fn platform(&self) -> Platform {
        Platform::Pepita
    }

    fn host(&self) -> &Host {
        self.manager().host()
    }

    fn available(&self, level: Level) -> Result<(), BackendError> {
        self.manager().available(level)?;
        self.host().find_tool(qemu::PROGRAM).ok_or_else(qemu_missing)?;
        self.host().find_tool(hybrid::BACKEND).ok_or_else(vsock_backend_missing).map(drop)
    }

    fn diagnose(&self, level: Level) -> Vec<Finding> {
        const SECTION: &str = "service manager";
        let host = self.host();
        let mut found = Vec::new();
        found.push(Finding::new(
            SECTION,
            Mark::Ok,
            match &self.manager {
                Manager::Systemd(_) => "pepita: systemd is the init here: the VM runner is installed as a systemd unit",
                Manager::Native(_) => {
                    "pepita: systemd is not the init here: duende's own supervisor runs the VM runner"
                }
            },
            None,
        ));
        let tool = |tool: &str, missing: BackendError| match host.find_tool(tool) {
            Some(path) => Finding::new(SECTION, Mark::Ok, format!("pepita: `{tool}` is {}", path.display()), None),
            None => match missing {
                BackendError::Unavailable { what, fix } => Finding::new(SECTION, Mark::Problem, what, Some(fix)),
                other => Finding::new(SECTION, Mark::Problem, other.to_string(), None),
            },
        };
        found.push(tool(qemu::PROGRAM, qemu_missing()));
        found.push(tool(hybrid::BACKEND, vsock_backend_missing()));
        let kvm = qemu::probe_kvm(host);
        found.push(if kvm.usable {
            Finding::new(SECTION, Mark::Ok, format!("pepita: KVM is usable ({})", kvm.reason), None)
        } else {
            Finding::new(
                SECTION,
                Mark::Warn,
                format!("pepita: KVM cannot run the guest ({}); QEMU runs it under TCG, slower", kvm.reason),
                None,
            )
        });
        found.extend(self.manager().diagnose(level).into_iter().filter(|finding| finding.mark != Mark::Ok));
        found
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        self.manager().found(service)
    }

    fn preparing(&self) -> Option<&'static str> {
        Some("building the VM bundle (kernel, initramfs)")
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        for (key, value) in [("user", &request.settings.user), ("group", &request.settings.group)] {
            if value.is_some() {
                return Err(BackendError::Render(format!(
                    "`{key}` is set, but a pepita daemon runs as root of its own VM, and its VM runner as the user \
                     who installs it; unset `{key}`"
                )));
            }
        }
        let hosted = self.hosted(service, request)?;
        match &self.manager {
            Manager::Systemd(systemd) => {
                let mut plan = systemd.plan_hosting(service, request, previous, hosted)?;
                let qemu = self.host().find_tool(qemu::PROGRAM);
                if let Some(qemu) =
                    qemu.filter(|qemu| !std::env::split_paths(SYSTEMD_PATH).any(|d| qemu.starts_with(d)))
                {
                    plan.notes.push(format!(
                        "warning: `{}` is {}, which is not on the PATH systemd gives services ({SYSTEMD_PATH}): the \
                         VM runner will not find it; install QEMU there or link it into /usr/local/bin",
                        qemu::PROGRAM,
                        qemu.display()
                    ));
                }
                Ok(plan)
            }
            Manager::Native(native) => native.plan_hosting(service, request, previous, hosted),
        }
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
        // The bundle directory is inside the data directory (the supervisor's log directory,
        // systemd's state directory): emptied first, so that one is not kept "for its data"
        // only because of it.
        retirement.data_dirs.insert(0, bundle_dir(self.host(), service.name, service.level)?);
        Ok(retirement)
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let mut observed = self.manager().observe(service)?;
        observed.status.platform = Platform::Pepita;
        Ok(observed)
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        match op {
            Op::Reload => self.reload(service, dry_run),
            _ => self.manager().act(service, op, dry_run),
        }
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

#[cfg(test)]
mod tests;
