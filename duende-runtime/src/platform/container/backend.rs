//! [`ContainerBackend`]: the daemon as a container of an image built from its own binary, run
//! by docker, podman or nerdctl. The engine supervises it (restart policy, stop timeout, health
//! check); duende builds the image, creates the container, and reads the engine's JSON.
//!
//! | level  | record                                      | image archive                              |
//! |--------|---------------------------------------------|--------------------------------------------|
//! | system | `/etc/NAME/NAME.container.toml`             | `/var/cache/NAME/NAME-image.tar`           |
//! | user   | `$XDG_CONFIG_HOME/NAME/NAME.container.toml` | `$XDG_CACHE_HOME/NAME/NAME-image.tar`      |
//!
//! `install` builds the image (a changed binary or configuration is a new image with a new tag),
//! loads it, and creates the container; a container of an earlier install is renamed
//! `NAME-previous` and stopped first, and removed with its image only once the new one is
//! ready (put back otherwise). Each of these commands is journaled with its undo before it
//! runs, so an installer killed half-way is taken back by the next `install` or `uninstall`
//! (the new container and image removed, the old container renamed back and started again);
//! killed after the new container was ready, the next one finishes removing the old.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::contents::{Built, build_image, host_limits};
use super::image;
use super::inspect::{self, Inspected};
use super::record::{self, Record};
use super::spec::{self, HostLimits, Kind};
use crate::config::platforms::ContainerEngine;
use crate::platform::Platform;
use crate::platform::backend::{
    Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service, run_tool, run_tool_ok, stream_tool,
};
use crate::platform::engine;
use crate::platform::finding::{Finding, Mark};
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::layout::{Places, home};
use crate::platform::plan::{Action, FileRole, Found, Manifest, Plan, PlannedFile, Recorded, Retirement, Step, When};
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, SystemRunner};
use crate::platform::status::{ServiceState, ServiceStatus};

/// How long `reload` waits for the daemon's verdict.
const RELOAD_PATIENCE: Duration = Duration::from_secs(60);

/// The last log lines failure messages show.
const LOG_TAIL: &str = "20";

/// An engine, and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// Which engine.
    pub kind: Kind,
    /// `DOCKER_HOST` (docker) or `CONTAINERD_ADDRESS` (nerdctl), when set.
    pub endpoint: Option<String>,
}

impl Tool {
    /// The engine `kind` as this host's environment reaches it.
    pub fn of(kind: Kind, host: &Host) -> Tool {
        let variable = match kind {
            Kind::Docker => Some("DOCKER_HOST"),
            Kind::Nerdctl => Some("CONTAINERD_ADDRESS"),
            Kind::Podman => None,
        };
        Tool { kind, endpoint: variable.and_then(|v| host.get(v)).map(str::to_owned) }
    }

    /// The engine's command with `args`.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Invocation {
        let mut words = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            words.push(if self.kind == Kind::Nerdctl { "--address" } else { "--host" }.to_owned());
            words.push(endpoint.clone());
        }
        words.extend(args.iter().map(|a| a.as_ref().to_owned()));
        Invocation::new(self.kind.program(), words)
    }

    /// What asks the engine whether it answers, printing its version.
    fn version_query(&self) -> Invocation {
        match self.kind {
            // podman has no daemon to reach; `info` would cost 0.2 s of storage set-up.
            Kind::Podman => self.command(&["version", "--format", "{{.Client.Version}}"]),
            _ => self.command(&["info", "--format", "{{.ServerVersion}}"]),
        }
    }
}

/// Where one container service's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLayout {
    /// Where the systemd and native backends put the configuration (read when no `--config`).
    pub places: Places,
    /// The record.
    pub record: PathBuf,
    /// The image archive.
    pub archive: PathBuf,
}

impl ContainerLayout {
    /// The layout of `name` at `level` on `host`.
    pub fn of(host: &Host, name: &str, level: Level) -> Result<ContainerLayout, BackendError> {
        let places = Places::of(host, name, level)?;
        let record = places.config.with_file_name(format!("{name}.container.toml"));
        let cache = match level {
            Level::System => PathBuf::from("/var/cache"),
            Level::User => match host.get("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
                Some(cache) => cache,
                None => home(host)?.join(".cache"),
            },
        };
        Ok(ContainerLayout { places, record, archive: cache.join(name).join(format!("{name}-image.tar")) })
    }
}

