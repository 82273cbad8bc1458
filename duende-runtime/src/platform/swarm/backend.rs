//! [`SwarmBackend`]: a swarm service of the daemon's image, on the docker engine `DOCKER_HOST`
//! names, which must be a swarm manager.
//!
//! `install` builds the image (without the configuration), loads it, creates the config object
//! of the configuration, and creates the service, or updates it: a rolling update the command
//! waits for, which fails when the engine rolled it back (the install is then undone and the
//! old version serves). The replaced image and config object are removed once the update is
//! done. The verbs: `start` and `stop` scale (a global service is kept off every node by a
//! placement constraint), `restart` is a rolling restart, `reload` sends SIGHUP to every task and
//! reads each daemon's verdict.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::observe::{self, Swarmed, Task};
use super::record::{self, Record};
use super::render::{self, Spec};
use crate::config::platforms::SwarmMode;
use crate::platform::Platform;
use crate::platform::backend::{
    Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service, run_tool, run_tool_ok, stream_tool,
};
use crate::platform::container::image;
use crate::platform::container::spec::{Kind, SERVICE_LABEL};
use crate::platform::container::{ConfigPlace, ContainerLayout, Tool, account, build_image_for, host_limits};
use crate::platform::engine;
use crate::platform::finding::{Finding, Mark};
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::plan::{Action, FileRole, Found, Manifest, Plan, PlannedFile, Recorded, Retirement, Step, When};
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, SystemRunner};
use crate::platform::status::{ServiceState, ServiceStatus};

/// How long `reload` waits for every task's verdict.
const RELOAD_PATIENCE: Duration = Duration::from_secs(60);

/// How long `install` waits for a rolling update (or the engine's rollback of it) to end.
const UPDATE_PATIENCE: Duration = Duration::from_secs(600);

/// How long removing a service waits for the engine to remove its tasks' containers.
const TASKS_GONE_PATIENCE: Duration = Duration::from_secs(60);

/// The last log lines failure messages show.
const LOG_TAIL: &str = "20";

/// The placement constraint that keeps a stopped global service off every node.
const STOPPED: &str = "node.labels.io.duende.stopped==true";

/// How to make this engine a swarm manager.
const MAKE_MANAGER: &str = "make this engine a swarm manager: `docker swarm init --advertise-addr ADDRESS` starts a \
                            swarm (127.0.0.1 for one machine), or on a manager `docker node promote NODE`";

/// Where one swarm service's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    /// Where other backends put the configuration (read when no `--config`).
    config: PathBuf,
    /// The record.
    record: PathBuf,
    /// The image archive.
    archive: PathBuf,
}

impl Layout {
    fn of(host: &Host, name: &str, level: Level) -> Result<Layout, BackendError> {
        let container = ContainerLayout::of(host, name, level)?;
        Ok(Layout {
            record: container.places.config.with_file_name(format!("{name}.swarm.toml")),
            archive: container.archive.with_file_name(format!("{name}-swarm-image.tar")),
            config: container.places.config,
        })
    }
}

/// The swarm backend on `host`.
#[derive(Debug)]
pub struct SwarmBackend<R: CommandRunner = SystemRunner> {
    runner: R,
    host: Host,
}

impl SwarmBackend<SystemRunner> {
    /// The backend on `host`, running `docker`.
    pub fn new(host: Host) -> SwarmBackend<SystemRunner> {
        SwarmBackend::with_runner(SystemRunner, host)
    }
}

impl<R: CommandRunner> SwarmBackend<R> {
    /// The backend on `host`, running commands through `runner`.
    pub fn with_runner(runner: R, host: Host) -> SwarmBackend<R> {
        SwarmBackend { runner, host }
    }

    fn layout(&self, service: &Service<'_>) -> Result<Layout, BackendError> {
        Layout::of(&self.host, service.name, service.level)
    }

    fn run(&self, invocation: &Invocation) -> Result<CommandOutput, BackendError> {
        run_tool(&self.runner, Platform::Swarm, invocation)
    }

