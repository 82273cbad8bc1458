//! The backend against a recording runner standing in for `docker` (the real engine is the
//! e2e suite's, tests/tests/swarm.rs): what `check` says of each swarm state, the words of the
//! verbs, and a record read back for them.

use std::path::Path;

use super::SwarmBackend;
use super::record::{self, Record};
use crate::platform::backend::{Backend, BackendError, Level, Op, Service};
use crate::platform::finding::Mark;
use crate::platform::host::Host;
use crate::platform::plan::{Action, Manifest};
use crate::platform::runner::{CommandOutput, RecordingRunner};

const SERVICE: Service<'static> = Service { name: "demo", level: Level::System };

/// A host under `root` whose PATH has a (never run) `docker`.
fn host(root: &Path) -> Host {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bin.join("docker"), "").unwrap_or_else(|e| panic!("{e}"));
    Host::under(root, 0).with_var("PATH", bin.to_string_lossy())
}

fn findings(reply: CommandOutput) -> Vec<(Mark, String, Option<String>)> {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let runner = RecordingRunner::new().reply(Ok(reply)).reply(Ok(CommandOutput::success("vm\n")));
    let backend = SwarmBackend::with_runner(runner, host(root.path()).with_var("DOCKER_HOST", "unix:///d.sock"));
    backend.diagnose(Level::System).into_iter().map(|f| (f.mark, f.text, f.fix)).collect()
}

#[test]
fn check_says_whether_the_engine_is_a_manager_and_how_to_make_it_one() {
    let manager = findings(CommandOutput::success("active true\n"));
    assert_eq!(manager[0].0, Mark::Ok);
    assert_eq!(manager[0].1, "the docker engine at unix:///d.sock is a swarm manager (1 node(s) in the swarm)");
    let alone = findings(CommandOutput::success("inactive false\n"));
    assert_eq!(alone[0].0, Mark::Problem);
    assert!(alone[0].1.contains("not part of a swarm (swarm state `inactive`)"), "{alone:?}");
    assert!(alone[0].2.as_deref().is_some_and(|fix| fix.contains("docker swarm init --advertise-addr")), "{alone:?}");
    let worker = findings(CommandOutput::success("active false\n"));
    assert!(worker[0].1.contains("swarm worker") && worker[0].2.as_deref().is_some_and(|f| f.contains("promote")));
    let down = findings(CommandOutput::failure(1, "Cannot connect to the Docker daemon"));
    assert!(down[0].1.contains("does not answer") && down[0].1.contains("Cannot connect"), "{down:?}");
}

/// A backend with a record of `replicas` (0: global) installed under a temporary root.
fn installed(root: &Path, replicas: u32) -> SwarmBackend<RecordingRunner> {
    installed_with(root, replicas, RecordingRunner::new())
}

/// The same, answering from `runner`'s script.
fn installed_with(root: &Path, replicas: u32, runner: RecordingRunner) -> SwarmBackend<RecordingRunner> {
    let record = Record {
        endpoint: Some("unix:///d.sock".into()),
        service: "demo".into(),
        image: "localhost/demo:abc".into(),
        archive: "/var/cache/demo/demo-swarm-image.tar".into(),
        config_object: None,
        config: None,
        replicas,
        hash: "0011223344556677".into(),
    };
    let text = record::render("demo", &record, &Manifest::default()).unwrap_or_default();
    std::fs::create_dir_all(root.join("etc/demo")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(root.join("etc/demo/demo.swarm.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    SwarmBackend::with_runner(runner, host(root))
}

fn words(action: &Action) -> String {
    match action {
        Action::Run(invocation) => invocation.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn stop_and_start_scale_and_a_global_service_is_kept_off_every_node() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = installed(root.path(), 3);
    let stop = backend.act(&SERVICE, Op::Stop, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(words(&stop), "docker --host unix:///d.sock service scale --detach demo=0");
    let start = backend.act(&SERVICE, Op::Start, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(words(&start), "docker --host unix:///d.sock service scale --detach demo=3");
    let restart = backend.act(&SERVICE, Op::Restart, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(words(&restart), "docker --host unix:///d.sock service update --detach=false --quiet --force demo");
    assert!(backend.runner_calls().is_empty(), "a dry run runs nothing");

    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let global = installed(root.path(), 0);
    let stop = global.act(&SERVICE, Op::Stop, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        words(&stop),
        "docker --host unix:///d.sock service update --detach --constraint-add node.labels.io.duende.stopped==true \
         demo"
    );
    assert_eq!(global.runner_calls().len(), 1);
}

#[test]
fn without_a_record_nothing_is_installed() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = SwarmBackend::with_runner(RecordingRunner::new(), host(root.path()));
    let err = backend.act(&SERVICE, Op::Stop, false).err();
    assert!(matches!(err, Some(BackendError::NotInstalled { .. })), "{err:?}");
    let observed = backend.observe(&SERVICE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(observed.state(), crate::platform::status::ServiceState::NotInstalled);
}

/// `docker inspect --type task` of a task the engine pruned since `service ps` listed it: the
/// found tasks on stdout, `not found` for the other, exit 1.
fn pruned_between_ps_and_inspect(inspect: CommandOutput) -> Result<String, BackendError> {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let service = r#"[{"ID":"s1","Spec":{"Mode":{"Replicated":{"Replicas":1}},
        "TaskTemplate":{"ContainerSpec":{"Image":"localhost/demo:abc"}}}}]"#;
    let runner = RecordingRunner::new()
        .reply(Ok(CommandOutput::success(service)))
        .reply(Ok(CommandOutput::success("t1\nt0\n")))
        .reply(Ok(inspect));
    let backend = installed_with(root.path(), 1, runner);
    let observed = backend.observe(&SERVICE)?;
    let calls: Vec<String> = backend.runner_calls().iter().map(ToString::to_string).collect();
    assert_eq!(calls[2], "docker --host unix:///d.sock inspect --type task t1 t0");
    Ok(format!("{:?} {}", observed.state(), observed.status.manager["Replicas"]))
}

#[test]
fn a_task_pruned_between_listing_and_inspecting_is_history_gone_not_an_error() {
    let found = r#"[{"ID":"t1","Slot":1,"DesiredState":"running","Status":{"State":"running"}}]"#;
    let pruned = CommandOutput {
        status: Some(1),
        stdout: found.to_owned(),
        stderr: "Error response from daemon: task t0 not found\n".to_owned(),
    };
    let seen = pruned_between_ps_and_inspect(pruned).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen, "Running 1/1");
    let all_gone =
        CommandOutput { status: Some(1), stdout: "[]\n".to_owned(), stderr: "Error: No such task: t1\n".to_owned() };
    assert_eq!(pruned_between_ps_and_inspect(all_gone).unwrap_or_else(|e| panic!("{e}")), "Starting 0/1");
    // Any other complaint is still an error, named with the command.
    let refused = CommandOutput {
        status: Some(1),
        stdout: String::new(),
        stderr: "Error response from daemon: task t0 not found\npermission denied\n".to_owned(),
    };
    let err = pruned_between_ps_and_inspect(refused).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("inspect --type task t1 t0") && err.contains("permission denied"), "{err}");
}
