//! The engine's words against golden files (`DUENDE_BLESS=1` rewrites them and fails; read the
//! diff), each a JSON array of argv words read back with serde_json: hostile values stay one
//! word each and never become a flag.

use std::path::Path;
use std::time::Duration;

use super::render::{self, Installed, Spec};
use crate::config::platforms::{ContainerNetwork, SwarmMode};
use crate::config::{RestartPolicy, Settings};
use crate::platform::container::image::Account;

const IMAGE: &str = "localhost/demo:3f2a9c1b7d4e";

fn settings() -> Settings<()> {
    Settings { name: "demo".into(), version: "0.3.1".into(), ..Settings::default() }
}

fn spec(settings: &Settings<()>, config: Option<&str>) -> Spec {
    render::spec("demo", settings, IMAGE, config, &Account::root(), Some(8 << 20))
}

/// `words` against `golden/NAME.json`, and read back from it.
fn golden(name: &str, words: &[String]) {
    let path = format!("{}/src/platform/swarm/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = serde_json::to_string_pretty(words).unwrap_or_default() + "\n";
    crate::golden::check(Path::new(&path), &text, "cargo test -p duende-runtime platform::swarm");
    let back: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(back, words);
}

/// The value after `flag` (the first one).
fn value<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    words.iter().position(|w| w == flag).and_then(|i| words.get(i + 1)).map(String::as_str)
}

#[test]
fn a_default_service_is_replicated_restarted_on_failure_and_updated_one_task_at_a_time() {
    let settings = settings();
    let object = render::config_object("demo", b"[app]\nlabel = \"one\"\n");
    assert_eq!(object.len(), "demo-".len() + 12);
    let spec = spec(&settings, Some(&object));
    let create = render::create_args(&spec, true);
    golden("create-defaults", &create);
    assert_eq!(value(&create, "--replicas"), Some("1"));
    assert_eq!(value(&create, "--restart-condition"), Some("on-failure"));
    assert_eq!(value(&create, "--restart-delay"), Some("1s"));
    assert_eq!(value(&create, "--stop-grace-period"), Some("35s"), "shutdown_timeout 30s and the margin");
    assert_eq!(value(&create, "--update-parallelism"), Some("1"));
    assert_eq!(value(&create, "--update-failure-action"), Some("rollback"));
    // 3 checks of up to 10 s, 30 s apart, and one more interval.
    assert_eq!(value(&create, "--update-monitor"), Some("150s"));
    assert_eq!(
        value(&create, "--config"),
        Some(format!("source={object},target=/etc/demo/demo.toml,uid=0,gid=0,mode=0444").as_str())
    );
    assert_eq!(create.last().map(String::as_str), Some(IMAGE));
    assert!(create.contains(&format!("io.duende.hash={}", spec.hash)));
    assert!(spec.notes.is_empty(), "{:?}", spec.notes);
    // Installed without `--now`: created with no task.
    assert_eq!(value(&render::create_args(&spec, false), "--replicas"), Some("0"));
}

#[test]
fn resources_restarts_and_global_mode_become_engine_flags() {
    let mut settings = settings();
    settings.platform.swarm.mode = SwarmMode::Global;
    settings.platform.swarm.restart_max_attempts = 5;
    settings.platform.swarm.reserve_memory_bytes = Some(32 << 20);
    settings.platform.swarm.reserve_cpu_percent = Some(25.0);
    settings.resources.memory_bytes = Some(64 << 20);
    settings.resources.cpu_quota_percent = Some(50.0);
    settings.resources.pids_max = Some(64);
    settings.resources.open_files_max = Some(1024);
    settings.resources.lock_memory = true;
    settings.resources.cpu_shares = Some(512);
    settings.restart = RestartPolicy::Always;
    settings.backoff.initial = Duration::from_millis(1500);
    settings.shutdown_timeout = Duration::from_secs(5);
    settings.health_check.interval = Duration::from_secs(1);
    settings.health_check.timeout = Duration::from_secs(1);
    settings.health_check.retries = 2;
    settings.platform.container.network = ContainerNetwork::Host;
    let spec = spec(&settings, None);
    let create = render::create_args(&spec, false);
    golden("create-global-resources", &create);
    assert_eq!(value(&create, "--mode"), Some("global"));
    assert_eq!(value(&create, "--replicas"), None, "a global service has no replica count");
    assert_eq!(value(&create, "--restart-condition"), Some("any"));
    assert_eq!(value(&create, "--restart-delay"), Some("1500ms"));
    assert_eq!(value(&create, "--restart-max-attempts"), Some("5"));
    assert_eq!(value(&create, "--limit-memory"), Some("67108864"));
    assert_eq!(value(&create, "--limit-cpu"), Some("0.50"));
    assert_eq!(value(&create, "--reserve-cpu"), Some("0.25"));
    assert_eq!(value(&create, "--update-monitor"), Some("5s"), "(1 s + 1 s) × 2 + 1 s, at least 5 s");
    assert_eq!(value(&create, "--cap-add"), Some("CAP_IPC_LOCK"));
    assert_eq!(value(&create, "--network"), Some("host"));
    assert!(create.contains(&"memlock=8388608:8388608".to_owned()));
    assert_eq!(value(&create, "--config"), None);
    assert!(spec.notes.iter().any(|n| n.contains("cpu_shares")), "{:?}", spec.notes);
    assert!(spec.notes.iter().any(|n| n.contains("memlock limit stays")), "{:?}", spec.notes);
}

