//! [`KubernetesBackend`] against a temporary directory as the file system root and a fake
//! `kubectl` that keeps the cluster's objects (applied from the very files the backend wrote,
//! read back with libyaml's rules), so install, update, rollback and uninstall are checked file
//! by file and command by command. Without `kubectl` on `PATH`, nothing is run at all.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

use super::KubernetesBackend;
use crate::config::Settings;
use crate::config::platforms::KubernetesKind;
use crate::platform::backend::{Backend, BackendError, InstallOptions, InstallRequest, Level, LogQuery, Op, Service};
use crate::platform::engine::{Action, Applied, Engine};
use crate::platform::host::Host;
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, RecordingRunner};
use crate::platform::status::ServiceState;

/// What the fake cluster holds.
#[derive(Debug, Default)]
struct Cluster {
    /// No server answers `kubectl version`.
    down: bool,
    /// `kubectl rollout status` times out (the pods crash).
    crashing: bool,
    /// `kind/name/namespace` → the object as applied.
    objects: BTreeMap<String, Value>,
    /// Workloads whose latest spec the controller has not rolled out yet (until `kubectl
    /// rollout status` looks).
    pending: BTreeSet<String>,
}

/// A `kubectl` acting on [`Cluster`].
#[derive(Debug, Default)]
struct FakeKubectl {
    cluster: Mutex<Cluster>,
    calls: Mutex<Vec<Invocation>>,
}

impl FakeKubectl {
    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).iter().map(ToString::to_string).collect()
    }

    /// The commands that change the cluster.
    fn changing_calls(&self) -> Vec<String> {
        let reading = ["kubectl version", "kubectl get", "kubectl logs", "kubectl rollout status", "kubectl wait"];
        self.calls().into_iter().filter(|c| !reading.iter().any(|r| c.starts_with(r))).collect()
    }

    fn objects(&self) -> Vec<String> {
        self.cluster().objects.keys().cloned().collect()
    }
}

fn key(kind: &str, name: &str, namespace: &str) -> String {
    format!("{}/{name}/{namespace}", kind.to_ascii_lowercase())
}

fn read_manifest(path: &str) -> io::Result<Value> {
    serde_norway::from_str(&fs::read_to_string(path)?).map_err(io::Error::other)
}

fn flag<'a>(words: &[&'a str], name: &str) -> Option<&'a str> {
    words.iter().position(|w| *w == name).and_then(|i| words.get(i + 1)).copied()
}

/// The workload as the API server shows it: rolled out (or crashing, or not yet looked at by
/// its controller), with one pod per replica.
fn live(object: &Value, crashing: bool, pending: bool) -> Vec<Value> {
    let mut object = object.clone();
    let replicas = object.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or(1);
    let good = if crashing { 0 } else { replicas };
    let seen = u64::from(!pending);
    object["metadata"]["generation"] = json!(1);
    object["status"] = if object["kind"] == "Deployment" {
        json!({ "observedGeneration": seen, "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": good, "availableReplicas": good })
    } else {
        json!({ "observedGeneration": seen, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1,
                "numberReady": good, "numberAvailable": good })
    };
    let pods = if object["kind"] == "Deployment" { replicas } else { 1 };
    let state =
        if crashing { json!({ "waiting": { "reason": "CrashLoopBackOff" } }) } else { json!({ "running": {} }) };
    let mut items = vec![object];
    for n in 0..pods {
        items.push(json!({ "kind": "Pod", "metadata": { "name": format!("demo-{n}") },
            "status": { "phase": "Running",
                        "containerStatuses": [{ "name": "demo", "restartCount": 0, "state": state.clone() }] } }));
    }
    items
}