    fn run_ok(&self, invocation: &Invocation) -> Result<String, BackendError> {
        run_tool_ok(&self.runner, Platform::Swarm, invocation)
    }

    /// The engine as this host's environment reaches it.
    fn tool(&self) -> Tool {
        Tool::of(Kind::Docker, &self.host)
    }

    /// The node's swarm state (`active`, `inactive`, `pending`, ...) and whether it is a
    /// manager, or why the engine does not answer.
    fn swarm_state(&self, tool: &Tool) -> Result<(String, bool), String> {
        if self.host.find_tool("docker").is_none() {
            return Err("`docker` is not on PATH".to_owned());
        }
        let query = tool.command(&["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"]);
        match self.runner.run(&query) {
            Ok(out) if out.succeeded() => {
                let words: Vec<&str> = out.stdout.split_whitespace().collect();
                match words.as_slice() {
                    [state, control] => Ok(((*state).to_owned(), *control == "true")),
                    _ => Err(format!("`{query}` printed {:?}", out.stdout.trim())),
                }
            }
            Ok(out) => Err(format!("`{query}` failed: {}", out.stderr.trim())),
            Err(err) => Err(format!("cannot run `{query}`: {err}")),
        }
    }

    /// Fails unless `tool` is a swarm manager.
    fn require_manager(&self, tool: &Tool) -> Result<(), BackendError> {
        let at = tool.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
        match self.swarm_state(tool) {
            Ok((state, true)) if state == "active" => Ok(()),
            Ok((state, _)) => Err(BackendError::Unavailable {
                what: format!("the docker engine{at} is not a swarm manager (swarm state `{state}`)"),
                fix: MAKE_MANAGER.to_owned(),
            }),
            Err(why) => Err(BackendError::Unavailable {
                what: format!("the docker engine{at} does not answer: {why}"),
                fix: "start dockerd (`systemctl start docker`, or `dockerd` with `DOCKER_HOST` pointing at its socket)"
                    .to_owned(),
            }),
        }
    }

    /// The record of an earlier install, if any.
    fn record(&self, layout: &Layout) -> Result<Option<Record>, BackendError> {
        let Some(text) = fs::read(&self.host.path(&layout.record))? else { return Ok(None) };
        let text = String::from_utf8_lossy(&text);
        if !record::is_written_by_duende(&text) {
            return Ok(None);
        }
        record::parse(&text).map(Some).map_err(|err| BackendError::Render(err.to_string()))
    }

    /// The installed service's engine and record, or `NotInstalled`.
    fn installed(&self, service: &Service<'_>) -> Result<(Tool, Record), BackendError> {
        let record = self
            .record(&self.layout(service)?)?
            .ok_or_else(|| BackendError::NotInstalled { name: service.name.to_owned(), level: service.level })?;
        Ok((Tool { kind: Kind::Docker, endpoint: record.endpoint.clone() }, record))
    }

    /// What the engine says of the service `name`; `None` when it has none.
    fn service(&self, tool: &Tool, name: &str) -> Result<Option<Swarmed>, BackendError> {
        let invocation = tool.command(&["service", "inspect", name]);
        let output = self.run(&invocation)?;
        if !output.succeeded() {
            let stderr = output.stderr.to_lowercase();
            if stderr.contains("no such service") || stderr.contains("not found") {
                return Ok(None);
            }
            if stderr.contains("not a swarm manager") || stderr.contains("cannot connect") {
                return Err(BackendError::Unavailable {
                    what: format!("the docker engine does not answer as a swarm manager: {}", output.stderr.trim()),
                    fix: MAKE_MANAGER.to_owned(),
                });
            }
            return Err(BackendError::Command { invocation, status: output.status, stderr: output.stderr });
        }
        observe::parse_service(&output.stdout).map(Some).map_err(|err| BackendError::Render(err.to_string()))
    }

