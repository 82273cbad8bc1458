//! The manifests against golden files (`DUENDE_BLESS=1` rewrites them and fails; read the diff), read back
//! with libyaml's rules (`serde_norway`): hostile values reach the daemon exactly, as values, and
//! never add a key. `scripts/validate-kubernetes` checks the same files against the real
//! Kubernetes schemas and reads the hostile one back with PyYAML.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_norway::Value as Yaml;

use super::*;
use crate::config::platforms::KubernetesKind;
use crate::config::{RestartPolicy, Settings};

const IMAGE: &str = "localhost/demo:3f2a9c1b7d4e";
const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn settings() -> Settings<()> {
    Settings { name: "demo".into(), version: "0.3.1".into(), ..Settings::default() }
}

fn workload<'a>(settings: &'a Settings<()>, config: &'a str) -> Workload<'a> {
    Workload { name: "demo", settings, image: IMAGE, config_toml: config, args: &[], env: &[], digest: DIGEST }
}

fn rendered(workload: &Workload<'_>) -> Manifests {
    render(workload).unwrap_or_else(|err| panic!("{err}"))
}

/// The parsed documents of every file, in order.
fn documents(manifests: &Manifests) -> Vec<Yaml> {
    manifests
        .files
        .iter()
        .map(|file| serde_norway::from_str(&file.yaml).unwrap_or_else(|err| panic!("{}: {err}", file.file_name)))
        .collect()
}

/// The value at a dotted path (`spec.template.spec.containers.0.args`).
fn at<'a>(value: &'a Yaml, path: &str) -> &'a Yaml {
    path.split('.').fold(value, |value, step| match step.parse::<usize>() {
        Ok(index) => &value[index],
        Err(_) => &value[step],
    })
}

fn container(manifests: &Manifests) -> Yaml {
    at(&documents(manifests)[1], "spec.template.spec.containers.0").clone()
}

fn text(value: &Yaml) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value:?}"))
}

fn texts(value: &Yaml) -> Vec<String> {
    value.as_sequence().map(|items| items.iter().map(|item| text(item).to_owned()).collect()).unwrap_or_default()
}