impl CommandRunner for FakeKubectl {
    fn run(&self, invocation: &Invocation) -> io::Result<CommandOutput> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(invocation.clone());
        assert_eq!(invocation.program, "kubectl");
        let words: Vec<&str> = invocation.args.iter().map(String::as_str).collect();
        let mut cluster = self.cluster();
        if cluster.down {
            return Ok(CommandOutput::failure(
                1,
                "E1104 10:00:00.000000 4242 memcache.go:265] couldn't get current server API group list: Get \
                 \"https://127.0.0.1:6443/api?timeout=5s\": dial tcp 127.0.0.1:6443: connect: connection refused\n\
                 The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n",
            ));
        }
        let namespace = flag(&words, "--namespace").unwrap_or("default");
        let list = |items: Vec<Value>| CommandOutput::success(&json!({ "kind": "List", "items": items }).to_string());
        Ok(match words[0] {
            "version" => CommandOutput::success("Client Version: v1.30.2\nServer Version: v1.30.0\n"),
            "apply" | "delete" if words.contains(&"-f") => {
                for file in words.windows(2).filter(|w| w[0] == "-f").map(|w| w[1]) {
                    let object = read_manifest(file)?;
                    let (kind, meta) = (object["kind"].as_str().unwrap_or("?"), &object["metadata"]);
                    let key =
                        key(kind, meta["name"].as_str().unwrap_or("?"), meta["namespace"].as_str().unwrap_or("?"));
                    if words[0] == "apply" {
                        let spec = object["spec"].clone();
                        let before = cluster.objects.insert(key.clone(), object);
                        if before.is_none_or(|before| before["spec"] != spec) && spec.is_object() {
                            cluster.pending.insert(key);
                        }
                    } else {
                        cluster.objects.remove(&key);
                    }
                }
                CommandOutput::success("")
            }
            "delete" => {
                let (kind, name) = words[1].split_once('/').unwrap_or_default();
                cluster.objects.remove(&key(kind, name, namespace));
                CommandOutput::success("")
            }
            "get" if words[1].contains(',') => {
                let kind = words[1].split(',').next().unwrap_or_default();
                let key = key(kind, "demo", namespace);
                let pending = cluster.pending.contains(&key);
                let items = cluster.objects.get(&key).map(|o| live(o, cluster.crashing, pending));
                list(items.unwrap_or_default())
            }
            "get" if words[1] == "pods" => {
                let workload = cluster.objects.values().find(|o| o["kind"] != "ConfigMap");
                list(workload.map(|o| live(o, false, false)).unwrap_or_default().split_off(1))
            }
            "get" => {
                let found = words[1..]
                    .iter()
                    .take_while(|w| !w.starts_with("--"))
                    .filter_map(|resource| resource.split_once('/'))
                    .filter_map(|(kind, name)| cluster.objects.get(&key(kind, name, namespace)).cloned());
                list(found.collect())
            }
            "scale" => {
                let (kind, name) = words[1].split_once('/').unwrap_or_default();
                let replicas = words[2].trim_start_matches("--replicas=").parse::<u64>().unwrap_or(1);
                if let Some(object) = cluster.objects.get_mut(&key(kind, name, namespace)) {
                    object["spec"]["replicas"] = json!(replicas);
                }
                CommandOutput::success("")
            }
            "rollout" => {
                let (kind, name) = words[2].split_once('/').unwrap_or_default();
                let key = key(kind, name, namespace);
                match words[1] {
                    "restart" => cluster.pending.insert(key),
                    _ => cluster.pending.remove(&key),
                };
                if cluster.crashing && words[1] == "status" {
                    CommandOutput::failure(1, "error: timed out waiting for the condition\n")
                } else {
                    CommandOutput::success("")
                }
            }
            "wait" => CommandOutput::success(""),
            "logs" => CommandOutput::success("demo: told to fail in init\n"),
            "exec" if words.last() == Some(&"reload") => {
                CommandOutput::success("demo: configuration reloaded; generation 2 is in effect\n")
            }
            other => panic!("the fake kubectl does not know `{other}`"),
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    tools: PathBuf,
    config: PathBuf,
}

/// A static ELF header for x86_64 (no program headers: it needs nothing), then `payload`.
fn elf(payload: &str) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    (bytes[18], bytes[52], bytes[54]) = (62, 64, 56);
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

fn fixture() -> io::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    let tools = dir.path().join("tools");
    for path in [root.join("build"), root.join("etc"), tools.clone()] {
        fs::create_dir_all(path)?;
    }
    fs::write(tools.join("kubectl"), "")?;
    fs::write(root.join("build/demo"), elf("binary version 1"))?;
    let config = dir.path().join("demo.toml");
    fs::write(&config, "[app]\nlabel = \"one\"\n")?;
    Ok(Fixture { _dir: dir, root, tools, config })
}

impl Fixture {
    /// The host under the test root; `kubectl` on `PATH` or not.
    fn host(&self, kubectl: bool) -> Host {
        let path = if kubectl { self.tools.to_string_lossy().into_owned() } else { String::new() };
        Host::under(&self.root, 0).with_var("HOME", "/home/ana").with_var("PATH", path)
    }

