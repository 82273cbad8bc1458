//! The one engine every backend's plans go through: `install` (diff, `--dry-run`, transaction,
//! activation, waiting until ready, rollback), `uninstall`, the operations with their waits, and
//! `status` with drift. Backends describe; this module applies.
//!
//! `install` in order: find what an earlier install recorded (refusing a foreign definition
//! without `--force`), plan, compare each planned file with the host (byte-identical files are
//! not touched), and then write the changed files (the definition last, after the backend's
//! check of it), remove files the earlier install made that this one no longer wants, re-read
//! definitions, run the plan's steps, and start (`--now`) or restart (when the service ran and
//! something changed), waiting until the service is observed ready; then the install stands, and
//! the plan's clean-ups run (removing what it replaced). Any failure before that undoes the steps
//! that ran, puts every file and directory back, re-reads, restores the service's running
//! state, and removes directories the manager created on the way. When nothing differs, nothing
//! happens. Every change is journaled before it is made ([`fs::Transaction`]): an installer
//! killed half-way leaves the journal, and the next `install` or `uninstall` first takes the
//! interrupted install back (or finishes its clean-ups, when it stood), while `status` reports
//! the drift `interrupted`.
//!
//! A backend whose files stand alone ([`Backend::files_stand_alone`]: Kubernetes manifests)
//! installs and uninstalls them even when its manager cannot be reached; its notes say what was
//! not done there. `status` and the operations still fail then.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::backend::{Backend, BackendError, InstallRequest, Level, Observed, Op, Service};
use super::fault::Steps;
use super::fs::{self, Transaction};
use super::layout::DocPlaces;
pub use super::plan::Action;
use super::plan::{FileRole, Found, Manifest, PlannedFile, Step, When};
use super::runner::Invocation;
use super::status::{Drift, ServiceState, ServiceStatus};

/// How long the engine waits for a service to become ready or stopped after the backend acted
/// (a backend that waits itself, such as `systemctl start` of a `Type=notify` unit, leaves
/// little to wait for here).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How often the engine looks while it waits (a management command waiting, never the daemon).
const POLL: Duration = Duration::from_millis(100);

/// What a changing operation did, or with `dry_run` would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The changes, in order. Empty when everything already was as asked.
    pub actions: Vec<Action>,
    /// Nothing was changed: the actions are what would have happened.
    pub dry_run: bool,
}

impl Applied {
    /// True when the actions change nothing (at most notes).
    pub fn changes_nothing(&self) -> bool {
        self.actions.iter().all(|action| matches!(action, Action::Note(_)))
    }
}

/// The engine, holding how long it waits (tests shorten it).
#[derive(Debug, Clone, Copy)]
pub struct Engine {
    patience: Duration,
}

impl Default for Engine {
    fn default() -> Self {
        Engine { patience: PATIENCE }
    }
}

/// What an install found before changing anything.
struct Before {
    running: bool,
    new_dirs: Vec<PathBuf>,
    /// Nothing of the service was installed: a failed install leaves nothing either, including
    /// what its manager writes while it runs (a supervisor's log, an instance lock).
    fresh: Option<Fresh>,
}

/// What a fresh install's manager may write while the service runs: those files, and their
/// directories that did not exist before the install (deepest first).
struct Fresh {
    run_files: Vec<PathBuf>,
    new_dirs: Vec<PathBuf>,
}

impl Fresh {
    /// What `backend` says it would retire for `service` (nothing when it cannot say).
    fn of(backend: &dyn Backend, service: &Service<'_>, observed: &Observed) -> Fresh {
        let host = backend.host();
        let run_files = backend.retire(service, observed).map(|r| r.run_files).unwrap_or_default();
        let mut new_dirs: Vec<PathBuf> = run_files.iter().flat_map(|file| host.missing_dirs(file)).collect();
        new_dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        new_dirs.dedup();
        Fresh { run_files, new_dirs }
    }
}

/// What an install changes.
struct Changes<'a> {
    changed: Vec<&'a PlannedFile>,
    stale: Vec<PathBuf>,
    reread: Option<&'a Invocation>,
    steps: Vec<&'a Step>,
    op: Option<Op>,
    /// The steps replace the running service themselves: wait until it is ready after them.
    wait: bool,
    after: &'a [Invocation],
}

impl Engine {
    /// An engine that waits at most `patience` for a service to settle.
    pub const fn with_patience(patience: Duration) -> Engine {
        Engine { patience }
    }