/// `manifests` against `golden/NAME.yaml` (rewritten under `DUENDE_BLESS`, and still failing).
fn golden(name: &str, manifests: &Manifests) {
    let path = format!("{}/src/platform/kubernetes/golden/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    crate::golden::check(Path::new(&path), &manifests.stream(), "cargo test -p duende-runtime platform::kubernetes");
}

/// Kubernetes' `$(VAR)` expansion of `command`, `args` and `env` values
/// (third_party/forked/golang/expansion in kubernetes/kubernetes): `$$` is `$`, `$(NAME)` a
/// defined variable's value (an undefined one stays as written), any other `$` stays.
fn kubelet_expand(input: &str, vars: &BTreeMap<String, String>) -> String {
    let bytes = input.as_bytes();
    let (mut out, mut checkpoint, mut cursor) = (String::new(), 0, 0);
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let next = rest.chars().next().unwrap_or('$');
            let advance = match next {
                '$' => {
                    out.push('$');
                    1
                }
                '(' => match rest.find(')') {
                    Some(end) => {
                        let name = &rest[1..end];
                        out.push_str(vars.get(name).map_or(&format!("$({name})"), |value| value));
                        end + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                other => {
                    out.push('$');
                    out.push(other);
                    other.len_utf8()
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out + &input[checkpoint..]
}

/// What the daemon receives: the command line and the environment, after the kubelet's
/// expansion.
fn received(container: &Yaml) -> (Vec<String>, BTreeMap<String, String>) {
    let raw: BTreeMap<String, String> = container["env"]
        .as_sequence()
        .map(|vars| vars.iter().map(|var| (text(&var["name"]).to_owned(), text(&var["value"]).to_owned())).collect())
        .unwrap_or_default();
    let words = texts(&container["command"]).into_iter().chain(texts(&container["args"]));
    let argv = words.map(|word| kubelet_expand(&word, &raw)).collect();
    let env = raw.iter().map(|(name, value)| (name.clone(), kubelet_expand(value, &raw))).collect();
    (argv, env)
}

/// Every key path in `value`, sequences as `[]`: what a value must never change.
fn key_paths(value: &Yaml, prefix: &str, into: &mut BTreeSet<String>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, inner) in map {
                let path = format!("{prefix}/{}", text(key));
                into.insert(path.clone());
                key_paths(inner, &path, into);
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|item| key_paths(item, &format!("{prefix}[]"), into)),
        _ => {}
    }
}

#[test]
fn a_default_deployment() {
    let settings = settings();
    let config = "[app]\ngreeting = \"hello\"\n";
    let manifests = rendered(&workload(&settings, config));
    golden("deployment-defaults", &manifests);
    assert!(manifests.files.iter().all(|file| file.yaml.starts_with(&format!("{MARKER}: `demo install"))));
    assert_eq!(manifests.notes.len(), 1, "{:?}", manifests.notes);
    assert!(manifests.notes[0].starts_with("`restart = \"on-failure\"`: Kubernetes restarts"), "the default policy");
    let names: Vec<_> = manifests.files.iter().map(|file| (file.file_name.as_str(), file.kind)).collect();
    assert_eq!(names, [("demo.configmap.yaml", "ConfigMap"), ("demo.deployment.yaml", "Deployment")]);
    let docs = documents(&manifests);
    assert_eq!(text(&docs[0]["data"]["demo.toml"]), config);
    assert_eq!(at(&docs[1], "spec.replicas").as_u64(), Some(1));
    assert_eq!(text(at(&docs[1], "metadata.namespace")), "default");
    assert_eq!(text(&at(&docs[1], "spec.template.metadata.annotations")[DIGEST_ANNOTATION]), DIGEST);
    assert_eq!(text(&at(&docs[1], "spec.selector.matchLabels")["app.kubernetes.io/name"]), "demo");
    assert_eq!(at(&docs[1], "spec.template.spec.terminationGracePeriodSeconds").as_u64(), Some(35));
    let c = container(&manifests);
    let (argv, env) = received(&c);
    assert_eq!(argv, ["/usr/local/bin/demo", "run", "--config", "/etc/demo/demo.toml"]);
    assert_eq!(env.get("RUNTIME_DIRECTORY").map(String::as_str), Some("/run/duende/demo"));
    assert_eq!(texts(&c["readinessProbe"]["exec"]["command"]), ["/usr/local/bin/demo", "__healthcheck"]);
    assert!(manifests.files[1].yaml.contains("the metrics listener (which answers GET /healthz) is off"));
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert!(c[probe]["httpGet"].is_null(), "{probe}");
    }
    assert!(c["resources"].is_null() && c["ports"].is_null());
    assert_eq!(manifests.stream().matches("\n---\n").count(), 1, "two documents");
}

#[test]
fn the_built_image_is_never_pulled_and_a_named_one_only_when_missing() {
    let settings = settings();
    let built = container(&rendered(&workload(&settings, "")));
    assert_eq!((text(&built["image"]), text(&built["imagePullPolicy"])), (IMAGE, "Never"));
    let named = Workload { image: "registry.example.com/demo:1.2", ..workload(&settings, "") };
    let named = container(&rendered(&named));
    assert_eq!(text(&named["imagePullPolicy"]), "IfNotPresent");
}

#[test]
fn a_daemonset_with_http_probes_locked_memory_and_resources() {
    let mut settings = settings();
    settings.description = "Swap device daemon".into();
    settings.platform.kubernetes.kind = KubernetesKind::Daemonset;
    settings.platform.kubernetes.namespace = "storage".into();
    settings.metrics.enabled = true;
    settings.metrics.allow_remote = true;
    settings.metrics.listen = "0.0.0.0:9464".parse().unwrap_or_else(|e| panic!("{e}"));
    settings.health_check.enabled = true;
    settings.health_check.interval = Duration::from_secs(10);
    settings.health_check.timeout = Duration::from_millis(2500);
    settings.health_check.retries = 4;
    settings.resources.memory_bytes = Some(512 * 1024 * 1024);
    settings.resources.cpu_quota_percent = Some(150.0);
    settings.resources.lock_memory = true;
    settings.resources.lock_memory_required = true;
    settings.hardening.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    settings.shutdown_timeout = Duration::from_secs(45);
    settings.restart = RestartPolicy::Always;
    let manifests = rendered(&workload(&settings, "[app]\ndevice = \"/dev/zram0\"\n"));
    golden("daemonset-metrics-locked", &manifests);
    let docs = documents(&manifests);
    assert_eq!(text(&docs[1]["kind"]), "DaemonSet");
    assert!(docs[1]["spec"]["replicas"].is_null(), "a DaemonSet has no replicas");
    assert_eq!(at(&docs[1], "spec.template.spec.terminationGracePeriodSeconds").as_u64(), Some(50));
    let c = container(&manifests);
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(text(&c[probe]["httpGet"]["path"]), "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"].as_u64(), Some(9464), "{probe}");
        assert!(c[probe]["httpGet"]["host"].is_null(), "the pod's IP: {probe}");
    }
    let numbers = |probe: &str| {
        ["periodSeconds", "timeoutSeconds", "failureThreshold"].map(|key| c[probe][key].as_u64().unwrap_or(0))
    };
    assert_eq!(numbers("readinessProbe"), [10, 3, 4]);
    assert_eq!(numbers("livenessProbe"), [10, 3, 4]);
    assert_eq!(numbers("startupProbe"), [1, 3, 120]);
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(9464));
    assert_eq!(text(&c["resources"]["limits"]["memory"]), "512Mi");
    assert_eq!(text(&c["resources"]["limits"]["cpu"]), "1500m");
    assert_eq!(texts(&c["securityContext"]["capabilities"]["add"]), ["IPC_LOCK", "NET_BIND_SERVICE"]);
    assert_eq!(texts(&c["securityContext"]["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"].as_bool(), Some(false));
    let memlock = manifests.notes.iter().find(|note| note.starts_with("memory locking:"));
    assert!(memlock.is_some_and(|note| note.contains("kubernetes issue 3595")), "{:?}", manifests.notes);
    assert!(manifests.files[1].yaml.contains("# - memory locking: Kubernetes has no per-pod memlock limit"));
}