    fn backend(&self) -> KubernetesBackend<FakeKubectl> {
        KubernetesBackend::new(FakeKubectl::default(), self.host(true))
    }

    /// Every file and directory under the root, with mode and content.
    fn listing(&self) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
        fn walk(dir: &Path, base: &Path, into: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
            let Ok(entries) = fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(base).map(Path::to_path_buf).unwrap_or_default();
                let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0);
                if path.is_dir() {
                    into.insert(relative, (mode, Vec::new()));
                    walk(&path, base, into);
                } else {
                    into.insert(relative, (mode, fs::read(&path).unwrap_or_default()));
                }
            }
        }
        let mut listing = BTreeMap::new();
        walk(&self.root, &self.root, &mut listing);
        listing
    }

    /// `path` (as the service sees it) on this machine.
    fn real(&self, path: &str) -> String {
        self.root.join(path.trim_start_matches('/')).to_string_lossy().into_owned()
    }
}

const SYSTEM: Service<'static> = Service { name: "demo", level: Level::System };

const ENGINE: Engine = Engine::with_patience(Duration::from_millis(300));

const DIR: &str = "/etc/demo/kubernetes";

fn settings() -> Settings<()> {
    Settings::<()> { name: "demo".to_owned(), ..Settings::default() }
}

fn install_with(
    fx: &Fixture,
    backend: &dyn Backend,
    settings: &Settings<()>,
    options: InstallOptions,
) -> Result<Applied, BackendError> {
    let request = InstallRequest {
        options,
        settings,
        binary: Path::new("/build/demo"),
        config_file: Some(&fx.config),
        sets: &[],
        overrides: &[],
        docs: None,
    };
    ENGINE.install(backend, &SYSTEM, &request)
}

fn install(fx: &Fixture, backend: &dyn Backend, options: InstallOptions) -> Result<Applied, BackendError> {
    install_with(fx, backend, &settings(), options)
}

fn now() -> InstallOptions {
    InstallOptions { start_now: true, ..InstallOptions::default() }
}

fn written(applied: &Applied) -> Vec<PathBuf> {
    applied
        .actions
        .iter()
        .filter_map(|a| if let Action::Write { path, .. } = a { Some(path.clone()) } else { None })
        .collect()
}

fn contents(applied: &Applied, file: &str) -> String {
    let found = applied.actions.iter().find_map(|a| match a {
        Action::Write { path, contents } if path.ends_with(file) => Some(contents.clone()),
        _ => None,
    });
    found.unwrap_or_else(|| panic!("{file} is not written: {applied:?}"))
}

fn runs(applied: &Applied) -> Vec<String> {
    applied.actions.iter().filter_map(|a| if let Action::Run(i) = a { Some(i.to_string()) } else { None }).collect()
}

fn notes(applied: &Applied) -> Vec<String> {
    applied.actions.iter().filter_map(|a| if let Action::Note(n) = a { Some(n.clone()) } else { None }).collect()
}

fn failure(result: Result<impl std::fmt::Debug, BackendError>) -> BackendError {
    match result {
        Ok(ok) => panic!("succeeded: {ok:?}"),
        Err(err) => err,
    }
}

