//! [`KubernetesBackend`]: `install --platform kubernetes` writes the daemon's manifests and the
//! image they name into one directory, and applies them with `kubectl` where a cluster answers.
//!
//! | level  | directory                           |
//! |--------|-------------------------------------|
//! | system | `/etc/NAME/kubernetes/`             |
//! | user   | `$XDG_CONFIG_HOME/NAME/kubernetes/` |
//!
//! In it: `NAME-image.tar` (mode 0600), the image built from this binary (the container
//! backend's, reference `localhost/NAME:TAG`) unless `[platform.kubernetes] image` names one;
//! `NAME.configmap.yaml`, the configuration file; and `NAME.deployment.yaml` or
//! `NAME.daemonset.yaml`, the workload, which ends with the record of what `install` created.
//! Each manifest starts with duende's marker, so a file duende did not write is never replaced
//! without `--force`, and neither is an object in the cluster without duende's
//! `app.kubernetes.io/managed-by` label.
//!
//! A cluster answers when `kubectl` is on `PATH` and `kubectl version` reaches a server within
//! [`REQUEST_TIMEOUT`] (asked once per command). Then `install` applies each manifest (`kubectl
//! apply -f`, again whenever the cluster's copy lacks the installed digest; a first apply is
//! undone by `kubectl delete -f`, a replaced one by applying the previous files again), `start`
//! applies them and waits for `kubectl rollout status`, `stop` scales a Deployment to 0 and
//! waits for its pods to go (a DaemonSet has no replica count: it is deleted from the cluster,
//! and `start` applies it again), `restart` is `kubectl rollout restart` (or, while a rollout
//! that replaces every pod anyway is under way, waiting for it), `reload` runs the
//! daemon's own `reload` in each pod with `kubectl exec` (it asks the daemon through its control
//! socket and reports its verdict), and `status` reads `kubectl get` (see `observe.rs`). Where
//! no cluster answers, `install` and `uninstall` still write and remove the files and say what
//! they did not do; every other command fails naming why and how to apply the files.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::{self, Installed, KubernetesLayout, Planned};
use super::observe::{self, Asked};
use crate::platform::Platform;
use crate::platform::backend::{
    Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service, run_tool, run_tool_ok, stream_tool,
};
use crate::platform::container::image;
use crate::platform::finding::{Finding, Mark};
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::plan::{Action, Found, Manifest, Plan, PlannedFile, Retirement, Step, When};
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, SystemRunner};
use crate::platform::status::{ServiceState, ServiceStatus};

/// How long `kubectl version` may take to reach the API server before the cluster counts as
/// not answering.
pub const REQUEST_TIMEOUT: &str = "5s";

/// How long `kubectl rollout status`, `kubectl wait` and `kubectl delete` wait: time for pods to
/// pass the startup probe (up to two minutes of `init` each) and for old ones to shut down.
pub const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(300);

/// The last log lines failure messages show.
const LOG_TAIL: &str = "20";

/// The Kubernetes backend on `host`; `R` runs `kubectl` (a recording fake in tests).
#[derive(Debug)]
pub struct KubernetesBackend<R: CommandRunner = SystemRunner> {
    runner: R,
    host: Host,
    /// What `kubectl version` answered: the server's version, or why no cluster answers.
    cluster: RefCell<Option<Result<String, String>>>,
    /// The last plan applies over objects the cluster already had (a failed install puts the
    /// previous files back into the cluster then; new ones are deleted by their steps' undo).
    replaces: Cell<bool>,
    /// What the last plan installs, for what `install --dry-run` would do once it is written.
    planned: RefCell<Option<Installed>>,
}

impl<R: CommandRunner> KubernetesBackend<R> {
    /// The backend on `host`, running `kubectl` through `runner`.
    pub fn new(runner: R, host: Host) -> KubernetesBackend<R> {
        KubernetesBackend {
            runner,
            host,
            cluster: RefCell::new(None),
            replaces: Cell::new(false),
            planned: RefCell::new(None),
        }
    }