/// Values that would break a naive manifest: quotes, YAML syntax, flags, shell and kubelet
/// expansion, line breaks of every kind, controls, unicode. No NUL (the configuration refuses it).
const HOSTILE: &[&str] = &[
    "\"",
    "'",
    "\"quoted\"",
    "'; rm -rf /",
    "\"; rm -rf / #",
    "--privileged",
    "--cap-add=ALL",
    "--",
    "-",
    "$(id)",
    "$(HOSTILE_00)",
    "$(RUNTIME_DIRECTORY)",
    "${HOME}",
    "$HOME",
    "$$",
    "$$(id)",
    "$",
    "trailing $",
    "$(",
    "`id`",
    "key: value",
    "- item",
    "? complex",
    ": colon",
    "#comment",
    " # not a comment",
    "\n---\nkind: Secret\n",
    "---",
    "...",
    "a\nb",
    "\r\n",
    "\t",
    "tab\tinside",
    "back\\slash",
    "\\n literal",
    "\\",
    "{a: 1}",
    "[1, 2]",
    "&anchor",
    "*alias",
    "!!binary aGk=",
    "!tag",
    "%YAML 1.2",
    "@at",
    "|",
    ">",
    "yes",
    "no",
    "on",
    "null",
    "~",
    "true",
    "0x1F",
    "1e3",
    "0777",
    "",
    " ",
    "  leading and trailing  ",
    "é ü ñ",
    "日本語",
    "🦀 crab",
    "\u{202E}right-to-left",
    "\u{200B}zero width",
    "\u{FEFF}byte-order mark",
    "\u{2028}line separator",
    "\u{2029}",
    "\u{85}next line",
    "\u{7F}delete",
    "\u{1B}[31mred",
    "\u{7}bell",
    "\u{9C}c1",
    "\u{FFFF}",
    "=",
    "A=B",
    "x=1\ny=2",
    "%s%n",
    "{{ .Values.x }}",
    "a\"b'c\\d",
    "\\\"",
    "\\u0041",
    "\"\\n\"",
];