#[test]
fn dry_run_shows_every_manifest_the_image_and_kubectl_and_changes_nothing() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let before = fx.listing();
    let applied = install(&fx, &backend, InstallOptions { dry_run: true, ..now() }).map_err(io::Error::other)?;
    assert!(applied.dry_run);
    assert_eq!(fx.listing(), before, "a dry run writes nothing");
    assert!(backend.runner().changing_calls().is_empty(), "{:?}", backend.runner().calls());
    assert_eq!(
        written(&applied),
        [
            PathBuf::from(format!("{DIR}/demo-image.tar")),
            format!("{DIR}/demo.configmap.yaml").into(),
            format!("{DIR}/demo.deployment.yaml").into()
        ]
    );
    let archive = contents(&applied, "demo-image.tar");
    assert!(archive.starts_with("(image localhost/demo:") && archive.contains("/usr/local/bin/demo"), "{archive}");
    let config_map = contents(&applied, "demo.configmap.yaml");
    assert!(config_map.starts_with("# Written by duende") && config_map.contains("kind: \"ConfigMap\""));
    assert!(config_map.contains(r#"demo.toml: "[app]\nlabel = \"one\"\n""#), "{config_map}");
    let deployment = contents(&applied, "demo.deployment.yaml");
    assert!(deployment.starts_with("# Written by duende") && deployment.contains("kind: \"Deployment\""));
    assert!(deployment.contains("image: \"localhost/demo:") && deployment.contains("imagePullPolicy: \"Never\""));
    let record = format!(
        "# Created by install, removed by uninstall:\n# file {DIR}/demo-image.tar\n# file {DIR}/demo.configmap.yaml\n\
         # file {DIR}/demo.deployment.yaml\n# dir /etc/demo\n# dir {DIR}\n"
    );
    assert!(deployment.ends_with(&record), "{deployment}");
    assert!(deployment.contains(&format!("# Configuration read from: {}\n", fx.config.display())));
    assert_eq!(
        runs(&applied),
        [
            format!("kubectl apply -f {}", fx.real(&format!("{DIR}/demo.configmap.yaml"))),
            format!("kubectl apply -f {}", fx.real(&format!("{DIR}/demo.deployment.yaml")))
        ]
    );
    let start =
        applied.actions.iter().find_map(|a| if let Action::Do { planned, .. } = a { Some(planned) } else { None });
    let start = start.cloned().unwrap_or_default();
    assert!(start.contains("`kubectl rollout status deployment/demo --namespace default --timeout=300s`"), "{start}");
    let notes = notes(&applied);
    assert!(
        notes.iter().any(|n| n.contains("`kind load image-archive /etc/demo/kubernetes/demo-image.tar`")),
        "{notes:?}"
    );
    Ok(())
}

#[test]
fn installing_twice_changes_nothing_the_second_time() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let first = install(&fx, &backend, now()).map_err(io::Error::other)?;
    assert_eq!(written(&first).len(), 3);
    assert_eq!(backend.runner().objects(), ["configmap/demo/default", "deployment/demo/default"]);
    let listing = fx.listing();
    let archive = listing.get(Path::new("etc/demo/kubernetes/demo-image.tar")).map(|(mode, _)| *mode);
    assert_eq!(archive, Some(0o600));
    let calls = backend.runner().changing_calls().len();
    let second = install(&fx, &backend, now()).map_err(io::Error::other)?;
    assert!(second.changes_nothing(), "{second:?}");
    assert!(notes(&second).iter().any(|n| n.starts_with("nothing to change")), "{second:?}");
    assert_eq!(backend.runner().changing_calls().len(), calls, "no command changed anything");
    assert_eq!(fx.listing(), listing);

    // Installed files the cluster lost are applied again, although no file changes.
    backend.runner().cluster().objects.clear();
    let third = install(&fx, &backend, InstallOptions::default()).map_err(io::Error::other)?;
    assert!(written(&third).is_empty());
    assert_eq!(runs(&third).len(), 2, "{third:?}");
    assert_eq!(backend.runner().objects().len(), 2);
    Ok(())
}