/// The container backend on `host`.
#[derive(Debug)]
pub struct ContainerBackend<R: CommandRunner = SystemRunner> {
    runner: R,
    host: Host,
    /// What each engine answered when asked for its version (asked once per command).
    answers: RefCell<BTreeMap<&'static str, Result<String, String>>>,
}

impl ContainerBackend<SystemRunner> {
    /// The backend on `host`, running the engines' programs.
    pub fn new(host: Host) -> ContainerBackend<SystemRunner> {
        ContainerBackend::with_runner(SystemRunner, host)
    }
}

impl<R: CommandRunner> ContainerBackend<R> {
    /// The backend on `host`, running commands through `runner`.
    pub fn with_runner(runner: R, host: Host) -> ContainerBackend<R> {
        ContainerBackend { runner, host, answers: RefCell::new(BTreeMap::new()) }
    }

    fn layout(&self, service: &Service<'_>) -> Result<ContainerLayout, BackendError> {
        ContainerLayout::of(&self.host, service.name, service.level)
    }

    fn run(&self, invocation: &Invocation) -> Result<CommandOutput, BackendError> {
        run_tool(&self.runner, Platform::Container, invocation)
    }

    fn run_ok(&self, invocation: &Invocation) -> Result<String, BackendError> {
        run_tool_ok(&self.runner, Platform::Container, invocation)
    }

    /// The engine's version, or why it does not answer.
    fn answer(&self, tool: &Tool) -> Result<String, String> {
        if let Some(answer) = self.answers.borrow().get(tool.kind.program()) {
            return answer.clone();
        }
        let answer = if self.host.find_tool(tool.kind.program()).is_none() {
            Err(format!("`{}` is not on PATH", tool.kind.program()))
        } else {
            let query = tool.version_query();
            match self.runner.run(&query) {
                Ok(out) if out.succeeded() && !out.stdout.trim().is_empty() => Ok(out.stdout.trim().to_owned()),
                Ok(out) => Err(format!("`{query}` failed: {}", out.stderr.trim())),
                Err(err) => Err(format!("cannot run `{query}`: {err}")),
            }
        };
        self.answers.borrow_mut().insert(tool.kind.program(), answer.clone());
        answer
    }

    /// The engine `wanted` names, or the first of docker, podman and nerdctl that answers.
    pub fn choose(&self, wanted: ContainerEngine) -> Result<Tool, BackendError> {
        let kinds: &[Kind] = match wanted {
            ContainerEngine::Auto => &[Kind::Docker, Kind::Podman, Kind::Nerdctl],
            ContainerEngine::Docker => &[Kind::Docker],
            ContainerEngine::Podman => &[Kind::Podman],
            ContainerEngine::Nerdctl => &[Kind::Nerdctl],
        };
        let mut why = Vec::new();
        for kind in kinds {
            let tool = Tool::of(*kind, &self.host);
            match self.answer(&tool) {
                Ok(_) => return Ok(tool),
                Err(reason) => why.push(format!("{}: {reason}", kind.program())),
            }
        }
        Err(BackendError::Unavailable {
            what: format!("no container engine answers ({})", why.join("; ")),
            fix:
                "start the engine (`systemctl start docker`, or `dockerd` with `DOCKER_HOST` pointing at its socket), \
                  install one (`apt install docker.io` or `apt install podman`), or name a working one in \
                  `[platform.container] engine`"
                    .to_owned(),
        })
    }

    /// The record of an earlier install, if any.
    fn record(&self, layout: &ContainerLayout) -> Result<Option<Record>, BackendError> {
        let Some(text) = fs::read(&self.host.path(&layout.record))? else { return Ok(None) };
        let text = String::from_utf8_lossy(&text);
        if !record::is_written_by_duende(&text) {
            return Ok(None);
        }
        record::parse(&text).map(Some).map_err(|err| BackendError::Render(err.to_string()))
    }

    /// The installed service's engine and record, or `NotInstalled`.
    fn installed(&self, service: &Service<'_>) -> Result<(Tool, Record), BackendError> {
        let layout = self.layout(service)?;
        let record = self
            .record(&layout)?
            .ok_or_else(|| BackendError::NotInstalled { name: service.name.to_owned(), level: service.level })?;
        Ok((recorded_tool(&record)?, record))
    }

