//! Every validation rule refuses a bad value with what is allowed and accepts the edges of its
//! range.

use super::*;

/// Loads with each flag alone and expects `key = value (from --set flag): must be <allowed>`.
#[track_caller]
fn refused(cases: &[(&str, &str)]) {
    for (flag, allowed) in cases {
        let mut fixture = Fixture::new();
        fixture.set(flag);
        let error = fixture.error();
        let (key, _) = flag.split_once('=').expect("key=value");
        let problem = format!("(from --set {flag}): must be {allowed}");
        assert!(error.starts_with("invalid configuration (1 problem):\n  - "), "{flag}: {error}");
        assert!(
            error.contains(&format!("  - {key}")) && error.contains(&problem),
            "{flag}: expected {problem:?} in\n{error}"
        );
    }
}

/// Loads with each flag alone and expects a valid configuration.
#[track_caller]
fn accepted(flags: &[&str]) {
    for flag in flags {
        let mut fixture = Fixture::new();
        fixture.set(flag);
        if let Err(err) = fixture.load() {
            panic!("{flag} was refused: {err}");
        }
    }
}

const NAME: &str = "a service name: lowercase letters, digits, `-` and `_`, starting with a letter, at most 64 \
                    characters";

#[test]
fn name() {
    refused(&[
        ("name=Demo", NAME),
        ("name=1st", NAME),
        ("name=demo-", NAME),
        (&format!("name=a{}", "b".repeat(64)), NAME),
    ]);
    accepted(&["name=a", &format!("name=a{}", "b".repeat(63)), "name=my-daemon_2"]);
}

#[test]
fn version_and_description_are_one_line() {
    refused(&[("version=\"1\\n2\"", "one line of text"), ("description=\"a\\rb\"", "one line of text")]);
    accepted(&["version=2.0.0-rc.1", "description=\"a\\tb\""]);
}

#[test]
fn paths_are_absolute() {
    refused(&[("binary_path=bin/demo", "an absolute path"), ("working_dir=.", "an absolute path")]);
    accepted(&["binary_path=/usr/local/bin/demo", "working_dir=/var/lib/demo"]);
}

#[test]
fn arguments_have_no_nul() {
    let mut fixture = Fixture::new();
    fixture.set("args=[\"ok\", \"a\\u0000b\"]");
    assert_contains(
        &fixture.error(),
        &["args[1] = \"a\\u0000b\" (from --set args=[\"ok\", \"a\\u0000b\"]): must not contain a NUL character"],
    );
    accepted(&["args=[]", "args=[\"--verbose\", \"\"]"]);
}

#[test]
fn environment_keys_are_variable_names() {
    let fixture = Fixture::new();
    fixture.system_file("[env]\nGOOD = \"1\"\n\"A=B\" = \"x\"\n\"\" = \"y\"\nNUL = \"a\\u0000\"\n");
    let error = fixture.redact(&fixture.error());
    assert_contains(
        &error,
        &[
            "invalid configuration (3 problems):",
            "  - env.\"\" = \"y\" (from TMP/etc/demo/demo.toml:4): is not a valid environment variable name",
            "  - env.\"A=B\" = \"x\" (from TMP/etc/demo/demo.toml:3): is not a valid environment variable name: it must \
             be non-empty, without `=` or NUL",
            "  - env.NUL = \"a\\u0000\" (from TMP/etc/demo/demo.toml:5): must not contain a NUL character",
        ],
    );
    accepted(&["env.RUST_LOG=debug", "env.lower_case=\"\""]);
}

#[test]
fn user_and_group_are_names() {
    let user = "a user name: not empty, without spaces or control characters";
    let group = "a group name: not empty, without spaces or control characters";
    refused(&[("user=", user), ("user=a b", user), ("group=\"\"", group)]);
    accepted(&["user=demo", "group=1000"]);
}

#[test]
fn log_level_is_a_level_or_directives() {
    let mut fixture = Fixture::new();
    fixture.set("log_level=verbose");
    assert_contains(
        &fixture.error(),
        &["log_level = \"verbose\" (from --set log_level=verbose): `verbose` is not a level"],
    );
    accepted(&["log_level=off", "log_level=\"warn,demo=debug\""]);
}