#[test]
fn a_changed_configuration_is_written_and_applied_and_the_rollout_waited_for() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    install(&fx, &backend, now()).map_err(io::Error::other)?;
    fs::write(&fx.config, "[app]\nlabel = \"two\"\n")?;
    let applied = install(&fx, &backend, InstallOptions::default()).map_err(io::Error::other)?;
    let names: Vec<String> =
        written(&applied).iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["demo-image.tar", "demo.configmap.yaml", "demo.deployment.yaml"], "the image holds it too");
    let config_map = &backend.runner().cluster().objects["configmap/demo/default"];
    assert_eq!(config_map["data"]["demo.toml"], "[app]\nlabel = \"two\"\n");
    // Applying a new pod template rolls the pods by itself: the restart waits for that rollout.
    let done = applied.actions.iter().find_map(|a| if let Action::Do { done, .. } = a { Some(done) } else { None });
    assert_eq!(done.map(String::as_str), Some("saw deployment/demo roll out"), "{applied:?}");
    assert!(!backend.runner().calls().iter().any(|c| c.contains("rollout restart")), "one rollout, not two");
    Ok(())
}

#[test]
fn without_kubectl_the_files_are_written_and_the_cluster_commands_say_why() -> io::Result<()> {
    let fx = fixture()?;
    let backend = KubernetesBackend::new(RecordingRunner::new(), fx.host(false));
    let applied = install(&fx, &backend, InstallOptions::default()).map_err(io::Error::other)?;
    assert_eq!(written(&applied).len(), 3);
    assert!(runs(&applied).is_empty());
    let note = format!(
        "no Kubernetes cluster answers through kubectl (`kubectl` is not on PATH): the manifests are written to {DIR} \
         and not applied; apply them where a cluster answers with `kubectl apply -f {DIR}`"
    );
    assert!(notes(&applied).contains(&note), "{:?}", notes(&applied));
    assert!(fx.root.join("etc/demo/kubernetes/demo.deployment.yaml").is_file());
    let unavailable = format!(
        "no Kubernetes cluster answers through kubectl: `kubectl` is not on PATH; apply the manifests in {DIR} with \
         `kubectl apply -f {DIR}`"
    );
    let err = failure(ENGINE.status(&backend, &SYSTEM, None));
    assert_eq!((err.to_string(), err.exit()), (unavailable.clone(), crate::exit::Exit::Unavailable));
    for op in [Op::Start, Op::Stop, Op::Reload, Op::Restart] {
        assert_eq!(failure(ENGINE.operate(&backend, &SYSTEM, op)).to_string(), unavailable, "{op:?}");
    }
    let err = failure(backend.logs(&SYSTEM, LogQuery::default(), &mut Vec::new()));
    assert_eq!(err.to_string(), unavailable);
    let err = failure(install(&fx, &backend, now())).to_string();
    assert!(err.starts_with("`--now` starts the pods, and no Kubernetes cluster answers"), "{err}");
    assert!(backend.runner().calls().is_empty(), "no tool was run");

    // `uninstall` removes the files and says what it could not delete.
    let applied = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert!(!fx.root.join("etc/demo").exists());
    let left = "whatever was applied from /etc/demo/kubernetes stays in the cluster; where one answers, delete it with \
                `kubectl delete deployment/demo configmap/demo --namespace default`";
    assert!(notes(&applied).iter().any(|n| n.ends_with(left)), "{applied:?}");
    Ok(())
}

#[test]
fn a_cluster_that_does_not_answer_is_named_with_kubectls_words() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    backend.runner().cluster().down = true;
    let applied = install(&fx, &backend, InstallOptions::default()).map_err(io::Error::other)?;
    let expected = "no Kubernetes cluster answers through kubectl (`kubectl version --request-timeout=5s` failed: The \
                    connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?)";
    assert!(notes(&applied).iter().any(|n| n.starts_with(expected)), "{applied:?}");
    assert_eq!(backend.runner().calls(), ["kubectl version --request-timeout=5s"], "asked once");
    let err = failure(ENGINE.status(&backend, &SYSTEM, None));
    assert!(matches!(&err, BackendError::Unavailable { what, .. } if what.contains("6443 was refused")), "{err}");
    Ok(())
}