    /// What the engine says of the container `name`; `None` when it has none.
    fn inspect(&self, tool: &Tool, name: &str) -> Result<Option<Inspected>, BackendError> {
        let invocation = tool.command(&["container", "inspect", name]);
        let output = self.run(&invocation)?;
        if !output.succeeded() {
            let stderr = output.stderr.to_lowercase();
            if stderr.contains("cannot connect") || stderr.contains("is the docker daemon running") {
                let at = tool.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
                return Err(BackendError::Unavailable {
                    what: format!("{}{at} does not answer ({})", tool.kind.program(), output.stderr.trim()),
                    fix: format!(
                        "start the engine (`systemctl start {}`, or its daemon by hand) and try again",
                        tool.kind.program()
                    ),
                });
            }
            if stderr.contains("no such") || stderr.contains("not found") {
                return Ok(None);
            }
            return Err(BackendError::Command { invocation, status: output.status, stderr: output.stderr });
        }
        inspect::parse(&output.stdout).map(Some).map_err(|err| BackendError::Render(err.to_string()))
    }

    fn has_image(&self, tool: &Tool, reference: &str) -> Result<bool, BackendError> {
        Ok(self.run(&tool.command(&["image", "inspect", "--format", "{{.Id}}", reference]))?.succeeded())
    }

    /// Runs the daemon's health command in the container (podman's `healthcheck run` also
    /// records the outcome as the engine's own).
    fn check_health(&self, tool: &Tool, name: &str) -> bool {
        let invocation = match tool.kind {
            Kind::Podman => tool.command(&["healthcheck", "run", name]),
            _ => {
                let mut words = vec!["exec".to_owned(), name.to_owned()];
                words.extend(spec::health_command(name));
                tool.command(&words)
            }
        };
        self.runner.run(&invocation).is_ok_and(|out| out.succeeded())
    }

    /// The daemon's `status --json` from inside the container.
    fn live(&self, tool: &Tool, name: &str) -> Option<serde_json::Value> {
        let words = ["exec".to_owned(), name.to_owned(), image::binary_path(name), "status".into(), "--json".into()];
        let output = self.runner.run(&tool.command(&words)).ok()?;
        let report: serde_json::Value = serde_json::from_str(output.stdout.trim()).ok()?;
        report.get("live").filter(|live| live.is_object()).cloned()
    }

