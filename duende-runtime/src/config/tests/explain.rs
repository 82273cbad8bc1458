//! `config` output: every key, its effective value and where it came from.

use super::*;
use crate::config::NoConfig;

#[test]
fn every_key_with_its_value_and_source_in_the_order_of_the_settings() {
    let mut fixture = Fixture::new();
    fixture.system_file(
        "description = \"counts\"\n\n[resources]\nmemory_bytes = 67108864\nlock_memory_required = true\n\n[app]\n\
         interval_ms = 250\n",
    );
    fixture.env("DEMO_LOG_LEVEL", "debug").env("DEMO_ENV__RUST_BACKTRACE", "1");
    fixture.set("health_check.interval=1m30s").set("args=[\"--fast\"]");
    let loaded = fixture.load().expect("valid configuration");
    assert_eq!(
        fixture.redact(&loaded.explain()),
        r#"# configuration file: TMP/etc/demo/demo.toml
name = "demo"                           # default
version = "1.2.3"                       # default
description = "counts"                  # TMP/etc/demo/demo.toml:1
# binary_path: not set
args = ["--fast"]                       # --set args=["--fast"]

env.RUST_BACKTRACE = "1"                # environment variable DEMO_ENV__RUST_BACKTRACE

# user: not set
# group: not set
# working_dir: not set
log_level = "debug"                     # environment variable DEMO_LOG_LEVEL

resources.memory_bytes = 67108864       # TMP/etc/demo/demo.toml:4
# resources.memory_swap_bytes: not set
# resources.cpu_quota_percent: not set
# resources.cpu_shares: not set
# resources.io_read_bps: not set
# resources.io_write_bps: not set
# resources.pids_max: not set
# resources.open_files_max: not set
resources.lock_memory = true            # implied by resources.lock_memory_required
resources.lock_memory_required = true   # TMP/etc/demo/demo.toml:5
resources.trim_after_ready = true       # default
# resources.worker_threads: not set
# resources.thread_stack_bytes: not set

hardening.enabled = true                # default
hardening.no_new_privileges = true      # default
hardening.protect_system = "strict"     # default
hardening.protect_home = "yes"          # default
hardening.private_tmp = true            # default
hardening.private_devices = true        # default
hardening.memory_deny_write_execute = true  # default
hardening.capabilities = []             # default
hardening.read_write_paths = []         # default

health_check.enabled = false            # default
health_check.interval = "1m 30s"        # --set health_check.interval=1m30s
health_check.timeout = "10s"            # default
health_check.retries = 3                # default

metrics.enabled = false                 # default
metrics.listen = "127.0.0.1:9464"       # default
metrics.allow_remote = false            # default
metrics.upkeep_interval = "5s"          # default

restart = "on-failure"                  # default

backoff.initial = "1s"                  # default
backoff.max = "1m"                      # default
backoff.multiplier = 2.0                # default
backoff.jitter = 0.1                    # default

shutdown_timeout = "30s"                # default

platform.native.log_max_bytes = 10485760  # default
platform.native.log_files = 5           # default
platform.native.restart_budget = "5 in 1m"  # default
platform.native.min_uptime = "10s"      # default
platform.container.engine = "auto"      # default
platform.container.network = "none"     # default
platform.container.publish = []         # default
# platform.pepita.kernel: not set
platform.pepita.vcpus = 1               # default
platform.pepita.memory_mb = 256         # default
platform.pepita.vsock_cid = 0           # default
platform.pepita.vmm = "auto"            # default
platform.pepita.accel = "auto"          # default
# platform.wos.module: not set
platform.wos.priority = 4               # default
platform.wos.capabilities = []          # default
platform.wos.runtime = "auto"           # default
platform.launchd.label = ""             # default
platform.launchd.label_prefix = "local.duende"  # default
platform.launchd.process_type = "Standard"  # default
platform.swarm.mode = "replicated"      # default
platform.swarm.replicas = 1             # default
platform.swarm.restart_max_attempts = 0  # default
# platform.swarm.reserve_memory_bytes: not set
# platform.swarm.reserve_cpu_percent: not set
platform.kubernetes.kind = "deployment"  # default
platform.kubernetes.namespace = "default"  # default
platform.kubernetes.replicas = 1        # default
platform.kubernetes.image = ""          # default

app.interval_ms = 250                   # TMP/etc/demo/demo.toml:8
app.label = "counter"                   # default
app.nested.depth = 1                    # default
"#
    );
}

#[test]
fn says_which_files_were_looked_for() {
    let mut fixture = Fixture::new();
    fixture.config_file("");
    let explained = fixture.redact(&fixture.load().expect("valid configuration").explain());
    assert!(
        explained.starts_with(
            "# configuration file: TMP/etc/demo/demo.toml (not found)\n# --config file: TMP/extra/given.toml\nname = "
        ),
        "{explained}"
    );
}

#[test]
fn an_empty_app_section_and_unusual_keys_are_valid_toml() {
    let mut fixture = Fixture::new();
    fixture.set("env.X=1");
    fixture.system_file("[env]\n\"odd key\" = \"a \\\"quoted\\\"\\nvalue\"\n");
    let Ok(loaded) = load::<NoConfig>(&fixture.sources, |_| Ok(())) else { panic!("expected a valid configuration") };
    let explained = fixture.redact(&loaded.explain());
    assert_contains(
        &explained,
        &[
            "\nenv.X = \"1\"                             # --set env.X=1\n",
            "\nenv.\"odd key\" = \"a \\\"quoted\\\"\\nvalue\"   # TMP/etc/demo/demo.toml:2\n",
            "\napp = {}                                # default\n",
        ],
    );
    // Every line but the comments is TOML, and together they say the same as the settings.
    let text: String =
        explained.lines().filter(|line| !line.starts_with('#')).map(|line| format!("{line}\n")).collect();
    let parsed: toml::Table = toml::from_str(&text).expect("explain output is TOML");
    assert_eq!(parsed["env"]["odd key"].as_str(), Some("a \"quoted\"\nvalue"));
    assert_eq!(parsed["env"]["X"].as_str(), Some("1"));
    assert_eq!(parsed["shutdown_timeout"].as_str(), Some("30s"));
}