#[test]
fn uninstall_removes_exactly_what_install_created() -> io::Result<()> {
    let fx = fixture()?;
    fs::write(fx.root.join("etc/unrelated"), "someone else's")?;
    let backend = fx.backend();
    let before = fx.listing();
    install(&fx, &backend, now()).map_err(io::Error::other)?;
    let applied = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert_eq!(fx.listing(), before);
    assert!(backend.runner().objects().is_empty());
    let changing = backend.runner().changing_calls();
    let file = |name: &str| fx.real(&format!("{DIR}/{name}"));
    assert_eq!(
        changing[changing.len().saturating_sub(3)..],
        [
            "kubectl scale deployment/demo --replicas=0 --namespace default".to_owned(),
            format!(
                "kubectl delete -f {} --ignore-not-found --cascade=foreground --timeout=300s",
                file("demo.deployment.yaml")
            ),
            format!("kubectl delete -f {} --ignore-not-found", file("demo.configmap.yaml")),
        ]
    );
    assert!(applied.actions.contains(&Action::Remove { path: "/etc/demo".into() }), "{applied:?}");
    let again = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert!(matches!(&again.actions[..], [Action::Note(note)] if note.contains("not installed")), "{again:?}");
    Ok(())
}

#[test]
fn files_and_objects_duende_did_not_write_are_refused_without_force() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let theirs = fx.root.join("etc/demo/kubernetes/demo.configmap.yaml");
    fs::create_dir_all(fx.root.join("etc/demo/kubernetes"))?;
    fs::write(&theirs, "apiVersion: v1\nkind: ConfigMap\n")?;
    let err = failure(install(&fx, &backend, InstallOptions::default()));
    assert!(matches!(&err, BackendError::Foreign { path } if path.ends_with("demo.configmap.yaml")), "{err}");
    assert_eq!(fs::read_to_string(&theirs)?, "apiVersion: v1\nkind: ConfigMap\n");
    assert!(matches!(ENGINE.uninstall(&backend, &SYSTEM), Err(BackendError::Foreign { .. })), "never removes it");
    assert!(backend.runner().changing_calls().is_empty());
    let forced = InstallOptions { force: true, ..InstallOptions::default() };
    install(&fx, &backend, forced).map_err(io::Error::other)?;
    assert!(super::is_written_by_duende(&fs::read_to_string(&theirs)?));

    // An object in the cluster without duende's label is someone else's too.
    let fx = fixture()?;
    let backend = fx.backend();
    let foreign = json!({ "kind": "Deployment", "metadata": { "name": "demo", "namespace": "default",
                                                               "labels": { "app": "demo" } } });
    backend.runner().cluster().objects.insert("deployment/demo/default".into(), foreign.clone());
    let err = failure(install(&fx, &backend, InstallOptions::default())).to_string();
    assert_eq!(
        err,
        "`deployment/demo in namespace default of the cluster` exists and was not written by duende; pass `--force` \
         to replace it"
    );
    assert_eq!(backend.runner().cluster().objects["deployment/demo/default"], foreign);
    assert!(!fx.root.join("etc/demo").exists());
    Ok(())
}

#[test]
fn a_rollout_that_never_finishes_is_undone_with_its_files() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let pristine = fx.listing();
    backend.runner().cluster().crashing = true;
    let err = failure(install(&fx, &backend, now()));
    let BackendError::NotObserved { observed, detail, .. } = &err else { panic!("{err}") };
    assert_eq!(*observed, ServiceState::Failed);
    assert!(detail.contains("timed out waiting for the condition") && detail.contains("CrashLoopBackOff"), "{detail}");
    assert!(detail.contains("demo: told to fail in init"), "the last log lines are shown: {detail}");
    assert_eq!(fx.listing(), pristine, "no file is left");
    assert!(backend.runner().objects().is_empty(), "the objects it created are deleted");
    Ok(())
}

