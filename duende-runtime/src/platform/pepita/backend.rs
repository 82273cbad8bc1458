//! [`PepitaBackend`]: `install --platform pepita`. The daemon runs as PID 1 of a microVM; on the
//! host its stand-in is the VM runner (`NAME __pepita-vm --bundle DIR`, [`super::runner`]), which
//! the host's manager supervises like any daemon: it reports readiness, serves the daemon's
//! control socket and exits with the guest daemon's status.
//!
//! The plan is the [native](crate::platform::native) backend's (binary, configuration, the
//! supervisor's definition, here `NAME.pepita.toml`) with the runner as the supervised command
//! and the bundle directory beside it:
//!
//! | level  | bundle directory                    |
//! |--------|-------------------------------------|
//! | system | `/var/lib/NAME/pepita/`             |
//! | user   | `$XDG_STATE_HOME/NAME/pepita/` (`~/.local/state/NAME/pepita/` without it) |
//!
//! holding `initramfs` (the binary, its libraries, the configuration and the guest's modules:
//! a change of binary is binary drift), `vmlinuz` (a copy of `platform.pepita.kernel`, so that
//! the bundle boots whatever happens to the configured file and a changed kernel is kernel
//! drift) and `vm.json` (the machine, [`super::runner::Description`]). The bundle is state, not
//! configuration: it is rebuilt from the binary and the configuration by every `install`.
//!
//! The native supervisor runs the runner on every host for now, systemd's included (the plan
//! says so there): the systemd unit for the runner is not written yet. Every operation and
//! `status` go through the supervisor, and `status` reaches the guest daemon through the
//! runner's `control.sock`; `logs` shows the runner's output, the guest's console among it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Request, hybrid, qemu, runner};
use crate::platform::backend::{Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service};
use crate::platform::finding::{Finding, Mark};
use crate::platform::host::Host;
use crate::platform::layout::home;
use crate::platform::native::NativeBackend;
use crate::platform::native::backend::Hosted;
use crate::platform::plan::{Action, FileRole, Found, Manifest, Plan, PlannedFile, Retirement};
use crate::platform::runner::Invocation;
use crate::platform::{EnvView, Platform};

/// The guest kernel's copy in the bundle directory.
pub const KERNEL: &str = "vmlinuz";

/// The pepita backend on a host.
#[derive(Debug, Clone)]
pub struct PepitaBackend {
    native: NativeBackend,
}

/// The bundle directory of `name` at `level` on `host`.
pub fn bundle_dir(host: &Host, name: &str, level: Level) -> Result<PathBuf, BackendError> {
    let state = match level {
        Level::System => PathBuf::from("/var/lib"),
        Level::User => host.state_home().map_or_else(|| home(host).map(|h| h.join(".local/state")), Ok)?,
    };
    Ok(state.join(name).join("pepita"))
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
    /// The backend on `host`.
    pub fn new(host: Host) -> PepitaBackend {
        PepitaBackend { native: NativeBackend::supervising_for(Platform::Pepita, host) }
    }

    /// The bundle's files and the runner's command for `request`.
    fn hosted(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Hosted, BackendError> {
        let host = self.host();
        let settings = request.settings;
        let dir = bundle_dir(host, service.name, service.level)?;
        let vsock_backend = host.find_tool(hybrid::BACKEND).ok_or_else(vsock_backend_missing)?;
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
        let description = runner::Description::of(&bundle, settings.shutdown_timeout, Some(vsock_backend));
        let json = runner::render(&description).map_err(|err| BackendError::Render(err.to_string()))?;
        let runtime_dir = self.native.layout(service)?.runtime_dir;
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
                role: FileRole::Binary,
            },
            PlannedFile::text(dir.join(runner::DESCRIPTION), json, 0o644, FileRole::Other),
        ];
        let command = vec!["__pepita-vm".to_owned(), "--bundle".to_owned(), dir.to_string_lossy().into_owned()];
        Ok(Hosted { command, files })
    }
}

impl Backend for PepitaBackend {
    fn platform(&self) -> Platform {
        Platform::Pepita
    }

    fn host(&self) -> &Host {
        self.native.host()
    }

    fn available(&self, level: Level) -> Result<(), BackendError> {
        self.native.available(level)?;
        self.host().find_tool(qemu::PROGRAM).ok_or_else(qemu_missing)?;
        self.host().find_tool(hybrid::BACKEND).ok_or_else(vsock_backend_missing).map(drop)
    }

    fn diagnose(&self, level: Level) -> Vec<Finding> {
        const SECTION: &str = "service manager";
        let host = self.host();
        let mut found = Vec::new();
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
        found.extend(self.native.diagnose(level).into_iter().filter(|finding| finding.mark != Mark::Ok));
        found
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        self.native.found(service)
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        let hosted = self.hosted(service, request)?;
        let mut plan = self.native.plan_hosting(service, request, previous, hosted)?;
        if self.host().exists(Path::new("/run/systemd/system")) {
            plan.notes.push(
                "note: systemd runs here, but this version has duende's own supervisor run the VM (a systemd unit for \
                 pepita is not written yet)"
                    .to_owned(),
            );
        }
        Ok(plan)
    }

    fn verify(
        &self,
        service: &Service<'_>,
        file: &PlannedFile,
        dry_run: bool,
    ) -> Result<Option<Invocation>, BackendError> {
        self.native.verify(service, file, dry_run)
    }

    fn retire(&self, service: &Service<'_>, observed: &Observed) -> Result<Retirement, BackendError> {
        let mut retirement = self.native.retire(service, observed)?;
        // The bundle directory is inside the log directory: emptied first, so the log directory
        // is not kept "for its data" only because of it.
        retirement.data_dirs.insert(0, bundle_dir(self.host(), service.name, service.level)?);
        Ok(retirement)
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        self.native.observe(service)
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        self.native.act(service, op, dry_run)
    }

    fn run_step(&self, service: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        self.native.run_step(service, step)
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        self.native.log_tail(service)
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        self.native.logs(service, query, out)
    }

    fn control_socket(&self, service: &Service<'_>) -> Option<PathBuf> {
        self.native.control_socket(service)
    }
}

#[cfg(test)]
mod tests;