    /// Installs the service (see the module documentation).
    pub fn install(
        &self,
        backend: &dyn Backend,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
    ) -> Result<Applied, BackendError> {
        let options = request.options;
        backend.available(service.level)?;
        if !options.dry_run {
            ensure_root(backend, service, "install")?;
        }
        let host = backend.host();
        let mut recovered = None;
        let (absent, previous, plan, journal) = loop {
            let found = backend.found(service)?;
            let absent = matches!(found, Found::Absent);
            let previous = match found {
                Found::Absent => Manifest::default(),
                Found::Ours(recorded) => recorded.manifest,
                Found::Foreign(path) if !options.force => return Err(BackendError::Foreign { path }),
                Found::Foreign(_) => Manifest::default(),
            };
            let preparing = backend.preparing().map(crate::progress::step);
            let plan = backend.plan(service, request, &previous)?;
            if let Some(step) = preparing {
                step.done();
            }
            let journal = journal(host, &plan);
            // An install killed half-way left its journal: its changes are undone first (or, when
            // it stood, its clean-ups finished), so this one starts from the installation before
            // it (and redoes every step).
            if !options.dry_run && recovered.is_none() && journal.as_ref().is_some_and(|journal| journal.exists()) {
                recovered = recover(backend, service, journal.as_deref().unwrap_or(Path::new("")))?;
                continue;
            }
            break (absent, previous, plan, journal);
        };
        let mut changed = Vec::new();
        for file in &plan.files {
            if fs::read(&host.path(&file.path))?.as_deref() != Some(file.contents.as_slice()) {
                changed.push(file);
            }
        }
        let stale: Vec<PathBuf> = previous
            .files
            .iter()
            .filter(|path| !plan.files.iter().any(|p| &p.path == *path) && host.path(path).exists())
            .cloned()
            .collect();
        let observed = observe_for_files(backend, service)?;
        let before = Before {
            running: observed.is_up(),
            new_dirs: plan.side_dirs.iter().filter(|dir| !host.path(dir).exists()).cloned().collect(),
            fresh: (absent && !observed.is_up()).then(|| Fresh::of(backend, service, &observed)),
        };
        let files_change = !changed.is_empty() || !stale.is_empty();
        // Completions and the man page are not the service's: when only they changed, they are
        // written and nothing is re-read or restarted.
        let service_changes = changed.iter().any(|file| file.role != FileRole::Docs) || !stale.is_empty();
        let in_place = backend.updates_in_place();
        let changes = Changes {
            reread: plan.reread.as_ref().filter(|_| service_changes),
            steps: plan.steps.iter().filter(|step| service_changes || step.when == When::Always).collect(),
            op: if before.running && service_changes {
                (!in_place).then_some(Op::Restart)
            } else if options.start_now && !before.running {
                Some(Op::Start)
            } else {
                None
            },
            wait: in_place && before.running && service_changes,
            changed,
            stale,
            after: &plan.after,
        };
        let mut actions: Vec<Action> = plan.notes.iter().cloned().map(Action::Note).collect();
        if let Some(note) = recovered {
            actions.push(Action::Note(note.to_owned()));
        } else if journal.as_ref().is_some_and(|journal| journal.exists()) {
            actions.push(Action::Note(
                "an earlier install was interrupted: install first puts back what it changed".to_owned(),
            ));
        }
        if !files_change && changes.steps.is_empty() && changes.op.is_none() {
            actions.push(Action::Note(format!(
                "nothing to change: {} is already installed as a {} {} service (definition, binary and \
                 configuration are identical)",
                service.name,
                service.level,
                backend.platform()
            )));
            return Ok(Applied { actions, dry_run: options.dry_run });
        }
        if options.dry_run {
            for file in &changes.changed {
                if file.role == FileRole::Definition
                    && let Some(verify) = backend.verify(service, file, true)?
                {
                    actions.push(Action::Run(verify));
                }
                actions.push(Action::Write { path: file.path.clone(), contents: file.shown.clone() });
            }
            actions.extend(changes.stale.iter().map(|path| Action::Remove { path: path.clone() }));
            actions.extend(changes.reread.map(|reread| Action::Run(reread.clone())));
            actions.extend(changes.steps.iter().map(|step| Action::Run(step.run.clone())));
            if let Some(op) = changes.op {
                actions.push(match backend.act(service, op, true) {
                    // A first install: what the backend would act on (a container, a label) is
                    // created by the install itself, so it cannot be asked yet.
                    Err(BackendError::NotInstalled { .. }) if absent => Action::Do {
                        planned: format!("{} {} and wait until it is ready", op.name(), service.name),
                        done: String::new(),
                    },
                    other => other?,
                });
            }
            actions.extend(changes.after.iter().cloned().map(Action::Run));
            return Ok(Applied { actions, dry_run: true });
        }
        let mut tx = journal.map_or_else(Transaction::new, Transaction::journaled);
        tx.context(changes.reread, before.running);
        let mut done = Vec::new();
        // Where a test may kill this installer (nothing without the feature `fault-injection`).
        let mut fault = Steps::default();
        let committed = self.commit(backend, service, &changes, &mut tx, &mut fault, &mut done, &mut actions);
        // The install stands once the service is as asked; what it replaced is removed after
        // that, and an installer killed then leaves only those clean-ups for the next one.
        let settled = committed.and_then(|()| {
            fault.before(|| "settle".to_owned());
            tx.settle(changes.after)
        });
        if let Err(err) = settled {
            undo(backend, service, tx, &done, changes.reread, &before);
            return Err(err);
        }
        for cleanup in changes.after {
            fault.before(|| format!("clean up: run {cleanup}"));
            actions.push(match backend.run_step(service, cleanup) {
                Ok(()) => Action::Run(cleanup.clone()),
                Err(err) => Action::Note(format!("warning: the install stands, but cleaning up failed: {err}")),
            });
            if let Err(err) = tx.cleaned() {
                actions.push(Action::Note(format!("warning: the install stands, but its journal: {err}")));
            }
        }
        tx.commit();
        Ok(Applied { actions, dry_run: false })
    }