/// What the nasty workload is made of.
struct Nasty {
    settings: Settings<()>,
    config: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Nasty {
    fn workload(&self) -> Workload<'_> {
        Workload { args: &self.args, env: &self.env, ..workload(&self.settings, &self.config) }
    }
}

/// The nasty workload with `value(i, hostile)` as each of its values, so that a tame variant has
/// the same shape.
fn nasty(value: impl Fn(usize, &str) -> String) -> Nasty {
    let mut settings = settings();
    settings.description = value(0, "\"; kind: Secret # --privileged $(id)");
    settings.args = HOSTILE.iter().enumerate().map(|(i, h)| value(i, h)).collect();
    settings.env = HOSTILE.iter().enumerate().map(|(i, h)| (format!("HOSTILE_{i:02}"), value(i, h))).collect();
    settings.restart = RestartPolicy::Never;
    settings.user = Some("svc-demo".into());
    settings.metrics.enabled = true;
    settings.working_dir = Some("/var/lib/demo $(x)".into());
    let labels: Vec<toml::Value> = HOSTILE.iter().enumerate().map(|(i, h)| toml::Value::String(value(i, h))).collect();
    let app: toml::Table = [("labels".to_owned(), toml::Value::Array(labels))].into_iter().collect();
    let config: toml::Table = [("app".to_owned(), toml::Value::Table(app))].into_iter().collect();
    let config = toml::to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    let args =
        HOSTILE.iter().enumerate().take(12).flat_map(|(i, h)| ["--set".to_owned(), format!("app.x={}", value(i, h))]);
    let env = vec![("DEMO_APP__NOTE".to_owned(), value(1, "$(HOSTILE_01) \"\n--- x"))];
    Nasty { settings, config, args: args.collect(), env }
}