    /// The service's tasks (its history included).
    fn tasks(&self, tool: &Tool, name: &str) -> Result<Vec<Task>, BackendError> {
        let ids = self.run_ok(&tool.command(&["service", "ps", "--quiet", "--no-trunc", name]))?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut words = vec!["inspect", "--type", "task"];
        words.extend(ids);
        let invocation = tool.command(&words);
        let output = self.run(&invocation)?;
        // The engine prunes a service's task history as it goes, so a task listed a moment ago
        // may be gone: inspect then prints the tasks it found and fails naming the others.
        if !output.succeeded() && !only_vanished(&output.stderr) {
            return Err(BackendError::Command { invocation, status: output.status, stderr: output.stderr });
        }
        if output.stdout.trim().is_empty() {
            return Ok(Vec::new());
        }
        observe::parse_tasks(&output.stdout).map_err(|err| BackendError::Render(err.to_string()))
    }

    /// The tasks that should run and have a container on this node: (task, health, pid).
    fn local_tasks(&self, tool: &Tool, tasks: &[Task]) -> Vec<(Task, String, u32)> {
        let wanted: Vec<&Task> = tasks.iter().filter(|t| t.desired == "running" && !t.container.is_empty()).collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let mut words = vec!["container", "inspect"];
        words.extend(wanted.iter().map(|t| t.container.as_str()));
        // A task on another node has no container here: inspect prints the ones it found.
        let json = self.runner.run(&tool.command(&words)).map(|out| out.stdout).unwrap_or_default();
        let health = observe::parse_health(&json);
        wanted
            .into_iter()
            .filter_map(|t| health.get(&t.container).map(|(h, pid)| (t.clone(), h.clone(), *pid)))
            .collect()
    }

    fn has_image(&self, tool: &Tool, reference: &str) -> Result<bool, BackendError> {
        Ok(self.run(&tool.command(&["image", "inspect", "--format", "{{.Id}}", reference]))?.succeeded())
    }

    fn has_config(&self, tool: &Tool, object: &str) -> Result<bool, BackendError> {
        Ok(self.run(&tool.command(&["config", "inspect", "--format", "{{.ID}}", object]))?.succeeded())
    }

    /// The daemon's `status --json` from inside the container `container` of the daemon `name`.
    fn live(&self, tool: &Tool, name: &str, container: &str) -> Option<serde_json::Value> {
        let words =
            ["exec".to_owned(), container.to_owned(), image::binary_path(name), "status".into(), "--json".into()];
        let output = self.runner.run(&tool.command(&words)).ok()?;
        let report: serde_json::Value = serde_json::from_str(output.stdout.trim()).ok()?;
        report.get("live").filter(|live| live.is_object()).cloned()
    }