    /// Delivers SIGHUP and waits for the daemon's verdict, read from its own status.
    fn reload(&self, tool: &Tool, name: &str) -> Result<Action, BackendError> {
        let attempts = |live: &serde_json::Value| live["last_reload"]["attempts"].as_u64().unwrap_or(0);
        let before = self.live(tool, name).map(|live| attempts(&live)).ok_or_else(|| BackendError::NotObserved {
            expected: ServiceState::Running,
            observed: ServiceState::Starting,
            detail: format!(
                "{name} does not answer on its control socket in the container, so a reload cannot be observed"
            ),
        })?;
        self.run_ok(&tool.command(&["kill", "--signal", "HUP", name]))?;
        let deadline = Instant::now() + RELOAD_PATIENCE;
        while Instant::now() < deadline {
            if let Some(live) = self.live(tool, name).filter(|live| attempts(live) > before) {
                let last = &live["last_reload"];
                let generation = last["generation"].as_u64().unwrap_or(0);
                if last["outcome"] == "accepted" {
                    return Ok(Action::Do {
                        planned: format!("send SIGHUP to the {name} container and wait for the daemon's verdict"),
                        done: format!("{name}: configuration reloaded; generation {generation} is in effect"),
                    });
                }
                let reason = last["reason"].as_str().unwrap_or("no reason given");
                return Err(BackendError::Rejected(format!(
                    "reload rejected; configuration generation {generation} stays: {reason}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(BackendError::NotObserved {
            expected: ServiceState::Running,
            observed: ServiceState::Running,
            detail: format!("{name} got SIGHUP but reported no reload within {RELOAD_PATIENCE:?}"),
        })
    }

    /// The limits of this host that decide the container's `--ulimit`s.
    fn limits(&self) -> HostLimits {
        host_limits()
    }
}

/// The engine a record names.
fn recorded_tool(record: &Record) -> Result<Tool, BackendError> {
    let kind = Kind::parse(&record.engine).ok_or_else(|| {
        BackendError::Render(format!("the container record names an unknown engine `{}`", record.engine))
    })?;
    Ok(Tool { kind, endpoint: record.endpoint.clone() })
}

/// The name of the container a replaced install is kept under until the new one is ready.
fn previous_name(name: &str) -> String {
    format!("{name}-previous")
}

impl<R: CommandRunner> Backend for ContainerBackend<R> {
    fn platform(&self) -> Platform {
        Platform::Container
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn available(&self, _level: Level) -> Result<(), BackendError> {
        // The engine itself is chosen (and must answer) when the configuration is known; an
        // installed service's engine must still be there.
        Ok(())
    }

    fn diagnose(&self, _level: Level) -> Vec<Finding> {
        const SECTION: &str = "container engine";
        let mut found = Vec::new();
        let mut first = None;
        for kind in [Kind::Docker, Kind::Podman, Kind::Nerdctl] {
            let tool = Tool::of(kind, &self.host);
            let endpoint = tool.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
            if let Err(why) = self.answer(&tool) {
                found.push(Finding::new(
                    SECTION,
                    Mark::Ok,
                    format!("{} is not available{endpoint}: {why}", kind.program()),
                    None,
                ));
                continue;
            }
            let format = match kind {
                Kind::Podman => "{{.Version.Version}} {{.Host.CgroupManager}} {{.Host.CgroupsVersion}}",
                _ => "{{.ServerVersion}} {{.CgroupDriver}} {{.CgroupVersion}}",
            };
            let info = self.run_ok(&tool.command(&["info", "--format", format])).unwrap_or_default();
            let words: Vec<&str> = info.split_whitespace().collect();
            let word = |i: usize| words.get(i).copied().unwrap_or("unknown");
            let picked = if first.is_none() { " (`engine = \"auto\"` picks it)" } else { "" };
            first.get_or_insert(kind);
            found.push(Finding::new(
                SECTION,
                Mark::Ok,
                format!(
                    "{} {}{endpoint} answers; cgroup driver {}, cgroup version {}{picked}",
                    kind.program(),
                    word(0),
                    word(1),
                    word(2)
                ),
                None,
            ));
        }
        if first.is_none() {
            let err = self.choose(ContainerEngine::Auto).err().map(|e| e.to_string()).unwrap_or_default();
            found.push(Finding::new(SECTION, Mark::Problem, err, None));
            return found;
        }
        let limits = self.limits();
        match (limits.can_raise, limits.memlock) {
            (true, _) | (_, None) => found.push(Finding::new(
                SECTION,
                Mark::Ok,
                "memlock: containers can get `--ulimit memlock=-1:-1` and IPC_LOCK for `resources.lock_memory`",
                None,
            )),
            (false, Some(hard)) => found.push(Finding::new(
                SECTION,
                Mark::Warn,
                format!(
                    "memlock: this host's hard limit is {hard} bytes and the engine cannot raise it (no \
                     CAP_SYS_RESOURCE); with IPC_LOCK a daemon running as root in the container still locks all its \
                     memory, one running as another user is held to {hard} bytes"
                ),
                Some("run the engine with `LimitMEMLOCK=infinity` (its systemd unit) or from a shell that has CAP_SYS_RESOURCE".to_owned()),
            )),
        }
        found
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        let layout = self.layout(service)?;
        let Some(text) = fs::read(&self.host.path(&layout.record))? else { return Ok(Found::Absent) };
        let text = String::from_utf8_lossy(&text);
        if !record::is_written_by_duende(&text) {
            return Ok(Found::Foreign(layout.record.clone()));
        }
        let config = record::parse(&text).ok().and_then(|record| record.config);
        Ok(Found::Ours(Recorded { definition: layout.record, manifest: Manifest::parse(&text), binary: None, config }))
    }

    fn preparing(&self) -> Option<&'static str> {
        Some("building the container image")
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        let name = service.name;
        let settings = request.settings;
        let layout = self.layout(service)?;
        let wanted = settings.platform.container.engine;
        let tool = match self.record(&layout)? {
            Some(record) => {
                let tool = recorded_tool(&record)?;
                if wanted != ContainerEngine::Auto && Some(tool.kind) != self.choose(wanted).ok().map(|t| t.kind) {
                    return Err(BackendError::Unavailable {
                        what: format!(
                            "{name} is installed on {}, and the configuration now asks for another engine",
                            record.engine
                        ),
                        fix: format!("run `{name} uninstall --platform container` first, then install again"),
                    });
                }
                self.answer(&tool).map_err(|why| BackendError::Unavailable {
                    what: format!("{name} is installed on {}, which does not answer: {why}", record.engine),
                    fix: "start the engine again (`systemctl start docker`, or its daemon by hand)".to_owned(),
                })?;
                tool
            }
            None => self.choose(wanted)?,
        };
        let Built { image: built, binary_len, config_source, .. } =
            build_image(&self.host, name, request, &layout.places.config)?;
        let create = spec::create_args(tool.kind, name, settings, &built.reference, &self.limits());
        let stop_timeout = spec::stop_timeout(settings).to_string();
        let record = Record {
            engine: tool.kind.program().to_owned(),
            endpoint: tool.endpoint.clone(),
            container: name.to_owned(),
            image: built.reference.clone(),
            archive: layout.archive.clone(),
            stop_timeout: spec::stop_timeout(settings),
            config: config_source,
            create: create.args.clone(),
        };
        let shown = format!(
            "(image {}, {} bytes: {} of binary, id {})\nlayer:\n  {}\nimage config:\n{}",
            built.reference,
            built.archive.len(),
            binary_len,
            built.id,
            built.listing.join("\n  "),
            built.config
        );
        let archive = PlannedFile {
            path: layout.archive.clone(),
            contents: built.archive,
            mode: 0o600,
            shown,
            role: FileRole::Binary,
        };
        let manifest = Manifest::of(&self.host, previous, [archive.path.as_path()], [layout.record.as_path()]);
        let text = record::render(name, &record, &manifest).map_err(|err| BackendError::Render(err.to_string()))?;
        let files = vec![archive, PlannedFile::text(layout.record.clone(), text, 0o644, FileRole::Definition)];

        let mut steps = Vec::new();
        let mut after = Vec::new();
        let always = |run: Invocation, undo: Option<Invocation>| Step { run, undo, when: When::Always };
        let previous_name = previous_name(name);
        if let Some(left) = self.inspect(&tool, &previous_name)?
            && left.is_ours(name)
        {
            // A replaced container an interrupted install left behind.
            steps.push(always(tool.command(&["rm", "--force", &previous_name]), None));
        }
        if !self.has_image(&tool, &built.reference)? {
            let archive = layout.archive.to_string_lossy();
            steps.push(always(
                tool.command(&["load", "--input", &archive]),
                Some(tool.command(&["image", "rm", &built.reference])),
            ));
        }
        let create_step = || always(tool.command(&create.args), Some(tool.command(&["rm", "--force", name])));
        match self.inspect(&tool, name)? {
            None => steps.push(create_step()),
            Some(current) => {
                let ours = current.is_ours(name);
                if !ours && !request.options.force {
                    return Err(BackendError::Foreign {
                        path: PathBuf::from(format!("{} container {name}", tool.kind.program())),
                    });
                }
                if current.labels.get(spec::HASH_LABEL) != Some(&create.hash) {
                    steps.push(always(
                        tool.command(&["rename", name, &previous_name]),
                        Some(tool.command(&["rename", &previous_name, name])),
                    ));
                    if current.running || current.restarting {
                        steps.push(always(tool.command(&["stop", "--time", &stop_timeout, &previous_name]), None));
                    }
                    steps.push(create_step());
                    after.push(tool.command(&["rm", "--force", &previous_name]));
                    if ours
                        && current.image != built.reference
                        && current.image.starts_with(&format!("{}{name}:", image::REPOSITORY_PREFIX))
                    {
                        after.push(tool.command(&["image", "rm", &current.image]));
                    }
                }
            }
        }
        let mut notes = create.notes;
        if engine::in_cargo_target(request.binary) && settings.binary_path.is_none() {
            notes.push(format!(
                "note: the image holds a copy of {} (built by cargo); rebuild and install again to update it",
                request.binary.display()
            ));
        }
        Ok(Plan { files, reread: None, steps, after, side_dirs: Vec::new(), notes })
    }

    fn verify(&self, _: &Service<'_>, _: &PlannedFile, _: bool) -> Result<Option<Invocation>, BackendError> {
        Ok(None)
    }

    fn retire(&self, service: &Service<'_>, observed: &Observed) -> Result<Retirement, BackendError> {
        let (tool, record) = self.installed(service)?;
        let mut steps = Vec::new();
        if observed.state() != ServiceState::NotInstalled {
            steps.push(tool.command(&["rm", "--force", &record.container]));
        }
        if let Some(left) = self.inspect(&tool, &previous_name(service.name))?
            && left.is_ours(service.name)
        {
            steps.push(tool.command(&["rm", "--force", &previous_name(service.name)]));
        }
        if self.has_image(&tool, &record.image)? {
            steps.push(tool.command(&["image", "rm", &record.image]));
        }
        Ok(Retirement { steps, ..Retirement::default() })
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let not_installed = || Observed {
            status: ServiceStatus::new(Platform::Container, service.level, ServiceState::NotInstalled),
            enabled: false,
            settled: true,
            summary: "no container".to_owned(),
        };
        let layout = self.layout(service)?;
        let Some(record) = self.record(&layout)? else { return Ok(not_installed()) };
        let tool = recorded_tool(&record)?;
        let Some(inspected) = self.inspect(&tool, &record.container)? else { return Ok(not_installed()) };
        let pending = inspected.running && matches!(inspected.health.as_deref(), Some("starting") | Some(""));
        let checked = pending.then(|| self.check_health(&tool, &record.container));
        // podman's `healthcheck run` updates the engine's own verdict: read it again.
        let inspected = match (tool.kind, checked) {
            (Kind::Podman, Some(_)) => self.inspect(&tool, &record.container)?.unwrap_or(inspected),
            _ => inspected,
        };
        let mut status = inspected.status(service.level, checked);
        status.manager.insert("Engine".into(), tool.kind.program().into());
        status.manager.insert("Container".into(), record.container.clone());
        Ok(Observed {
            enabled: !matches!(inspected.restart_policy.as_str(), "" | "no"),
            settled: inspected.settled() && !pending,
            summary: inspected.summary(),
            status,
        })
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        let (tool, record) = self.installed(service)?;
        let name = record.container.as_str();
        let timeout = record.stop_timeout.to_string();
        let invocation = match op {
            Op::Start => tool.command(&["start", name]),
            Op::Stop => tool.command(&["stop", "--time", &timeout, name]),
            Op::Restart => tool.command(&["restart", "--time", &timeout, name]),
            Op::Reload if dry_run => tool.command(&["kill", "--signal", "HUP", name]),
            Op::Reload => return self.reload(&tool, name),
        };
        if !dry_run {
            self.run_ok(&invocation)?;
        }
        Ok(Action::Run(invocation))
    }

    fn run_step(&self, _: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        self.run_ok(step).map(drop)
    }

    fn restore(&self, service: &Service<'_>, was_running: bool) {
        // The container put back under its name runs its own image: starting it is enough (and
        // does nothing to one that runs), where a restart would stop it once more.
        let _ = self.act(service, if was_running { Op::Start } else { Op::Stop }, false);
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        let Ok((tool, record)) = self.installed(service) else { return "(not installed)".to_owned() };
        match self.run(&tool.command(&["logs", "--tail", LOG_TAIL, &record.container])) {
            Ok(out) => {
                let text = format!("{}{}", out.stdout, out.stderr);
                if text.trim().is_empty() { "(no log lines)".to_owned() } else { text.trim_end().to_owned() }
            }
            Err(err) => format!("(cannot read the container's logs: {err})"),
        }
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        let (tool, record) = self.installed(service)?;
        let mut words = vec!["logs".to_owned()];
        if let Some(lines) = query.lines {
            words.extend(["--tail".to_owned(), lines.to_string()]);
        }
        if query.follow {
            words.push("--follow".to_owned());
        }
        words.push(record.container.clone());
        let invocation = tool.command(&words);
        stream_tool(&self.runner, invocation, out)
    }

    fn control_socket(&self, _: &Service<'_>) -> Option<PathBuf> {
        // In the container's own file system; `live_report` asks through the engine instead.
        None
    }

    fn live_report(&self, service: &Service<'_>) -> Option<String> {
        let (tool, record) = self.installed(service).ok()?;
        self.live(&tool, &record.container).map(|live| live.to_string())
    }
}