#[test]
fn operations_go_through_kubectl_and_report_what_the_cluster_says() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    assert!(matches!(ENGINE.operate(&backend, &SYSTEM, Op::Start), Err(BackendError::NotInstalled { .. })));
    install(&fx, &backend, now()).map_err(io::Error::other)?;
    let status = ENGINE.status(&backend, &SYSTEM, None).map_err(io::Error::other)?;
    assert_eq!((status.state, status.ready), (ServiceState::Running, true));
    assert_eq!(status.detail, "1/1 available, 1 up to date");

    let (_, status) = ENGINE.operate(&backend, &SYSTEM, Op::Stop).map_err(io::Error::other)?;
    assert_eq!(status.state, ServiceState::Stopped);
    let (_, status) = ENGINE.operate(&backend, &SYSTEM, Op::Start).map_err(io::Error::other)?;
    assert_eq!(status.state, ServiceState::Running, "applying the manifests again restores the replicas");
    let (action, _) = ENGINE.operate(&backend, &SYSTEM, Op::Reload).map_err(io::Error::other)?;
    let Action::Do { done, .. } = action else { panic!("{action:?}") };
    assert_eq!(done, "pod demo-0: demo: configuration reloaded; generation 2 is in effect");
    ENGINE.operate(&backend, &SYSTEM, Op::Restart).map_err(io::Error::other)?;
    let mut out = Vec::new();
    backend.logs(&SYSTEM, LogQuery { lines: Some(5), follow: true }, &mut out).map_err(io::Error::other)?;
    assert_eq!(String::from_utf8_lossy(&out), "demo: told to fail in init\n");
    let changing = backend.runner().changing_calls();
    let tail: Vec<&str> = changing.iter().rev().take(4).rev().map(String::as_str).collect();
    let file = |name: &str| fx.real(&format!("{DIR}/{name}"));
    assert_eq!(
        tail,
        [
            "kubectl scale deployment/demo --replicas=0 --namespace default",
            format!("kubectl apply -f {} -f {}", file("demo.configmap.yaml"), file("demo.deployment.yaml")).as_str(),
            "kubectl exec demo-0 --namespace default --container demo -- /usr/local/bin/demo reload",
            "kubectl rollout restart deployment/demo --namespace default",
        ]
    );
    let last = backend.runner().calls().pop().unwrap_or_default();
    assert_eq!(last, "kubectl logs deployment/demo --namespace default --tail=5 --follow");
    Ok(())
}

#[test]
fn a_daemonset_is_stopped_by_deleting_it_and_a_changed_kind_replaces_the_old_object() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    install(&fx, &backend, InstallOptions::default()).map_err(io::Error::other)?;
    let mut settings = settings();
    settings.platform.kubernetes.kind = KubernetesKind::Daemonset;
    let applied = install_with(&fx, &backend, &settings, InstallOptions::default()).map_err(io::Error::other)?;
    assert!(applied.actions.contains(&Action::Remove { path: format!("{DIR}/demo.deployment.yaml").into() }));
    assert!(runs(&applied).contains(&"kubectl delete deployment/demo --namespace default --ignore-not-found".into()));
    assert_eq!(backend.runner().objects(), ["configmap/demo/default", "daemonset/demo/default"]);
    assert!(!fx.root.join("etc/demo/kubernetes/demo.deployment.yaml").exists());

    let (action, status) = ENGINE.operate(&backend, &SYSTEM, Op::Stop).map_err(io::Error::other)?;
    assert_eq!(status.state, ServiceState::Stopped);
    let Action::Do { done, .. } = action else { panic!("{action:?}") };
    assert!(done.starts_with("deleted daemonset/demo (a DaemonSet cannot be scaled)"), "{done}");
    assert_eq!(backend.runner().objects(), ["configmap/demo/default"]);
    let (action, _) = ENGINE.operate(&backend, &SYSTEM, Op::Stop).map_err(io::Error::other)?;
    let Action::Do { done, .. } = action else { panic!("{action:?}") };
    assert_eq!(done, "daemonset/demo is not in namespace default of the cluster: nothing to stop");
    let (_, status) = ENGINE.operate(&backend, &SYSTEM, Op::Start).map_err(io::Error::other)?;
    assert_eq!(status.state, ServiceState::Running);
    Ok(())
}