#[test]
fn resources() {
    let memory = "a number of bytes of at least 1048576 (1 MiB)";
    let quota = "a finite number greater than 0 and at most 102400 (percent of one CPU)";
    let shares = "an integer between 1 and 10000";
    refused(&[
        ("resources.memory_bytes=1048575", memory),
        ("resources.memory_bytes=0", memory),
        ("resources.cpu_quota_percent=0", quota),
        ("resources.cpu_quota_percent=-0.5", quota),
        ("resources.cpu_quota_percent=102400.5", quota),
        ("resources.cpu_quota_percent=nan", quota),
        ("resources.cpu_shares=0", shares),
        ("resources.cpu_shares=10001", shares),
        ("resources.io_read_bps=0", "a number of bytes per second of at least 1"),
        ("resources.io_write_bps=0", "a number of bytes per second of at least 1"),
        ("resources.pids_max=0", "an integer of at least 1"),
        ("resources.open_files_max=0", "an integer of at least 1"),
        ("resources.lock_memory=1", "true or false, found an integer"),
    ]);
    accepted(&[
        "resources.memory_bytes=1048576",
        "resources.memory_swap_bytes=0",
        "resources.memory_swap_bytes=9223372036854775807",
        "resources.cpu_quota_percent=0.001",
        "resources.cpu_quota_percent=102400",
        "resources.cpu_shares=1",
        "resources.cpu_shares=10000",
        "resources.io_read_bps=1",
        "resources.io_write_bps=1",
        "resources.pids_max=1",
        "resources.open_files_max=1",
        "resources.lock_memory_required=true",
    ]);
}

#[test]
fn hardening() {
    refused(&[
        ("hardening.protect_system=read-only", "one of `strict`, `full`, `yes`, `no`"),
        ("hardening.protect_system=true", "one of `strict`, `full`, `yes`, `no`"),
        ("hardening.protect_home=readonly", "one of `yes`, `read-only`, `tmpfs`, `no`; did you mean `read-only`?"),
        ("hardening.private_tmp=yes", "true or false"),
        ("hardening.enabled=1", "true or false, found an integer"),
    ]);
    accepted(&[
        "hardening.enabled=false",
        "hardening.protect_system=full",
        "hardening.protect_system=no",
        "hardening.protect_home=read-only",
        "hardening.protect_home=tmpfs",
        "hardening.no_new_privileges=false",
        "hardening.memory_deny_write_execute=false",
        "hardening.capabilities=[\"CAP_NET_BIND_SERVICE\", \"CAP_SYSLOG\"]",
        "hardening.read_write_paths=[\"/var/cache/demo\", \"/srv/with space/%h\"]",
    ]);
}

#[test]
fn hardening_lists_are_checked_element_by_element() {
    let mut fixture = Fixture::new();
    fixture.set("hardening.capabilities=[\"CAP_KILL\", \"net_raw\", \"CAP_FLY\"]");
    fixture.set("hardening.read_write_paths=[\"/ok\", \"var/lib\", \"/a/../etc\", \"/a\\nb\"]");
    let error = fixture.error();
    assert_contains(
        &error,
        &[
            "invalid configuration (5 problems):",
            "hardening.capabilities[1] = \"net_raw\" (from --set hardening.capabilities=[\"CAP_KILL\", \"net_raw\", \
             \"CAP_FLY\"]): is not a capability name; did you mean `CAP_NET_RAW`?",
            "hardening.capabilities[2] = \"CAP_FLY\" (from --set hardening.capabilities=[\"CAP_KILL\", \"net_raw\", \
             \"CAP_FLY\"]): is not a capability name: expected one such as `CAP_NET_BIND_SERVICE` (see capabilities(7))",
            "hardening.read_write_paths[1] = \"var/lib\"",
            "hardening.read_write_paths[2] = \"/a/../etc\"",
            "hardening.read_write_paths[3] = \"/a\\nb\"",
            "): must be an absolute path without `..` or control characters",
        ],
    );
    assert!(!error.contains("[0]"), "{error}");
}

#[test]
fn health_check() {
    refused(&[
        ("health_check.interval=0", "a duration greater than 0, such as \"30s\""),
        ("health_check.interval=0s", "a duration greater than 0, such as \"30s\""),
        ("health_check.timeout=\"0ms\"", "a duration greater than 0, such as \"10s\""),
        ("health_check.timeout=-1", "a duration greater than 0, such as \"10s\""),
        ("health_check.retries=0", "an integer between 1 and 100"),
        ("health_check.retries=101", "an integer between 1 and 100"),
    ]);
    accepted(&[
        "health_check.interval=1ms",
        "health_check.interval=1",
        "health_check.timeout=\"1h 2m\"",
        "health_check.retries=1",
        "health_check.retries=100",
    ]);
}

const LISTEN: &str = "an IP address and port such as \"127.0.0.1:9464\" (port 0 picks a free one), on loopback \
                      unless metrics.allow_remote = true";
const UPKEEP: &str = "a duration greater than 0 and at most 1h, such as \"5s\"";