#[test]
fn an_update_swaps_the_config_object_and_sets_every_field() {
    let settings = settings();
    let spec = spec(&settings, Some("demo-222222222222"));
    let installed = Installed {
        configs: vec!["demo-111111111111".into()],
        ulimits: vec!["nofile".into()],
        caps: vec!["CAP_IPC_LOCK".into()],
        host_network: true,
        running: true,
    };
    let update = render::update_args(&spec, &installed);
    golden("update-config", &update);
    assert_eq!(&update[..3], ["service", "update", "--detach=false"], "the update is waited for");
    assert_eq!(value(&update, "--config-rm"), Some("demo-111111111111"));
    assert!(value(&update, "--config-add").is_some_and(|v| v.starts_with("source=demo-222222222222,")));
    assert_eq!(value(&update, "--cap-drop"), Some("CAP_IPC_LOCK"));
    assert_eq!(value(&update, "--network-rm"), Some("host"));
    assert_eq!(value(&update, "--replicas"), Some("1"));
    assert_eq!(value(&update, "--label-add"), Some(format!("io.duende.hash={}", spec.hash).as_str()));
    assert_eq!(update.last().map(String::as_str), Some("demo"));
    // Stopped (scaled to 0) stays stopped; the same object is not swapped.
    let stopped = Installed { configs: vec!["demo-222222222222".into()], running: false, ..Installed::default() };
    let update = render::update_args(&spec, &stopped);
    assert_eq!(value(&update, "--replicas"), None);
    assert_eq!(value(&update, "--config-rm"), None);
    assert_eq!(value(&update, "--config-add"), None);
}

#[test]
fn the_hash_follows_every_word_and_only_them() {
    let settings = settings();
    let a = spec(&settings, Some("demo-111111111111"));
    assert_eq!(a, spec(&settings, Some("demo-111111111111")));
    assert_ne!(a.hash, spec(&settings, Some("demo-222222222222")).hash);
    let mut more = self::settings();
    more.platform.swarm.replicas = 3;
    assert_ne!(a.hash, spec(&more, Some("demo-111111111111")).hash);
    assert_eq!(render::create_args(&a, true).iter().filter(|w| w.starts_with("io.duende.hash=")).count(), 1);
}

#[test]
fn hostile_names_and_values_stay_one_word() {
    let mut settings = settings();
    settings.backoff.initial = Duration::from_millis(250);
    let spec = render::spec(
        "demo",
        &settings,
        "localhost/demo:abc --privileged",
        Some("demo-111111111111"),
        &Account::root(),
        None,
    );
    let create = render::create_args(&spec, true);
    assert_eq!(create.last().map(String::as_str), Some("localhost/demo:abc --privileged"));
    assert!(!create.contains(&"--privileged".to_owned()));
    assert_eq!(create.iter().filter(|w| *w == "--config").count(), 1);
}

#[test]
fn restart_conditions_and_durations() {
    assert_eq!(render::restart_condition(RestartPolicy::Never), "none");
    assert_eq!(render::restart_condition(RestartPolicy::OnFailure), "on-failure");
    assert_eq!(render::restart_condition(RestartPolicy::UnlessStopped), "any");
    assert_eq!(render::duration(Duration::from_secs(90)), "90s");
    assert_eq!(render::duration(Duration::from_millis(100)), "100ms");
}