    /// The runner, to inspect what was run.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    fn layout(&self, service: &Service<'_>) -> Result<KubernetesLayout, BackendError> {
        KubernetesLayout::of(&self.host, service.name, service.level)
    }

    /// `path` (as the service sees it) where it is on this machine, for kubectl's `-f`.
    fn file(&self, path: &Path) -> String {
        self.host.path(path).to_string_lossy().into_owned()
    }

    fn run(&self, invocation: &Invocation) -> Result<CommandOutput, BackendError> {
        run_tool(&self.runner, Platform::Kubernetes, invocation)
    }

    fn run_ok(&self, invocation: &Invocation) -> Result<String, BackendError> {
        run_tool_ok(&self.runner, Platform::Kubernetes, invocation)
    }

    /// The server's version, or why no cluster answers (asked once).
    fn cluster(&self) -> Result<String, String> {
        if let Some(answer) = self.cluster.borrow().as_ref() {
            return answer.clone();
        }
        let answer = if self.host.find_tool("kubectl").is_none() {
            Err("`kubectl` is not on PATH".to_owned())
        } else {
            let query = kubectl(["version", &format!("--request-timeout={REQUEST_TIMEOUT}")]);
            match self.runner.run(&query) {
                Ok(out) if out.succeeded() => {
                    let server = out.stdout.lines().find_map(|line| line.strip_prefix("Server Version:"));
                    Ok(server.map_or_else(|| "a server".to_owned(), |v| format!("server {}", v.trim())))
                }
                Ok(out) => Err(format!("`{query}` failed: {}", last_line(&out.stderr))),
                Err(err) => Err(format!("cannot run `{query}`: {err}")),
            }
        };
        *self.cluster.borrow_mut() = Some(answer.clone());
        answer
    }

    /// Fails unless a cluster answers, saying how to apply the manifests in `dir` by hand.
    fn reach(&self, dir: &Path) -> Result<(), BackendError> {
        self.cluster().map(drop).map_err(|why| BackendError::Unavailable {
            what: format!("no Kubernetes cluster answers through kubectl: {why}"),
            fix: format!("apply the manifests in {} with `{}`", dir.display(), apply_dir(dir)),
        })
    }

    /// The install found for `service`, if duende made it.
    fn installed(&self, service: &Service<'_>) -> Result<Option<Installed>, BackendError> {
        let Found::Ours(recorded) = self.found(service)? else { return Ok(None) };
        let text = fs::read(&self.host.path(&recorded.definition))?.unwrap_or_default();
        Ok(Some(Installed::read(&recorded.definition, &String::from_utf8_lossy(&text))))
    }

    /// The installed service, with a cluster that answers.
    fn require(&self, service: &Service<'_>) -> Result<(KubernetesLayout, Installed), BackendError> {
        let layout = self.layout(service)?;
        let installed = self
            .installed(service)?
            .ok_or_else(|| BackendError::NotInstalled { name: service.name.to_owned(), level: service.level })?;
        self.reach(&layout.dir)?;
        Ok((layout, installed))
    }

    /// `kubectl get` of `resources` (`kind/name`) in `namespace`, those that exist.
    fn objects(&self, namespace: &str, resources: &[String]) -> Result<Vec<serde_json::Value>, BackendError> {
        let mut args = vec!["get".to_owned()];
        args.extend(resources.iter().cloned());
        args.extend(["--namespace", namespace, "--ignore-not-found", "--output", "json"].map(str::to_owned));
        let out = self.run_ok(&kubectl(args))?;
        observe::items(&out).map_err(|err| BackendError::Render(err.to_string()))
    }

    fn apply(&self, installed: &Installed) -> Invocation {
        let mut args = vec!["apply".to_owned()];
        for path in &installed.manifests {
            args.extend(["-f".to_owned(), self.file(path)]);
        }
        kubectl(args)
    }

    fn rollout(&self, installed: &Installed, name: &str, verb: &str) -> Invocation {
        let resource = installed.resource(name);
        let mut args = vec!["rollout", verb, &resource, "--namespace", &installed.namespace];
        let timeout = format!("--timeout={}s", ROLLOUT_TIMEOUT.as_secs());
        if verb == "status" {
            args.push(&timeout);
        }
        kubectl(args)
    }

    /// Runs `commands` in order (none with `dry_run`), as one action.
    fn act_with(&self, commands: &[Invocation], dry_run: bool, done: &str) -> Result<Action, BackendError> {
        let shown: Vec<String> = commands.iter().map(|c| format!("`{c}`")).collect();
        let planned = format!("run {}", shown.join(", then "));
        if !dry_run {
            for command in commands {
                self.run_ok(command)?;
            }
        }
        Ok(Action::Do { planned, done: done.to_owned() })
    }

    /// `reload` in every running pod, through the daemon's own command.
    fn reload(&self, service: &Service<'_>, installed: &Installed, dry_run: bool) -> Result<Action, BackendError> {
        let name = service.name;
        let planned = format!(
            "run `{} reload` in each pod of {} with `kubectl exec`",
            image::binary_path(name),
            installed.resource(name)
        );
        if dry_run {
            return Ok(Action::Do { planned, done: String::new() });
        }
        let pods = self.run_ok(&kubectl([
            "get",
            "pods",
            "--selector",
            &selector(name),
            "--namespace",
            &installed.namespace,
            "--output",
            "json",
        ]))?;
        let pods = observe::items(&pods).map_err(|err| BackendError::Render(err.to_string()))?;
        let running: Vec<String> = pods
            .iter()
            .filter(|pod| pod["status"]["phase"] == "Running" && pod["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        if running.is_empty() {
            return Err(BackendError::NotObserved {
                expected: ServiceState::Running,
                observed: ServiceState::Starting,
                detail: format!("no pod of {} is running, so none can reload", installed.resource(name)),
            });
        }
        let mut verdicts = Vec::new();
        for pod in &running {
            let exec = kubectl([
                "exec",
                pod,
                "--namespace",
                &installed.namespace,
                "--container",
                name,
                "--",
                &image::binary_path(name),
                "reload",
            ]);
            let out = self.run(&exec)?;
            match out.status {
                Some(0) => verdicts.push(format!("pod {pod}: {}", out.stdout.trim())),
                Some(78) => {
                    let before =
                        if verdicts.is_empty() { String::new() } else { format!(" (after {})", verdicts.join("; ")) };
                    return Err(BackendError::Rejected(format!("pod {pod}: {}{before}", out.stderr.trim())));
                }
                status => return Err(BackendError::Command { invocation: exec, status, stderr: out.stderr }),
            }
        }
        Ok(Action::Do { planned, done: verdicts.join("\n") })
    }
}