#[test]
fn hostile_values_reach_the_daemon_exactly_and_never_become_keys() {
    assert!(HOSTILE.len() >= 50 && HOSTILE.iter().all(|h| !h.contains('\0')));
    let nasty_workload = nasty(|_, hostile| hostile.to_owned());
    let Nasty { settings, config, args, env } = &nasty_workload;
    let manifests = rendered(&nasty_workload.workload());
    let docs = documents(&manifests);
    let (argv, received_env) = received(&container(&manifests));
    let mut expected_argv = vec!["/usr/local/bin/demo", "run", "--config", "/etc/demo/demo.toml"];
    expected_argv.extend(args.iter().map(String::as_str));
    expected_argv.push("--");
    expected_argv.extend(HOSTILE);
    assert_eq!(argv, expected_argv, "the command line, after the kubelet's expansion");
    let mut expected_env: BTreeMap<String, String> = settings.env.clone();
    expected_env.extend(env.iter().cloned());
    expected_env.insert("RUNTIME_DIRECTORY".into(), "/run/duende/demo".into());
    assert_eq!(received_env, expected_env, "the environment, after the kubelet's expansion");
    assert_eq!(text(&docs[0]["data"]["demo.toml"]), config, "the configuration file, byte for byte");
    let parsed: toml::Table = toml::from_str(text(&docs[0]["data"]["demo.toml"])).unwrap_or_default();
    let labels: Vec<&str> =
        parsed["app"]["labels"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    assert_eq!(labels, HOSTILE, "the daemon's [app] strings");
    assert_eq!(text(&docs[1]["metadata"]["annotations"]["kubernetes.io/description"]), settings.description);
    let c = container(&manifests);
    assert_eq!(text(&c["workingDir"]), "/var/lib/demo $(x)", "workingDir is not expanded, so not escaped");

    // A tame workload of the same shape has exactly the same keys: no value added one.
    let tame = rendered(&nasty(|i, _| format!("v{i}")).workload());
    let paths = |manifests: &Manifests| {
        let mut paths = BTreeSet::new();
        documents(manifests).iter().for_each(|doc| key_paths(doc, "", &mut paths));
        paths
    };
    assert_eq!(paths(&manifests), paths(&tame));
    assert_eq!(manifests.stream().lines().filter(|line| *line == "---").count(), 1, "two documents, still");

    golden("nasty", &manifests);
    // What scripts/validate-kubernetes checks again with PyYAML.
    let expected = serde_json::json!({
        "argv": expected_argv,
        "env": expected_env,
        "config": config,
        "description": settings.description,
        "key_paths": paths(&tame),
    });
    let json = serde_json::to_string_pretty(&expected).unwrap_or_else(|e| panic!("{e}")) + "\n";
    let path = format!("{}/src/platform/kubernetes/golden/nasty.expected.json", env!("CARGO_MANIFEST_DIR"));
    crate::golden::check(Path::new(&path), &json, "cargo test -p duende-runtime platform::kubernetes");
}

#[test]
fn what_kubernetes_would_refuse_is_refused_naming_the_fix() {
    let good = settings();
    let err = |w: Workload<'_>| render(&w).err().map(|e| e.to_string()).unwrap_or_default();
    for name in ["swap_dev", &"a".repeat(64), "Demo", "9lives", "x-"] {
        let text = err(Workload { name, ..workload(&good, "") });
        assert!(text.contains("must be a DNS label") && text.contains("#[duende::main(name"), "{name}: {text}");
    }
    assert!(err(Workload { name: &"a".repeat(63), ..workload(&good, "") }).is_empty(), "63 characters fit");
    for image in ["", "demo latest", "demo\n"] {
        assert!(err(Workload { image, ..workload(&good, "") }).contains("is not an image reference"), "{image:?}");
    }
    assert!(err(Workload { digest: " ", ..workload(&good, "") }).starts_with("no install digest"));
    let big = "x".repeat(1024 * 1024 + 1);
    assert!(err(workload(&good, &big)).contains("a ConfigMap holds at most 1048576"));
    for name in ["1ST", "A B", "a=b", "ü"] {
        let env = [(name.to_owned(), "x".to_owned())];
        let text = err(Workload { env: &env, ..workload(&good, "") });
        assert!(text.contains(&format!("{name:?} is refused by Kubernetes")), "{text}");
    }
    let env = [("-.dotted_And-dashed".to_owned(), "x".to_owned())];
    assert!(err(Workload { env: &env, ..workload(&good, "") }).is_empty(), "Kubernetes takes `-` and `.`");
    let mut bad = settings();
    bad.platform.kubernetes.namespace = "Kube_System".into();
    assert!(err(workload(&bad, "")).starts_with("`platform.kubernetes.namespace` = \"Kube_System\""));
    let mut bad = settings();
    bad.working_dir = Some("relative".into());
    assert!(err(workload(&bad, "")).starts_with("`working_dir` = \"relative\" must be an absolute"));
    let mut bad = settings();
    bad.hardening.capabilities = vec!["CAP_EVERYTHING".into()];
    assert!(err(workload(&bad, "")).starts_with("`hardening.capabilities` = \"CAP_EVERYTHING\" is out of range"));
}

#[test]
fn probes_use_healthz_only_where_the_kubelet_can_reach_it() {
    let probe = |listen: &str, enabled: bool| {
        let mut settings = settings();
        settings.metrics.enabled = enabled;
        settings.metrics.allow_remote = true;
        settings.metrics.listen = listen.parse().unwrap_or_else(|e| panic!("{listen}: {e}"));
        let manifests = rendered(&workload(&settings, ""));
        let c = container(&manifests);
        let fallback = manifests.notes.iter().find(|note| note.starts_with("probes run the health command")).cloned();
        (c["livenessProbe"].clone(), c["ports"].clone(), fallback)
    };
    let (http, ports, note) = probe("0.0.0.0:9100", true);
    assert_eq!((http["httpGet"]["port"].as_u64(), http["httpGet"]["host"].is_null(), note), (Some(9100), true, None));
    assert_eq!((text(&ports[0]["name"]), ports[0]["containerPort"].as_u64()), ("metrics", Some(9100)));
    let (http, _, _) = probe("[::]:9100", true);
    assert!(http["httpGet"]["host"].is_null(), "unspecified IPv6 is the pod's IP too");
    let (http, _, _) = probe("10.1.2.3:9100", true);
    assert_eq!(text(&http["httpGet"]["host"]), "10.1.2.3", "a specific address is asked there");
    for (listen, enabled, why) in [
        ("127.0.0.1:9464", true, Some("loopback (127.0.0.1:9464), which the kubelet cannot reach")),
        ("[::1]:9464", true, Some("loopback ([::1]:9464)")),
        ("0.0.0.0:0", true, Some("a port picked at start (port 0)")),
        ("0.0.0.0:9464", false, None),
    ] {
        let (exec, ports, note) = probe(listen, enabled);
        assert_eq!(texts(&exec["exec"]["command"]), ["/usr/local/bin/demo", "__healthcheck"], "{listen}");
        assert!(ports.is_null(), "{listen}");
        assert_eq!(note.is_some(), why.is_some(), "{listen}: {note:?}");
        assert!(why.is_none_or(|why| note.is_some_and(|note| note.contains(why))), "{listen}");
    }
}

#[test]
fn limits_kubernetes_has_are_set_and_the_others_are_noted() {
    let mut settings = settings();
    let r = &mut settings.resources;
    (r.memory_bytes, r.cpu_quota_percent) = (Some(1_500_000_000), Some(0.04));
    (r.cpu_shares, r.memory_swap_bytes, r.io_read_bps) = (Some(200), Some(0), Some(1_000_000));
    (r.io_write_bps, r.pids_max, r.open_files_max) = (Some(2_000_000), Some(64), Some(4096));
    settings.backoff.initial = Duration::from_secs(3);
    let manifests = rendered(&workload(&settings, ""));
    let c = container(&manifests);
    assert_eq!(text(&c["resources"]["limits"]["memory"]), "1500000000", "not a whole number of KiB: bytes");
    assert_eq!(text(&c["resources"]["limits"]["cpu"]), "1m", "at least a millicore");
    assert!(c["resources"]["requests"].is_null(), "cpu_shares is no request");
    for key in ["cpu_shares", "memory_swap_bytes", "io_read_bps", "io_write_bps", "pids_max", "open_files_max"] {
        let prefix = format!("`resources.{key}` = ");
        let note = manifests.notes.iter().find(|note| note.starts_with(&prefix));
        assert!(note.is_some_and(|note| note.contains("is not enforced: ")), "{key}: {:?}", manifests.notes);
    }
    assert!(manifests.notes.iter().any(|note| note.starts_with("`[backoff]`: the kubelet's own delay")));
    assert_eq!(super::render::bytes_quantity(3 << 30), "3Gi");
    assert_eq!(super::render::bytes_quantity(1536 * 1024), "1536Ki");
}

#[test]
fn only_numeric_users_are_set_and_checked() {
    let context = |user: Option<&str>, group: Option<&str>| {
        let mut settings = settings();
        (settings.user, settings.group) = (user.map(str::to_owned), group.map(str::to_owned));
        settings.resources.lock_memory = true;
        let manifests = rendered(&workload(&settings, ""));
        let ids = ["runAsUser", "runAsGroup"].map(|key| container(&manifests)["securityContext"][key].as_i64());
        let non_root = container(&manifests)["securityContext"]["runAsNonRoot"].as_bool();
        (ids, non_root, manifests.notes)
    };
    let (ids, non_root, notes) = context(Some("1000"), Some("100"));
    assert_eq!((ids, non_root), ([Some(1000), Some(100)], Some(true)));
    assert!(notes.iter().any(|note| note.contains("this daemon's user is not root") && note.contains("LimitMEMLOCK")));
    let (ids, non_root, notes) = context(Some("root"), None);
    assert_eq!((ids, non_root), ([Some(0), None], None));
    assert!(notes.iter().all(|note| !note.contains("this daemon's user is not root")), "{notes:?}");
    let (ids, non_root, notes) = context(Some("svc"), Some("svc"));
    assert_eq!((ids, non_root), ([None, None], None), "a name can be neither set nor verified");
    assert!(notes.iter().any(|note| note.starts_with("`user = \"svc\"` is a name")), "{notes:?}");
    assert!(notes.iter().any(|note| note.starts_with("`group = \"svc\"` is a name")), "{notes:?}");
}

#[test]
fn hardening_maps_to_what_a_pod_can_say() {
    let security = |change: fn(&mut Settings<()>)| {
        let mut settings = settings();
        change(&mut settings);
        let manifests = rendered(&workload(&settings, ""));
        (container(&manifests)["securityContext"].clone(), manifests.notes)
    };
    let (off, _) = security(|s| s.hardening.enabled = false);
    assert!(off.is_null(), "no sandbox and no capability: no securityContext");
    let (off, _) = security(|s| (s.hardening.enabled, s.resources.lock_memory) = (false, true));
    assert_eq!(texts(&off["capabilities"]["add"]), ["IPC_LOCK"]);
    assert!(off["capabilities"]["drop"].is_null() && off["seccompProfile"].is_null());
    let (admin, notes) = security(|s| s.hardening.capabilities = vec!["CAP_SYS_ADMIN".into()]);
    assert!(admin["allowPrivilegeEscalation"].is_null(), "Kubernetes refuses it with CAP_SYS_ADMIN");
    assert!(notes.iter().any(|note| note.starts_with("`hardening.no_new_privileges`")), "{notes:?}");
}

#[test]
fn the_grace_period_is_the_shutdown_timeout_rounded_up_plus_the_margin() {
    for (timeout, grace) in
        [(Duration::from_millis(2500), 8), (Duration::from_secs(1), 6), (Duration::from_secs(86_400), 86_405)]
    {
        let mut settings = settings();
        settings.shutdown_timeout = timeout;
        let docs = documents(&rendered(&workload(&settings, "")));
        assert_eq!(at(&docs[1], "spec.template.spec.terminationGracePeriodSeconds").as_u64(), Some(grace));
    }
}

#[test]
fn the_kubelet_expansion_this_file_models_is_the_one_dollars_are_doubled_for() {
    let vars: BTreeMap<String, String> = [("A".to_owned(), "1".to_owned())].into_iter().collect();
    for (input, expanded) in [
        ("$(A)", "1"),
        ("$(B)", "$(B)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("$A $", "$A $"),
        ("$(", "$("),
        ("$é", "$é"),
    ] {
        assert_eq!(kubelet_expand(input, &vars), expanded, "{input}");
    }
    for hostile in HOSTILE {
        assert_eq!(kubelet_expand(&super::render::literal(hostile), &vars), *hostile);
    }
}