    /// Applies the changes up to the service being as asked (the clean-ups are the caller's);
    /// the caller undoes them on error. `done` collects the steps that ran. Each command is
    /// journaled in `tx` before it runs.
    #[allow(clippy::too_many_arguments)]
    fn commit<'a>(
        &self,
        backend: &dyn Backend,
        service: &Service<'_>,
        changes: &Changes<'a>,
        tx: &mut Transaction,
        fault: &mut Steps,
        done: &mut Vec<&'a Step>,
        actions: &mut Vec<Action>,
    ) -> Result<(), BackendError> {
        let host = backend.host();
        let (definitions, others): (Vec<&PlannedFile>, Vec<&PlannedFile>) =
            changes.changed.iter().partition(|file| file.role == FileRole::Definition);
        for file in others {
            fault.before(|| format!("write {}", file.path.display()));
            tx.write(&host.path(&file.path), &file.contents, file.mode)?;
            actions.push(Action::Write { path: file.path.clone(), contents: file.shown.clone() });
        }
        for path in &changes.stale {
            fault.before(|| format!("remove {}", path.display()));
            tx.remove(&host.path(path))?;
            actions.push(Action::Remove { path: path.clone() });
        }
        for file in definitions {
            if let Some(verified) = backend.verify(service, file, false)? {
                actions.push(Action::Run(verified));
            }
            fault.before(|| format!("write {}", file.path.display()));
            tx.write(&host.path(&file.path), &file.contents, file.mode)?;
            actions.push(Action::Write { path: file.path.clone(), contents: file.shown.clone() });
        }
        if let Some(reread) = changes.reread {
            fault.before(|| format!("run {reread}"));
            tx.command(None)?;
            backend.run_step(service, reread)?;
            actions.push(Action::Run(reread.clone()));
        }
        for step in &changes.steps {
            fault.before(|| format!("run {}", step.run));
            tx.command(step.undo.as_ref())?;
            backend.run_step(service, &step.run)?;
            done.push(step);
            actions.push(Action::Run(step.run.clone()));
        }
        if let Some(op) = changes.op {
            fault.before(|| op.name().to_owned());
            tx.command(None)?;
            let (action, _) = self.operate_installed(backend, service, op)?;
            actions.push(action);
        }
        if changes.wait {
            self.wait_ready(backend, service)?;
        }
        Ok(())
    }

    /// Removes exactly what `install` created: stops the service, runs the backend's retirement
    /// steps, removes the recorded files and the definition, the data directories when empty
    /// (saying so when they are kept), the recorded directories when empty, and re-reads.
    pub fn uninstall(&self, backend: &dyn Backend, service: &Service<'_>) -> Result<Applied, BackendError> {
        backend.available(service.level)?;
        ensure_root(backend, service, "uninstall")?;
        let host = backend.host();
        let mut found = backend.found(service)?;
        let mut recovered = None;
        if let Found::Ours(recorded) = &found {
            // What the interrupted install changed is put back first (or its clean-ups
            // finished); what is left is removed.
            recovered = recover(backend, service, &fs::journal_of(&host.path(&recorded.definition)))?;
            if recovered.is_some() {
                found = backend.found(service)?;
            }
        }
        let recorded = match found {
            Found::Absent => {
                let note = format!(
                    "{} is not installed as a {} {} service; nothing to remove",
                    service.name,
                    service.level,
                    backend.platform()
                );
                return Ok(Applied { actions: vec![Action::Note(note)], dry_run: false });
            }
            Found::Foreign(path) => return Err(BackendError::Foreign { path }),
            Found::Ours(recorded) => recorded,
        };
        let mut actions = Vec::new();
        if let Some(note) = recovered {
            actions.push(Action::Note(note.to_owned()));
        }
        let mut observed = observe_for_files(backend, service)?;
        if matches!(observed.state(), ServiceState::Running | ServiceState::Starting | ServiceState::Stopping) {
            actions.push(backend.act(service, Op::Stop, false)?);
            observed = self.wait_stopped(backend, service)?;
        }
        let retirement = backend.retire(service, &observed)?;
        actions.extend(retirement.notes.iter().cloned().map(Action::Note));
        for step in &retirement.steps {
            backend.run_step(service, step)?;
            actions.push(Action::Run(step.clone()));
        }
        for path in recorded.manifest.files.iter().chain(&retirement.run_files).chain([&recorded.definition]) {
            let on_host = host.path(path);
            if on_host.exists() {
                std::fs::remove_file(&on_host).map_err(|source| BackendError::Io { path: path.clone(), source })?;
                actions.push(Action::Remove { path: path.clone() });
            }
        }
        for dir in retirement.data_dirs.iter().filter(|dir| host.path(dir).is_dir()) {
            if std::fs::remove_dir(host.path(dir)).is_ok() {
                actions.push(Action::Remove { path: dir.clone() });
            } else {
                actions.push(Action::Note(format!(
                    "kept {}: it holds {}'s data; remove it yourself when it is no longer needed",
                    dir.display(),
                    service.name
                )));
            }
        }
        let mut dirs = recorded.manifest.dirs.clone();
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        for dir in dirs {
            // Only when empty: anything else in it is not ours to remove.
            if std::fs::remove_dir(host.path(&dir)).is_ok() {
                actions.push(Action::Remove { path: dir });
            }
        }
        if let Some(reread) = &retirement.reread {
            backend.run_step(service, reread)?;
            actions.push(Action::Run(reread.clone()));
        }
        Ok(Applied { actions, dry_run: false })
    }

    /// Carries out `op` on the installed service and returns what was done and the status
    /// observed once it took effect: ready after start, restart and reload, stopped after stop.
    pub fn operate(
        &self,
        backend: &dyn Backend,
        service: &Service<'_>,
        op: Op,
    ) -> Result<(Action, ServiceStatus), BackendError> {
        backend.available(service.level)?;
        ensure_root(backend, service, op.name())?;
        let observed = backend.observe(service)?;
        if observed.state() == ServiceState::NotInstalled {
            return Err(BackendError::NotInstalled { name: service.name.to_owned(), level: service.level });
        }
        if op == Op::Reload && !observed.status.ready {
            return Err(BackendError::NotObserved {
                expected: ServiceState::Running,
                observed: observed.state(),
                detail: format!("only a running service can reload; start it with `{} start`", service.name),
            });
        }
        let (action, status) = self.operate_installed(backend, service, op)?;
        Ok((action, with_binary_drift(backend, backend.found(service).as_ref().ok(), status)))
    }

    /// `op` and its wait; a backend error carries what was observed and the last log lines.
    fn operate_installed(
        &self,
        backend: &dyn Backend,
        service: &Service<'_>,
        op: Op,
    ) -> Result<(Action, ServiceStatus), BackendError> {
        let action = backend.act(service, op, false).map_err(|err| match err {
            BackendError::Command { .. } if op != Op::Stop => {
                let observed = backend.observe(service);
                let (state, summary) =
                    observed.map(|o| (o.state(), o.summary)).unwrap_or((ServiceState::Failed, String::new()));
                BackendError::NotObserved {
                    expected: ServiceState::Running,
                    observed: state,
                    detail: format!("{err}\n{summary}\nlast log lines:\n{}", backend.log_tail(service)),
                }
            }
            other => other,
        })?;
        let status = if op == Op::Stop {
            self.wait_stopped(backend, service)?.status
        } else {
            self.wait_ready(backend, service)?
        };
        Ok((action, status))
    }

    /// Looks until the service is ready; a settled state, or running out of patience, is an
    /// error carrying the last log lines.
    fn wait_ready(&self, backend: &dyn Backend, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        let deadline = Instant::now() + self.patience;
        let step = crate::progress::step(format!("waiting for {} to be ready", service.name));
        loop {
            let observed = backend.observe(service)?;
            if observed.status.ready {
                step.done();
                return Ok(observed.status);
            }
            let out_of_time = Instant::now() >= deadline;
            if observed.settled || out_of_time {
                let waited =
                    if out_of_time { format!(" (still not ready after {:?})", self.patience) } else { String::new() };
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Running,
                    observed: observed.state(),
                    detail: format!("{}{waited}\nlast log lines:\n{}", observed.summary, backend.log_tail(service)),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Looks until the service is stopped (or failed).
    fn wait_stopped(&self, backend: &dyn Backend, service: &Service<'_>) -> Result<Observed, BackendError> {
        let deadline = Instant::now() + self.patience;
        loop {
            let observed = backend.observe(service)?;
            if matches!(observed.state(), ServiceState::Stopped | ServiceState::Failed | ServiceState::NotInstalled) {
                return Ok(observed);
            }
            if Instant::now() >= deadline {
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Stopped,
                    observed: observed.state(),
                    detail: observed.summary,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// The service's status, with what differs from what `install` with `request` would put in
    /// place (when the configuration is known; without it, only a changed binary is told).
    pub fn status(
        &self,
        backend: &dyn Backend,
        service: &Service<'_>,
        request: Option<&InstallRequest<'_>>,
    ) -> Result<ServiceStatus, BackendError> {
        backend.available(service.level)?;
        let status = backend.observe(service)?.status;
        // What the install recorded is read once, for both kinds of drift.
        let found = backend.found(service);
        let mut status = with_binary_drift(backend, found.as_ref().ok(), status);
        if interrupted(backend, service, request, found.as_ref().ok()) {
            status.add_drift([Drift::Interrupted]);
        }
        if let Some(request) = request {
            status.add_drift(self.drift(backend, service, request, &found?)?);
        }
        Ok(status)
    }

    /// What differs between the installed service (`found`) and what `install` with `request`
    /// would write now, installing the same way as before (copied or in place, with the
    /// configuration file the service already has unless a new one is given); empty when nothing
    /// is installed.
    pub fn drift(
        &self,
        backend: &dyn Backend,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        found: &Found,
    ) -> Result<Vec<Drift>, BackendError> {
        let Found::Ours(recorded) = found else { return Ok(Vec::new()) };
        let host = backend.host();
        let installed_config = recorded.config.as_ref().map(|config| host.path(config));
        let options = super::backend::InstallOptions { copy_binary: recorded.binary.is_some(), ..request.options };
        let request =
            InstallRequest { options, config_file: request.config_file.or(installed_config.as_deref()), ..*request };
        let plan = backend.plan(service, &request, &recorded.manifest)?;
        let mut drift = Vec::new();
        for file in &plan.files {
            if fs::read(&host.path(&file.path))?.as_deref() != Some(file.contents.as_slice()) {
                drift.push(file.role.drift());
            }
        }
        Ok(drift)
    }
}

/// The service's state as `install` and `uninstall` go by: what the backend observes, or, for a
/// backend whose files stand alone ([`Backend::files_stand_alone`]) when its manager cannot be
/// reached, nothing known to run (with why as the summary).
fn observe_for_files(backend: &dyn Backend, service: &Service<'_>) -> Result<Observed, BackendError> {
    match backend.observe(service) {
        Err(BackendError::Unavailable { what, .. }) if backend.files_stand_alone() => Ok(Observed {
            status: ServiceStatus::new(backend.platform(), service.level, ServiceState::NotInstalled),
            enabled: false,
            settled: true,
            summary: what,
        }),
        observed => observed,
    }
}

/// What `install` and `uninstall` say when they undid an interrupted install first.
const INTERRUPTED_UNDONE: &str = "an earlier install was interrupted: what it changed was put back first";

/// What they say when an interrupted install had stood and only its clean-ups were left.
const INTERRUPTED_FINISHED: &str =
    "an earlier install was interrupted after it stood: the clean-ups it left were finished first";

/// Recovers from an install killed before it finished, as its journal at `journal` tells: once
/// the install stood, its clean-ups are run; before that, the commands it began are taken back
/// (newest first), its files put back, the manager re-reads them, and the service is brought
/// back to the state it had (stopped before the files go, when it did not run; started again
/// after, when it ran). Taking back a command is best effort, as in a failed install's rollback:
/// each was journaled before it ran, so its undo may find nothing to undo. `None` when there was
/// no journal; otherwise what to tell the operator.
fn recover(backend: &dyn Backend, service: &Service<'_>, journal: &Path) -> Result<Option<&'static str>, BackendError> {
    let Some(interrupted) = fs::Interrupted::read(journal)? else { return Ok(None) };
    if interrupted.stood() {
        for cleanup in interrupted.cleanups() {
            let _ = backend.run_step(service, &cleanup);
        }
        interrupted.finish_files()?;
        return Ok(Some(INTERRUPTED_FINISHED));
    }
    for undo in interrupted.undos() {
        let _ = backend.run_step(service, &undo);
    }
    let running = interrupted.running_before();
    if running == Some(false) {
        backend.restore(service, false);
    }
    let reread = interrupted.reread();
    interrupted.finish_files()?;
    if let Some(reread) = reread {
        let _ = backend.run_step(service, &reread);
    }
    if running == Some(true) {
        backend.restore(service, true);
    }
    Ok(Some(INTERRUPTED_UNDONE))
}

/// The journal of an install of `plan`, beside its definition (see [`fs::Transaction`]).
fn journal(host: &super::host::Host, plan: &super::plan::Plan) -> Option<PathBuf> {
    let definition = plan.files.iter().find(|file| file.role == FileRole::Definition)?;
    Some(fs::journal_of(&host.path(&definition.path)))
}

/// An install was killed before it finished: its journal is beside the recorded definition, or
/// (a first install killed before it wrote the definition) beside the one `request` would write.
fn interrupted(
    backend: &dyn Backend,
    service: &Service<'_>,
    request: Option<&InstallRequest<'_>>,
    found: Option<&Found>,
) -> bool {
    let host = backend.host();
    if let Some(Found::Ours(recorded)) = found
        && fs::journal_of(&host.path(&recorded.definition)).exists()
    {
        return true;
    }
    let planned = request.and_then(|request| backend.plan(service, request, &Manifest::default()).ok());
    planned.and_then(|plan| journal(host, &plan)).is_some_and(|journal| journal.exists())
}

/// Adds binary drift: the installed copy differs from this binary.
fn with_binary_drift(backend: &dyn Backend, found: Option<&Found>, mut status: ServiceStatus) -> ServiceStatus {
    let host = backend.host();
    if let (Some(Found::Ours(recorded)), Some(this)) = (found, &host.this_binary)
        && let Some(binary) = &recorded.binary
    {
        let installed = fs::read(&host.path(binary)).ok().flatten();
        if installed.is_none() || installed != fs::read(this).ok().flatten() {
            status.add_drift([Drift::Binary]);
        }
    }
    status
}

/// Puts back what a failed install changed (best effort: the install's error is what the
/// operator needs, so a failing step here does not hide it).
fn undo(
    backend: &dyn Backend,
    service: &Service<'_>,
    tx: Transaction,
    done: &[&Step],
    reread: Option<&Invocation>,
    before: &Before,
) {
    for step in done.iter().rev() {
        if let Some(undo) = &step.undo {
            let _ = backend.run_step(service, undo);
        }
    }
    let host = backend.host();
    // Before any command, only files changed: the service runs as it did and is left alone.
    let began = tx.began_commands();
    // A fresh install is stopped first, and what its manager wrote while it ran goes before the
    // transaction removes the directories it created (then empty).
    if let Some(fresh) = &before.fresh {
        backend.restore(service, false);
        for file in fresh.run_files.iter().filter(|file| host.path(file).is_file()) {
            let _ = std::fs::remove_file(host.path(file));
        }
    }
    let _ = tx.rollback();
    if let Some(reread) = reread {
        let _ = backend.run_step(service, reread);
    }
    if before.fresh.is_none() && began {
        backend.restore(service, before.running);
    }
    let run_dirs = before.fresh.iter().flat_map(|fresh| fresh.new_dirs.iter());
    for dir in run_dirs.chain(before.new_dirs.iter().rev()) {
        let _ = std::fs::remove_dir(host.path(dir));
    }
}

/// A system service is root's to change.
fn ensure_root(backend: &dyn Backend, service: &Service<'_>, command: &str) -> Result<(), BackendError> {
    if service.level == Level::System && !backend.host().is_root() {
        return Err(BackendError::NeedsRoot {
            what: format!("`{command}` for a system service"),
            name: service.name.to_owned(),
            command: command.to_owned(),
        });
    }
    Ok(())
}

/// The file at `path` must exist: what `install` copies from.
pub fn read_source(path: &Path) -> Result<Vec<u8>, BackendError> {
    fs::read(path)?.ok_or_else(|| BackendError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    })
}

/// Whether `path` lies in a cargo target directory (`.../target/{debug,release,...}/`).
pub fn in_cargo_target(path: &Path) -> bool {
    let parts: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.windows(2).any(|pair| pair[0] == "target" && matches!(pair[1].as_str(), "debug" | "release"))
        || parts.iter().any(|p| p == "target") && parts.iter().any(|p| p == "deps")
}

/// The binary a service runs and, when it is copied, the planned copy: this binary copied to
/// `stable` (unless `request` says to run it in place or `binary_path` names one), with a
/// warning in `notes` for a binary run from a cargo target directory.
pub fn binary_plan(
    request: &InstallRequest<'_>,
    stable: &Path,
    notes: &mut Vec<String>,
) -> Result<(PathBuf, Option<PlannedFile>), BackendError> {
    let configured = request.settings.binary_path.clone();
    let copy = request.options.copy_binary && configured.is_none();
    if copy {
        let bytes = read_source(request.binary)?;
        let shown = format!("(a copy of {}, {} bytes, mode 0755)", request.binary.display(), bytes.len());
        let file =
            PlannedFile { path: stable.to_path_buf(), contents: bytes, mode: 0o755, shown, role: FileRole::Binary };
        return Ok((stable.to_path_buf(), Some(file)));
    }
    let exec = configured.unwrap_or_else(|| request.binary.to_path_buf());
    if in_cargo_target(&exec) {
        notes.push(format!(
            "warning: the service runs {} from a cargo target directory; `cargo build` or `cargo clean` will change \
             or remove it under the running service (install without `--in-place` to copy it)",
            exec.display()
        ));
    }
    Ok((exec, None))
}

/// The shell completions and the man page of `request`, planned where [`DocPlaces`] puts them for
/// `service` on `host`; none when the request has none. `--dry-run` describes each in a line (the
/// command that prints it shows the whole text) rather than burying the definition under
/// hundreds of lines of script.
pub fn docs_plan(
    request: &InstallRequest<'_>,
    host: &super::host::Host,
    service: &Service<'_>,
) -> Result<Vec<PlannedFile>, BackendError> {
    let Some(docs) = request.docs else { return Ok(Vec::new()) };
    let places = DocPlaces::of(host, service.name, service.level)?;
    Ok([
        (places.bash, &docs.bash, "the bash completion script", "completions bash"),
        (places.zsh, &docs.zsh, "the zsh completion function", "completions zsh"),
        (places.fish, &docs.fish, "the fish completions", "completions fish"),
        (places.man, &docs.man, "the man page", "man"),
    ]
    .into_iter()
    .map(|(path, text, what, command)| PlannedFile {
        path,
        contents: text.clone().into_bytes(),
        mode: 0o644,
        shown: format!("({what}, {} bytes, mode 0644: what `{} {command}` prints)", text.len(), service.name),
        role: FileRole::Docs,
    })
    .collect())
}

/// `--config PATH` planned at `installed`, when given.
pub fn config_plan(request: &InstallRequest<'_>, installed: &Path) -> Result<Option<PlannedFile>, BackendError> {
    let Some(source) = request.config_file else { return Ok(None) };
    let bytes = read_source(source)?;
    let shown = String::from_utf8_lossy(&bytes).into_owned();
    Ok(Some(PlannedFile { path: installed.to_path_buf(), contents: bytes, mode: 0o644, shown, role: FileRole::Config }))
}