#[test]
fn metrics() {
    for flag in ["metrics.listen=localhost:9464", "metrics.listen=127.0.0.1", "metrics.listen=127.0.0.1:65536"] {
        let mut fixture = Fixture::new();
        fixture.set(flag);
        let (key, value) = flag.split_once('=').unwrap();
        let problem =
            format!("{key} = \"{value}\" (from --set {flag}): invalid socket address syntax; must be {LISTEN}");
        assert_contains(&fixture.error(), &[&problem]);
    }
    refused(&[
        ("metrics.upkeep_interval=0", UPKEEP),
        ("metrics.upkeep_interval=\"0ms\"", UPKEEP),
        ("metrics.upkeep_interval=\"1h 1s\"", UPKEEP),
        ("metrics.enabled=yes", "true or false"),
    ]);
    #[cfg(feature = "prometheus")]
    accepted(&["metrics.enabled=true"]);
    accepted(&[
        "metrics.listen=127.0.0.1:0",
        "metrics.listen=127.8.9.10:9000",
        "metrics.listen=[::1]:9464",
        "metrics.listen=[::ffff:127.0.0.1]:9464",
        "metrics.upkeep_interval=1ms",
        "metrics.upkeep_interval=1h",
    ]);
}

/// Without the exporter, metrics cannot be turned on: the refusal names the feature (and a
/// build with it accepts the same flag, in `metrics` above).
#[cfg(not(feature = "prometheus"))]
#[test]
fn metrics_need_the_prometheus_feature() {
    let mut fixture = Fixture::new();
    fixture.set("metrics.enabled=true");
    assert_contains(
        &fixture.error(),
        &[
            "metrics.enabled = true (from --set metrics.enabled=true): is true, but this binary was built without \
             duende's `prometheus` feature",
            "features = [\"prometheus\"]",
        ],
    );
    accepted(&["metrics.enabled=false"]);
}

#[test]
fn a_remote_metrics_address_needs_allow_remote_and_the_refusal_says_so() {
    for address in ["0.0.0.0:9464", "192.0.2.7:9464", "[::]:9464", "[2001:db8::1]:80"] {
        let mut fixture = Fixture::new();
        fixture.env("DEMO_METRICS__LISTEN", address);
        assert_contains(
            &fixture.error(),
            &[
                &format!(
                    "metrics.listen = \"{address}\" (from environment variable DEMO_METRICS__LISTEN): is not a loopback address"
                ),
                "set metrics.allow_remote = true to expose them",
                "listen on \"127.0.0.1:",
            ],
        );
        fixture.env("DEMO_METRICS__ALLOW_REMOTE", "true");
        assert_eq!(fixture.settings().metrics.listen.to_string(), address);
    }
}

#[test]
fn metrics_are_off_and_on_loopback_by_default() {
    let settings = Fixture::new().settings();
    assert!(!settings.metrics.enabled && !settings.metrics.allow_remote);
    assert_eq!(settings.metrics.listen.to_string(), "127.0.0.1:9464");
    assert_eq!(settings.metrics.upkeep_interval, std::time::Duration::from_secs(5));
    assert_eq!(settings.without_app().metrics, settings.metrics);
}

#[test]
fn restart_policy() {
    refused(&[
        ("restart=sometimes", "one of `never`, `on-failure`, `always`, `unless-stopped`"),
        ("restart=on_failure", "one of `never`, `on-failure`, `always`, `unless-stopped`; did you mean `on-failure`?"),
    ]);
    accepted(&["restart=never", "restart=on-failure", "restart=always", "restart=unless-stopped"]);
}

#[test]
fn backoff() {
    let multiplier = "a finite number between 1.0 and 10.0";
    let jitter = "a finite number between 0.0 and 1.0";
    refused(&[
        ("backoff.initial=0s", "a duration greater than 0, such as \"1s\""),
        ("backoff.max=500ms", "at least backoff.initial (1s)"),
        ("backoff.multiplier=0.99", multiplier),
        ("backoff.multiplier=10.01", multiplier),
        ("backoff.multiplier=inf", multiplier),
        ("backoff.jitter=-0.01", jitter),
        ("backoff.jitter=1.01", jitter),
        ("backoff.jitter=nan", jitter),
    ]);
    accepted(&[
        "backoff.initial=1ms",
        "backoff.max=1s",
        "backoff.multiplier=1",
        "backoff.multiplier=10.0",
        "backoff.jitter=0",
        "backoff.jitter=1.0",
    ]);
}

#[test]
fn shutdown_timeout() {
    let allowed = "a duration greater than 0 and at most 24h, such as \"30s\"";
    refused(&[
        ("shutdown_timeout=0", allowed),
        ("shutdown_timeout=\"24h 1s\"", allowed),
        ("shutdown_timeout=soon", allowed),
    ]);
    accepted(&["shutdown_timeout=1ms", "shutdown_timeout=24h", "shutdown_timeout=86400"]);
}