/// `kubectl` with `args`.
fn kubectl<I, S>(args: I) -> Invocation
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Invocation::new("kubectl", args)
}

/// `kubectl apply -f DIR`, as an operator would type it.
fn apply_dir(dir: &Path) -> Invocation {
    kubectl(["apply".to_owned(), "-f".to_owned(), dir.to_string_lossy().into_owned()])
}

/// The label selector of the daemon's objects and pods.
fn selector(name: &str) -> String {
    format!("app.kubernetes.io/name={name},app.kubernetes.io/managed-by=duende")
}

/// The last line of a tool's message: kubectl ends with its summary (after a log line per retry).
fn last_line(text: &str) -> &str {
    text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no message").trim()
}

impl<R: CommandRunner> Backend for KubernetesBackend<R> {
    fn platform(&self) -> Platform {
        Platform::Kubernetes
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn available(&self, _level: Level) -> Result<(), BackendError> {
        // The files are the product; each command that needs the cluster asks for it.
        Ok(())
    }

    fn diagnose(&self, _level: Level) -> Vec<Finding> {
        const SECTION: &str = "kubernetes";
        vec![match self.cluster() {
            Ok(server) => Finding::new(SECTION, Mark::Ok, format!("kubectl reaches a cluster ({server})"), None),
            Err(why) => Finding::new(
                SECTION,
                Mark::Warn,
                format!("no Kubernetes cluster answers through kubectl: {why}"),
                Some(
                    "`install --platform kubernetes` still writes the manifests and the image for you to apply; point \
                     kubectl at a cluster (`KUBECONFIG`, `kubectl config use-context`) to have it apply them"
                        .to_owned(),
                ),
            ),
        }]
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        files::found(&self.host, &self.layout(service)?, service.name)
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
        let layout = self.layout(service)?;
        let settings = request.settings;
        let wanted = &settings.platform.kubernetes;
        let cluster = self.cluster();
        if let (true, Err(why)) = (request.options.start_now, &cluster) {
            return Err(BackendError::Unavailable {
                what: format!("`--now` starts the pods, and no Kubernetes cluster answers through kubectl: {why}"),
                fix: format!(
                    "install without `--now` to write the manifests to {}, and apply them where a cluster answers (`{}`)",
                    layout.dir.display(),
                    apply_dir(&layout.dir)
                ),
            });
        }
        let Planned { files, mut notes, kind, definition, digest } =
            files::plan(&self.host, service.name, &layout, request, previous)?;
        if let Some(workload) = files.last() {
            *self.planned.borrow_mut() =
                Some(Installed::read(&definition, &String::from_utf8_lossy(&workload.contents)));
        }

        let namespace = &wanted.namespace;
        let mut steps = Vec::new();
        let mut after = Vec::new();
        self.replaces.set(false);
        match cluster {
            Err(why) => notes.push(format!(
                "no Kubernetes cluster answers through kubectl ({why}): the manifests are written to {} and not \
                 applied; apply them where a cluster answers with `{}`",
                layout.dir.display(),
                apply_dir(&layout.dir)
            )),
            Ok(_) => {
                let wanted_objects = [("configmap", &layout.config_map), (&*kind.to_ascii_lowercase(), &definition)]
                    .map(|(kind, path)| (format!("{kind}/{name}"), kind.to_owned(), path.clone()));
                let resources: Vec<String> = wanted_objects.iter().map(|(resource, ..)| resource.clone()).collect();
                let live = self.objects(namespace, &resources)?;
                for (resource, kind, path) in wanted_objects {
                    let current = live.iter().find(|o| {
                        o["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(&kind))
                            && o["metadata"]["name"] == name
                    });
                    let labels = current.map(|o| &o["metadata"]["labels"]);
                    if labels.is_some_and(|l| l["app.kubernetes.io/managed-by"] != "duende") && !request.options.force {
                        return Err(BackendError::Foreign {
                            path: PathBuf::from(format!("{resource} in namespace {namespace} of the cluster")),
                        });
                    }
                    let in_place = current
                        .is_some_and(|o| o["metadata"]["annotations"][super::DIGEST_ANNOTATION] == digest.as_str());
                    self.replaces.set(self.replaces.get() || current.is_some());
                    let file = self.file(&path);
                    steps.push(Step {
                        run: kubectl(["apply", "-f", &file]),
                        undo: current.is_none().then(|| kubectl(["delete", "-f", &file, "--ignore-not-found"])),
                        when: if in_place { When::FilesChanged } else { When::Always },
                    });
                }
                // What an earlier install of another kind or namespace left in the cluster.
                if let Some(before) = self.installed(service)? {
                    let moved = before.namespace != *namespace;
                    if moved || before.kind != kind {
                        after.push(kubectl([
                            "delete",
                            &before.resource(name),
                            "--namespace",
                            &before.namespace,
                            "--ignore-not-found",
                        ]));
                    }
                    if moved {
                        after.push(kubectl([
                            "delete",
                            &format!("configmap/{name}"),
                            "--namespace",
                            &before.namespace,
                            "--ignore-not-found",
                        ]));
                    }
                }
            }
        }
        Ok(Plan { files, reread: None, steps, after, side_dirs: Vec::new(), notes })
    }

    fn verify(&self, _: &Service<'_>, _: &PlannedFile, _: bool) -> Result<Option<Invocation>, BackendError> {
        Ok(None)
    }

    fn retire(&self, service: &Service<'_>, _: &Observed) -> Result<Retirement, BackendError> {
        let layout = self.layout(service)?;
        let Some(installed) = self.installed(service)? else { return Ok(Retirement::default()) };
        let name = service.name;
        let mut retirement = Retirement::default();
        match self.cluster() {
            Ok(_) => {
                let timeout = format!("--timeout={}s", ROLLOUT_TIMEOUT.as_secs());
                for path in installed.manifests.iter().rev() {
                    let mut args =
                        vec!["delete".to_owned(), "-f".to_owned(), self.file(path), "--ignore-not-found".to_owned()];
                    if *path == installed.definition {
                        args.extend(["--cascade=foreground".to_owned(), timeout.clone()]);
                    }
                    retirement.steps.push(kubectl(args));
                }
            }
            Err(why) => retirement.notes.push(format!(
                "no Kubernetes cluster answers through kubectl ({why}): whatever was applied from {} stays in the \
                 cluster; where one answers, delete it with `{}`",
                layout.dir.display(),
                kubectl([
                    "delete",
                    &installed.resource(name),
                    &format!("configmap/{name}"),
                    "--namespace",
                    &installed.namespace
                ])
            )),
        }
        Ok(retirement)
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let layout = self.layout(service)?;
        let Some(installed) = self.installed(service)? else {
            return Ok(Observed {
                status: ServiceStatus::new(Platform::Kubernetes, service.level, ServiceState::NotInstalled),
                enabled: false,
                settled: true,
                summary: format!("no manifests of {} in {}", service.name, layout.dir.display()),
            });
        };
        self.reach(&layout.dir)?;
        let kinds = format!("{},pods", installed.kind.to_ascii_lowercase());
        let query = kubectl([
            "get",
            &kinds,
            "--selector",
            &selector(service.name),
            "--namespace",
            &installed.namespace,
            "--output",
            "json",
        ]);
        let asked =
            Asked { kind: &installed.kind, name: service.name, namespace: &installed.namespace, level: service.level };
        let seen =
            observe::interpret(&asked, &self.run_ok(&query)?).map_err(|err| BackendError::Render(err.to_string()))?;
        Ok(Observed {
            enabled: seen.status.detail != observe::NOT_APPLIED,
            settled: seen.settled,
            summary: seen.summary,
            status: seen.status,
        })
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        let name = service.name;
        let planned = self.planned.borrow().clone().filter(|_| dry_run);
        let installed = match planned {
            Some(installed) => installed,
            None => self.require(service)?.1,
        };
        let resource = installed.resource(name);
        let namespace = installed.namespace.as_str();
        let start = [self.apply(&installed), self.rollout(&installed, name, "status")];
        match op {
            Op::Start => self.act_with(
                &start,
                dry_run,
                &format!("applied {resource} in namespace {namespace} and saw it roll out"),
            ),
            Op::Stop if !dry_run && !self.observe(service)?.enabled => Ok(Action::Do {
                planned: String::new(),
                done: format!("{resource} is not in namespace {namespace} of the cluster: nothing to stop"),
            }),
            Op::Stop if installed.kind == "Deployment" => {
                let scale = kubectl(["scale", &resource, "--replicas=0", "--namespace", namespace]);
                let timeout = format!("--timeout={}s", ROLLOUT_TIMEOUT.as_secs());
                let wait = kubectl([
                    "wait",
                    "--for=delete",
                    "pod",
                    "--selector",
                    &selector(name),
                    "--namespace",
                    namespace,
                    &timeout,
                ]);
                let action = self.act_with(std::slice::from_ref(&scale), dry_run, "")?;
                if !dry_run {
                    // Older kubectl says so when no pod is left to wait for.
                    let out = self.run(&wait)?;
                    if !out.succeeded() && !out.stderr.contains("no matching resources found") {
                        return Err(BackendError::Command { invocation: wait, status: out.status, stderr: out.stderr });
                    }
                }
                let Action::Do { planned, .. } = action else { return Ok(action) };
                Ok(Action::Do {
                    planned: format!("{planned}, then `{wait}`"),
                    done: format!("scaled {resource} in namespace {namespace} to 0 replicas; its pods are gone"),
                })
            }
            Op::Stop => {
                // A DaemonSet runs on every node it selects and has no replica count to scale.
                let file = self.file(&installed.definition);
                let timeout = format!("--timeout={}s", ROLLOUT_TIMEOUT.as_secs());
                let delete = kubectl(["delete", "-f", &file, "--ignore-not-found", "--cascade=foreground", &timeout]);
                self.act_with(&[delete], dry_run, &format!("deleted {resource} (a DaemonSet cannot be scaled) and its pods from namespace {namespace}; `{name} start` applies it again"))
            }
            Op::Restart => {
                if dry_run {
                    // Applying changed manifests may have started a rollout, which would be waited for.
                    let restart = [self.rollout(&installed, name, "restart"), start[1].clone()];
                    return self.act_with(&restart, true, "");
                }
                match self.observe(service)?.state() {
                    ServiceState::Stopped | ServiceState::NotInstalled => self.act(service, Op::Start, dry_run),
                    // A rollout under way replaces every pod already: wait for it.
                    ServiceState::Starting => self.act_with(&start[1..], dry_run, &format!("saw {resource} roll out")),
                    _ => {
                        let restart = [self.rollout(&installed, name, "restart"), start[1].clone()];
                        self.act_with(
                            &restart,
                            dry_run,
                            &format!("replaced every pod of {resource} and saw them roll out"),
                        )
                    }
                }
            }
            Op::Reload => self.reload(service, &installed, dry_run),
        }
    }

    fn run_step(&self, _: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        self.run_ok(step).map(drop)
    }

    fn restore(&self, service: &Service<'_>, was_running: bool) {
        // New objects were deleted by their steps' undo; replaced ones get the previous files
        // (put back by now) applied again.
        if !self.replaces.get() || self.cluster().is_err() {
            return;
        }
        if let Ok(Some(installed)) = self.installed(service) {
            let _ = self.run(&self.apply(&installed));
            if !was_running {
                let _ = self.act(service, Op::Stop, false);
            }
        }
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        let Ok((_, installed)) = self.require(service) else { return "(no cluster to read logs from)".to_owned() };
        let tail = format!("--tail={LOG_TAIL}");
        match self.run(&kubectl([
            "logs",
            &installed.resource(service.name),
            "--namespace",
            &installed.namespace,
            &tail,
        ])) {
            Ok(out) => {
                let text = format!("{}{}", out.stdout, out.stderr);
                if text.trim().is_empty() { "(no log lines)".to_owned() } else { text.trim_end().to_owned() }
            }
            Err(err) => format!("(cannot read the pods' logs: {err})"),
        }
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        let (_, installed) = self.require(service)?;
        let mut args = vec![
            "logs".to_owned(),
            installed.resource(service.name),
            "--namespace".to_owned(),
            installed.namespace.clone(),
        ];
        if let Some(lines) = query.lines {
            args.push(format!("--tail={lines}"));
        }
        if query.follow {
            args.push("--follow".to_owned());
        }
        let invocation = kubectl(args);
        stream_tool(&self.runner, invocation, out)
    }

    fn control_socket(&self, _: &Service<'_>) -> Option<PathBuf> {
        // In the pods; `live_report` asks through `kubectl exec` instead.
        None
    }

    fn live_report(&self, service: &Service<'_>) -> Option<String> {
        let (_, installed) = self.require(service).ok()?;
        let name = service.name;
        let exec = kubectl([
            "exec",
            &installed.resource(name),
            "--namespace",
            &installed.namespace,
            "--container",
            name,
            "--",
            &image::binary_path(name),
            "status",
            "--json",
        ]);
        let output = self.runner.run(&exec).ok()?;
        let report: serde_json::Value = serde_json::from_str(output.stdout.trim()).ok()?;
        report.get("live").filter(|live| live.is_object()).map(ToString::to_string)
    }

    fn files_stand_alone(&self) -> bool {
        true
    }
}