    /// Delivers SIGHUP to every running task here and waits for each daemon's verdict.
    fn reload(&self, tool: &Tool, name: &str) -> Result<Action, BackendError> {
        let attempts = |live: &serde_json::Value| live["last_reload"]["attempts"].as_u64().unwrap_or(0);
        let tasks = self.tasks(tool, name)?;
        let local = self.local_tasks(tool, &tasks);
        let running: Vec<&Task> = local.iter().filter(|(t, _, _)| t.state == "running").map(|(t, _, _)| t).collect();
        if running.is_empty() {
            return Err(BackendError::NotObserved {
                expected: ServiceState::Running,
                observed: ServiceState::Stopped,
                detail: format!("{name} has no running task on this node to reload"),
            });
        }
        let mut before = Vec::new();
        for task in &running {
            let count = self.live(tool, name, &task.container).map(|live| attempts(&live)).ok_or_else(|| {
                BackendError::NotObserved {
                    expected: ServiceState::Running,
                    observed: ServiceState::Starting,
                    detail: format!(
                        "task {} does not answer on its control socket, so a reload cannot be observed",
                        task.id
                    ),
                }
            })?;
            before.push(count);
        }
        for task in &running {
            self.run_ok(&tool.command(&["kill", "--signal", "HUP", &task.container]))?;
        }
        let mut outcomes: Vec<Option<Result<u64, String>>> = vec![None; running.len()];
        let deadline = Instant::now() + RELOAD_PATIENCE;
        while Instant::now() < deadline && outcomes.iter().any(Option::is_none) {
            for (i, task) in running.iter().enumerate() {
                if outcomes[i].is_some() {
                    continue;
                }
                if let Some(live) = self.live(tool, name, &task.container).filter(|live| attempts(live) > before[i]) {
                    let last = &live["last_reload"];
                    let generation = last["generation"].as_u64().unwrap_or(0);
                    outcomes[i] = Some(if last["outcome"] == "accepted" {
                        Ok(generation)
                    } else {
                        Err(format!(
                            "rejected; generation {generation} stays: {}",
                            last["reason"].as_str().unwrap_or("no reason given")
                        ))
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let lines: Vec<String> = running
            .iter()
            .zip(&outcomes)
            .map(|(task, outcome)| match outcome {
                Some(Ok(generation)) => {
                    format!("task {} (slot {}): generation {generation} is in effect", task.id, task.slot)
                }
                Some(Err(why)) => format!("task {} (slot {}): reload {why}", task.id, task.slot),
                None => format!("task {} (slot {}): no reload reported within {RELOAD_PATIENCE:?}", task.id, task.slot),
            })
            .collect();
        if outcomes.iter().all(|o| matches!(o, Some(Ok(_)))) {
            return Ok(Action::Do {
                planned: format!("send SIGHUP to every task of {name} and wait for each daemon's verdict"),
                done: format!("{name}: configuration reloaded in {} tasks\n{}", running.len(), lines.join("\n")),
            });
        }
        Err(BackendError::Rejected(format!("{name}: not every task reloaded\n{}", lines.join("\n"))))
    }

    /// The spec `request` asks for, with the image built and what the plan needs of it.
    fn wanted(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        layout: &Layout,
    ) -> Result<Wanted, BackendError> {
        let name = service.name;
        let settings = request.settings;
        let built = build_image_for(&self.host, name, request, &layout.config, ConfigPlace::Mounted)?;
        let object = built.config.as_deref().map(|bytes| render::config_object(name, bytes));
        let account = account(&self.host, settings).map_err(BackendError::Render)?;
        let limits = host_limits();
        let memlock = limits.memlock.filter(|_| !limits.can_raise);
        let spec = render::spec(name, settings, &built.image.reference, object.as_deref(), &account, memlock);
        Ok(Wanted { spec, built })
    }
}

impl<R: CommandRunner> SwarmBackend<R> {
    /// After `service rm` (`removal`): waits until the engine removed the service's task
    /// containers, so the images they ran can go.
    fn wait_tasks_gone(&self, removal: &Invocation, name: &str) -> Result<(), BackendError> {
        let tool = Tool { kind: Kind::Docker, endpoint: endpoint_of(removal) };
        let filter = format!("label=com.docker.swarm.service.name={name}");
        let query = tool.command(&["ps", "--all", "--quiet", "--filter", &filter]);
        let deadline = Instant::now() + TASKS_GONE_PATIENCE;
        loop {
            let left = self.run_ok(&query)?;
            if left.trim().is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BackendError::NotObserved {
                    expected: ServiceState::NotInstalled,
                    observed: ServiceState::Stopping,
                    detail: format!(
                        "the engine still has {} container(s) of {name}'s tasks {TASKS_GONE_PATIENCE:?} after `{removal}`",
                        left.lines().count()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The `--host` an invocation of the engine names.
fn endpoint_of(invocation: &Invocation) -> Option<String> {
    let at = invocation.args.iter().position(|a| a == "--host")?;
    invocation.args.get(at + 1).cloned()
}

/// Whether every complaint of a failed `inspect` is of an object that no longer exists (`Error
/// response from daemon: task ... not found`, `Error: No such task: ...`).
fn only_vanished(stderr: &str) -> bool {
    let mut lines = stderr.lines().map(str::trim).filter(|line| !line.is_empty()).peekable();
    lines.peek().is_some()
        && lines.all(|line| {
            let line = line.to_lowercase();
            line.contains("not found") || line.contains("no such task")
        })
}

#[cfg(test)]
impl SwarmBackend<crate::platform::runner::RecordingRunner> {
    /// Every command run so far.
    pub(super) fn runner_calls(&self) -> Vec<Invocation> {
        self.runner.calls()
    }
}

/// What an install wants in place.
struct Wanted {
    spec: Spec,
    built: crate::platform::container::Built,
}

impl<R: CommandRunner> Backend for SwarmBackend<R> {
    fn platform(&self) -> Platform {
        Platform::Swarm
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn available(&self, _level: Level) -> Result<(), BackendError> {
        // The engine must be a manager when something is planned or observed; `check` says how.
        Ok(())
    }

    fn diagnose(&self, _level: Level) -> Vec<Finding> {
        const SECTION: &str = "docker swarm";
        let tool = self.tool();
        let at = tool.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
        match self.swarm_state(&tool) {
            Ok((state, true)) if state == "active" => {
                let nodes = self
                    .run_ok(&tool.command(&["node", "ls", "--format", "{{.Hostname}}"]))
                    .map(|out| out.lines().count())
                    .unwrap_or(0);
                vec![Finding::new(
                    SECTION,
                    Mark::Ok,
                    format!("the docker engine{at} is a swarm manager ({nodes} node(s) in the swarm)"),
                    None,
                )]
            }
            Ok((state, _)) if state == "active" => vec![Finding::new(
                SECTION,
                Mark::Problem,
                format!("the docker engine{at} is a swarm worker: services are created on a manager"),
                Some("run on a manager, or make this node one: `docker node promote NODE` on a manager".to_owned()),
            )],
            Ok((state, _)) => vec![Finding::new(
                SECTION,
                Mark::Problem,
                format!("the docker engine{at} is not part of a swarm (swarm state `{state}`)"),
                Some(MAKE_MANAGER.to_owned()),
            )],
            Err(why) => vec![Finding::new(
                SECTION,
                Mark::Problem,
                format!("the docker engine{at} does not answer: {why}"),
                Some("start dockerd, or point `DOCKER_HOST` at its socket".to_owned()),
            )],
        }
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

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        let name = service.name;
        let layout = self.layout(service)?;
        let tool = match self.record(&layout)? {
            Some(record) => Tool { kind: Kind::Docker, endpoint: record.endpoint },
            None => self.tool(),
        };
        self.require_manager(&tool)?;
        let Wanted { spec, built } = self.wanted(service, request, &layout)?;
        let reference = built.image.reference.clone();
        let record = Record {
            endpoint: tool.endpoint.clone(),
            service: name.to_owned(),
            image: reference.clone(),
            archive: layout.archive.clone(),
            config_object: spec.config.as_ref().map(|c| c.object.clone()),
            config: built.config_source.clone(),
            replicas: if spec.mode == SwarmMode::Replicated { spec.replicas } else { 0 },
            hash: spec.hash.clone(),
        };
        let shown = format!(
            "(image {reference}, {} bytes: {} of binary, id {}; the configuration is mounted from a config \
             object)\nlayer:\n  {}\nimage config:\n{}",
            built.image.archive.len(),
            built.binary_len,
            built.image.id,
            built.image.listing.join("\n  "),
            built.image.config
        );
        let archive = PlannedFile {
            path: layout.archive.clone(),
            contents: built.image.archive,
            mode: 0o600,
            shown,
            role: FileRole::Binary,
        };
        let manifest = Manifest::of(&self.host, previous, [archive.path.as_path()], [layout.record.as_path()]);
        let text = record::render(name, &record, &manifest).map_err(|err| BackendError::Render(err.to_string()))?;
        let files = vec![archive, PlannedFile::text(layout.record.clone(), text, 0o644, FileRole::Definition)];

        let always = |run: Invocation, undo: Option<Invocation>| Step { run, undo, when: When::Always };
        let mut steps = Vec::new();
        let mut after = Vec::new();
        if !self.has_image(&tool, &reference)? {
            steps.push(always(
                tool.command(&["load", "--input", &layout.archive.to_string_lossy()]),
                Some(tool.command(&["image", "rm", &reference])),
            ));
        }
        if let (Some(config), Some(source)) = (&spec.config, &built.config_source)
            && !self.has_config(&tool, &config.object)?
        {
            let source = self.host.path(source);
            steps.push(always(
                tool.command(&[
                    "config",
                    "create",
                    "--label",
                    &format!("{SERVICE_LABEL}={name}"),
                    &config.object,
                    &source.to_string_lossy(),
                ]),
                Some(tool.command(&["config", "rm", &config.object])),
            ));
        }
        let create = |running: bool| {
            always(tool.command(&render::create_args(&spec, running)), Some(tool.command(&["service", "rm", name])))
        };
        match self.service(&tool, name)? {
            None => steps.push(create(request.options.start_now)),
            Some(current) => {
                let ours = current.is_ours(name);
                if !ours && !request.options.force {
                    return Err(BackendError::Foreign { path: PathBuf::from(format!("docker swarm service {name}")) });
                }
                if current.hash() != Some(spec.hash.as_str()) {
                    if !ours || current.mode() != spec.mode {
                        // The engine cannot change a service's mode: it is replaced.
                        steps.push(always(tool.command(&["service", "rm", name]), None));
                        steps.push(create(current.installed.running || request.options.start_now));
                    } else {
                        steps.push(always(
                            tool.command(&render::update_args(&spec, &current.installed)),
                            Some(tool.command(&["service", "rollback", "--detach=false", "--quiet", name])),
                        ));
                    }
                    // The replaced image stays while the engine keeps the old tasks' containers
                    // (its task history); `uninstall` removes every image built for the service.
                    let kept = spec.config.as_ref().map(|c| c.object.as_str());
                    for old in current.installed.configs.iter().filter(|old| Some(old.as_str()) != kept) {
                        if ours && old.starts_with(&format!("{name}-")) {
                            after.push(tool.command(&["config", "rm", old]));
                        }
                    }
                }
            }
        }
        let mut notes = spec.notes.clone();
        if spec.mode == SwarmMode::Global && !request.options.start_now {
            notes.push("note: a global service runs on every node as soon as it is created".to_owned());
        }
        if engine::in_cargo_target(request.binary) && request.settings.binary_path.is_none() {
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

    fn updates_in_place(&self) -> bool {
        true
    }

    fn retire(&self, service: &Service<'_>, _observed: &Observed) -> Result<Retirement, BackendError> {
        let (tool, record) = self.installed(service)?;
        let name = service.name;
        let mut steps = Vec::new();
        if self.service(&tool, name)?.is_some_and(|s| s.is_ours(name)) {
            steps.push(tool.command(&["service", "rm", name]));
        }
        let filter = format!("label={SERVICE_LABEL}={name}");
        let configs = self.run_ok(&tool.command(&["config", "ls", "--filter", &filter, "--format", "{{.Name}}"]))?;
        for object in configs.lines().filter(|o| o.starts_with(&format!("{name}-"))) {
            steps.push(tool.command(&["config", "rm", object]));
        }
        // Every image built for it (earlier versions and rolled back ones included), unless a
        // container that is not one of its tasks uses it (a container install of the same daemon).
        let images = self.run_ok(&tool.command(&[
            "images",
            "--filter",
            &filter,
            "--filter",
            &format!("reference={}{name}", image::REPOSITORY_PREFIX),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]))?;
        let users = self.run_ok(&tool.command(&[
            "ps",
            "--all",
            "--format",
            "{{.Image}} {{.Label \"com.docker.swarm.service.name\"}}",
        ]))?;
        let foreign: Vec<&str> = users
            .lines()
            .filter_map(|line| line.split_once(' ').map_or(Some(line), |(image, svc)| (svc != name).then_some(image)))
            .collect();
        let mut images: Vec<&str> = images.lines().filter(|i| !foreign.contains(i)).collect();
        if !images.contains(&record.image.as_str())
            && self.has_image(&tool, &record.image)?
            && !foreign.contains(&record.image.as_str())
        {
            images.push(&record.image);
        }
        for image in images {
            steps.push(tool.command(&["image", "rm", image]));
        }
        Ok(Retirement { steps, ..Retirement::default() })
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let not_installed = |summary: &str| Observed {
            status: ServiceStatus::new(Platform::Swarm, service.level, ServiceState::NotInstalled),
            enabled: false,
            settled: true,
            summary: summary.to_owned(),
        };
        let Some(record) = self.record(&self.layout(service)?)? else { return Ok(not_installed("no record")) };
        let tool = Tool { kind: Kind::Docker, endpoint: record.endpoint.clone() };
        let Some(swarmed) = self.service(&tool, &record.service)? else { return Ok(not_installed("no service")) };
        let tasks = self.tasks(&tool, &record.service)?;
        let (mut status, settled) = observe::status(service.level, &swarmed, &tasks);
        let local = self.local_tasks(&tool, &tasks);
        for task in tasks.iter().filter(|t| t.desired == "running") {
            let here = local.iter().find(|(t, _, _)| t.id == task.id);
            let health = here.map_or("not on this node", |(_, h, _)| h.as_str());
            let live = here.filter(|(t, _, _)| t.state == "running").map_or_else(
                || "not asked".to_owned(),
                |(t, _, _)| match self.live(&tool, service.name, &t.container) {
                    Some(live) => format!(
                        "{}, generation {}",
                        live["state"].as_str().unwrap_or("unknown"),
                        live["config_generation"].as_u64().unwrap_or(0)
                    ),
                    None => "no answer on its control socket".to_owned(),
                },
            );
            let pid = here.map(|(_, _, pid)| *pid).filter(|pid| *pid > 0);
            if status.pid.is_none() {
                status.pid = pid;
            }
            status.manager.insert(
                format!("Task {}", task.slot),
                format!(
                    "{} ({}), node {}, health {health}, image {}, container {}, live: {live}",
                    task.state,
                    task.id,
                    task.node,
                    task.image,
                    task.container.get(..12).unwrap_or(&task.container)
                ),
            );
        }
        status.manager.insert("Engine".into(), "docker swarm".into());
        let summary = format!("{} {}", status.detail, status.manager.get("UpdateStatus").cloned().unwrap_or_default());
        Ok(Observed { enabled: true, settled, summary: summary.trim().to_owned(), status })
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        let (tool, record) = match self.installed(service) {
            // `install --now --dry-run` of a new service: created with its tasks running.
            Err(BackendError::NotInstalled { .. }) if dry_run => {
                return Ok(Action::Do {
                    planned: format!("wait until every task of {} is running and healthy", service.name),
                    done: String::new(),
                });
            }
            other => other?,
        };
        let name = record.service.as_str();
        let global = record.replicas == 0;
        let invocation = match op {
            Op::Start if global => tool.command(&["service", "update", "--detach", "--constraint-rm", STOPPED, name]),
            Op::Start => tool.command(&["service", "scale", "--detach", &format!("{name}={}", record.replicas)]),
            Op::Stop if global => tool.command(&["service", "update", "--detach", "--constraint-add", STOPPED, name]),
            Op::Stop => tool.command(&["service", "scale", "--detach", &format!("{name}=0")]),
            Op::Restart => tool.command(&["service", "update", "--detach=false", "--quiet", "--force", name]),
            Op::Reload if dry_run => {
                return Ok(Action::Do {
                    planned: format!("send SIGHUP to every task of {name} (`docker kill --signal HUP CONTAINER`)"),
                    done: String::new(),
                });
            }
            Op::Reload => return self.reload(&tool, name),
        };
        if !dry_run {
            self.run_ok(&invocation)?;
        }
        Ok(Action::Run(invocation))
    }

    fn run_step(&self, service: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        let output = self.run(step)?;
        if output.succeeded() && step.args.ends_with(&["service".to_owned(), "rm".to_owned(), service.name.to_owned()])
        {
            return self.wait_tasks_gone(step, service.name);
        }
        let update = step.args.windows(2).any(|w| w[0] == "service" && w[1] == "update");
        let rolled_back = update && output.stderr.contains("rolled back");
        if !output.succeeded() && !rolled_back {
            return Err(BackendError::Command {
                invocation: step.clone(),
                status: output.status,
                stderr: output.stderr,
            });
        }
        if !update {
            return Ok(());
        }
        // The CLI's wait may end well on an update the engine rolled back (it only looks for the
        // tasks to converge): the engine's own update status is the verdict.
        let (tool, _) = self.installed(service)?;
        let deadline = Instant::now() + UPDATE_PATIENCE;
        loop {
            let swarmed = self
                .service(&tool, service.name)?
                .ok_or_else(|| BackendError::NotInstalled { name: service.name.to_owned(), level: service.level })?;
            let (state, message) = (swarmed.update_state.as_str(), swarmed.update_message.as_str());
            match state {
                "completed" | "" => return Ok(()),
                "rollback_completed" => {
                    let mut failures: Vec<String> = self
                        .tasks(&tool, service.name)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|t| t.state == "failed" && !t.message.is_empty())
                        .map(|t| format!("task {} (slot {}): {}", t.id, t.slot, t.message))
                        .collect();
                    failures.truncate(3);
                    // Exit 71, as for a new version that never becomes ready under systemd or a container engine.
                    return Err(BackendError::NotObserved {
                        expected: ServiceState::Running,
                        observed: ServiceState::Failed,
                        detail: format!(
                            "the engine rolled the update back ({message}): a new task did not become healthy within \
                             the update's monitor window, and the previous version serves again{}",
                            failures.iter().map(|f| format!("\n  {f}")).collect::<String>()
                        ),
                    });
                }
                "paused" | "rollback_paused" => {
                    return Err(BackendError::NotObserved {
                        expected: ServiceState::Running,
                        observed: ServiceState::Failed,
                        detail: format!(
                            "the engine paused the update (`{state}`: {message}); see `{} status` and the logs",
                            service.name
                        ),
                    });
                }
                _ if Instant::now() >= deadline => {
                    return Err(BackendError::NotObserved {
                        expected: ServiceState::Running,
                        observed: ServiceState::Starting,
                        detail: format!("the update is still `{state}` after {UPDATE_PATIENCE:?}: {message}"),
                    });
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn restore(&self, service: &Service<'_>, was_running: bool) {
        // A failed update was rolled back by the engine itself, and the old version serves: a
        // restart would only roll every task once more.
        if !was_running {
            let _ = self.act(service, Op::Stop, false);
        }
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        let Ok((tool, record)) = self.installed(service) else { return "(not installed)".to_owned() };
        match self.run(&tool.command(&["service", "logs", "--tail", LOG_TAIL, &record.service])) {
            Ok(out) => {
                let text = format!("{}{}", out.stdout, out.stderr);
                if text.trim().is_empty() { "(no log lines)".to_owned() } else { text.trim_end().to_owned() }
            }
            Err(err) => format!("(cannot read the service's logs: {err})"),
        }
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        let (tool, record) = self.installed(service)?;
        let mut words = vec!["service".to_owned(), "logs".to_owned()];
        if let Some(lines) = query.lines {
            words.extend(["--tail".to_owned(), lines.to_string()]);
        }
        if query.follow {
            words.push("--follow".to_owned());
        }
        words.push(record.service.clone());
        stream_tool(&self.runner, tool.command(&words), out)
    }

    fn control_socket(&self, _: &Service<'_>) -> Option<PathBuf> {
        // In each task's own file system; `live_report` asks through the engine instead.
        None
    }

    fn live_report(&self, service: &Service<'_>) -> Option<String> {
        let (tool, record) = self.installed(service).ok()?;
        let tasks = self.tasks(&tool, &record.service).ok()?;
        let local = self.local_tasks(&tool, &tasks);
        let (task, _, _) = local.iter().find(|(t, _, _)| t.state == "running")?;
        self.live(&tool, service.name, &task.container).map(|live| live.to_string())
    }
}