#[test]
fn platform() {
    refused(&[
        ("platform.native.log_max_bytes=4095", "a number of bytes of at least 4096"),
        ("platform.native.log_files=0", "an integer between 1 and 100"),
        ("platform.native.restart_budget=\"5 per minute\"", "a budget such as \"5 in 1m\""),
        ("platform.native.restart_budget=\"0 in 1m\"", "a budget such as \"5 in 1m\""),
        ("platform.native.min_uptime=\"0s\"", "a duration greater than 0"),
        ("platform.container.engine=\"lxc\"", "one of `auto`, `docker`, `podman`, `nerdctl`"),
        ("platform.container.publish=[\"9464\"]", "an array of ports such as \"127.0.0.1:9464:9464\""),
        ("platform.pepita.vcpus=0", "an integer between 1 and 64"),
        ("platform.pepita.vcpus=65", "an integer between 1 and 64"),
        ("platform.pepita.memory_mb=15", "an integer between 16 and 1048576"),
        ("platform.pepita.memory_mb=1048577", "an integer between 16 and 1048576"),
        ("platform.pepita.kernel=\"vmlinuz\"", "an absolute path"),
        ("platform.pepita.vsock_cid=2", "0 (pick one) or an integer between 3 and 4294967294"),
        ("platform.pepita.vsock_cid=4294967295", "0 (pick one) or an integer between 3 and 4294967294"),
        ("platform.wos.priority=8", "an integer between 0 (critical) and 7 (idle)"),
        ("platform.wos.priority=-1", "an integer between 0 (critical) and 7 (idle)"),
        ("platform.wos.capabilities=[\"everything\"]", "an array of capabilities, each `fs:read:/PATH`"),
        (
            "platform.wos.capabilities=[\"fs:read:data\"]",
            "an array of capabilities, each `fs:read:/PATH` or `fs:write:/PATH` (an absolute path without `..`",
        ),
        (
            "platform.wos.capabilities=[\"fs:read:/a/../etc\"]",
            "an array of capabilities, each `fs:read:/PATH` or `fs:write:/PATH` (an absolute path without `..`",
        ),
        ("platform.wos.capabilities=[\"net:listen:localhost:80\"]", "an array of capabilities, each"),
        ("platform.launchd.label=\"no dots\"", "empty or a reverse-DNS label"),
        ("platform.launchd.label=\"com..demo\"", "empty or a reverse-DNS label"),
        ("platform.launchd.label=\"com.exa</string>.demo\"", "empty or a reverse-DNS label"),
        ("platform.launchd.label_prefix=\"\"", "a reverse-DNS prefix such as \"com.example\""),
        ("platform.launchd.label_prefix=\"com.example.\"", "a reverse-DNS prefix such as \"com.example\""),
        ("platform.launchd.process_type=\"Fast\"", "one of `Background`, `Standard`"),
        ("platform.kubernetes.namespace=\"Prod\"", "a DNS label"),
        ("platform.swarm.restart_max_attempts=10001", "an integer between 0 (no limit) and 10000"),
        ("platform.swarm.reserve_memory_bytes=1024", "a number of bytes of at least 4194304 (4 MiB)"),
        ("platform.swarm.reserve_cpu_percent=0.0", "a number above 0 and at most 100000"),
        ("platform.kubernetes.image=\"a b\"", "empty or an image reference without spaces"),
    ]);
    accepted(&[
        "platform.native.restart_budget=\"10 in 30s\"",
        "platform.native.log_files=100",
        "platform.container.engine=\"podman\"",
        "platform.container.publish=[\"127.0.0.1:9464:9464\"]",
        "platform.pepita.vcpus=64",
        "platform.pepita.memory_mb=16",
        "platform.pepita.kernel=\"/boot/vmlinuz\"",
        "platform.pepita.vsock_cid=0",
        "platform.pepita.vsock_cid=4294967294",
        "platform.wos.priority=0",
        "platform.wos.capabilities=[\"fs:read:/data\", \"fs:write:/var/lib/x\", \"net:listen:[::1]:8080\"]",
        "platform.launchd.label=\"com.example.demo\"",
        "platform.launchd.label_prefix=\"com.example\"",
        "platform.launchd.label_prefix=\"local\"",
        "platform.swarm.mode=\"global\"",
        "platform.swarm.restart_max_attempts=5",
        "platform.swarm.reserve_memory_bytes=67108864",
        "platform.swarm.reserve_cpu_percent=25.0",
        "platform.kubernetes.kind=\"daemonset\"",
    ]);
}

#[test]
fn the_daemons_own_rules_report_keys_under_app() {
    refused(&[
        ("app.interval_ms=9", "between 10 and 60000"),
        ("app.interval_ms=60001", "between 10 and 60000"),
        ("app.nested.depth=11", "at most 10"),
    ]);
    accepted(&["app.interval_ms=10", "app.interval_ms=60000", "app.nested.depth=10"]);
}
