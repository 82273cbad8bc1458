//! Golden tests of rendered units, each also checked by systemd's own parser.
//!
//! Every case renders a unit and compares it with `golden/CASE.service` next to this file; a
//! mismatch fails with a line diff. After an intended change, regenerate the files with
//!
//! ```text
//! DUENDE_BLESS=1 cargo test -p duende-runtime platform::systemd
//! ```
//!
//! (which still fails, listing the files it rewrote), read the diff, and rerun without it.
//!
//! Each unit is then written into a scratch root (a copy of this host's system units, plus stub
//! executables at the unit's binary path and `/usr/bin/kill`) and checked with
//! `systemd-analyze verify --man=no --root=DIR`: it must exit 0 with nothing on stderr, because
//! systemd only warns (exit 0) about unknown keys and unparsable values. The one exception is a
//! unit rendered for a newer systemd than this host's: the warnings for exactly those newer
//! settings (`Type=notify-reload` before 253, `RestartSteps=`/`RestartMaxDelaySec=` before 254)
//! are expected, and every other line still fails the test. Without `systemd-analyze` the tests
//! fail and say to install systemd.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;
#[cfg(feature = "pepita")]
use crate::config::platforms::Accel;
use crate::config::{NoConfig, ProtectHome, RestartPolicy, Settings};
use crate::platform::backend::Level;
#[cfg(any(feature = "pepita", feature = "wos"))]
use crate::platform::plan::Hosted;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/platform/systemd/golden");

fn settings() -> Settings<NoConfig> {
    Settings { name: "demo".into(), version: "1.0.0".into(), ..Settings::default() }
}

fn system(features: Features) -> InstallFacts {
    InstallFacts {
        binary: "/usr/local/bin/demo".into(),
        config_file: Some("/etc/demo/demo.toml".into()),
        level: Level::System,
        features,
        sets: Vec::new(),
        overrides: Vec::new(),
    }
}

fn user(features: Features) -> InstallFacts {
    InstallFacts {
        binary: "/home/ana/.local/bin/demo".into(),
        config_file: Some("/home/ana/.config/demo/demo.toml".into()),
        level: Level::User,
        features,
        sets: Vec::new(),
        overrides: Vec::new(),
    }
}

const V252: Features = Features { notify_reload: false, restart_steps: false };
const V254: Features = Features { notify_reload: true, restart_steps: true };

fn every_setting() -> Settings<NoConfig> {
    let mut s = settings();
    s.description = "Counts requests for the demo".into();
    s.args = vec!["--port".into(), "8080".into()];
    s.env.insert("RUST_BACKTRACE".into(), "1".into());
    s.user = Some("demo".into());
    s.group = Some("demo".into());
    s.working_dir = Some("/var/lib/demo".into());
    let r = &mut s.resources;
    r.memory_bytes = Some(512 * 1024 * 1024);
    r.memory_swap_bytes = Some(0);
    r.cpu_quota_percent = Some(250.0);
    r.cpu_shares = Some(200);
    r.io_read_bps = Some(10_000_000);
    r.io_write_bps = Some(5_000_000);
    r.pids_max = Some(512);
    r.open_files_max = Some(65_536);
    r.lock_memory = true;
    r.lock_memory_required = true;
    s.health_check.enabled = true;
    s.restart = RestartPolicy::Always;
    s.shutdown_timeout = Duration::from_secs(10);
    s.hardening.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    s.hardening.read_write_paths = vec!["/var/cache/demo".into()];
    s
}

fn hardening_off() -> Settings<NoConfig> {
    let mut s = settings();
    s.hardening.enabled = false;
    s.resources.lock_memory = true;
    s.restart = RestartPolicy::Never;
    s
}

/// Values chosen to break naive quoting: spaces, both quotes, specifiers, variables,
/// backslashes, control characters, a lone `;`, a leading `-`, non-ASCII, and a newline that
/// tries to add a directive.
fn nasty() -> (Settings<NoConfig>, InstallFacts) {
    let mut s = settings();
    s.description = "50% \"quoted\" 'single' $HOME \\".into();
    s.args = [
        "two words",
        ";",
        "",
        "-x",
        "%h $HOME ${USER}",
        "back\\slash \"dq\" 'sq'",
        "tab\tand\nnewline",
        "x\nExecStartPre=/bin/rm -rf /",
        "ünïcödé ✓",
        "\u{1b}[0m",
    ]
    .map(str::to_owned)
    .to_vec();
    s.env.insert("INJECT".into(), "x\nExecStartPre=/bin/rm -rf /".into());
    s.env.insert("QUOTES".into(), "\"double\" 'single' \\back\\".into());
    s.env.insert("SPECIFIERS".into(), "%n %% $HOME ${PATH}".into());
    s.env.insert("EMPTY".into(), String::new());
    s.working_dir = Some("/srv/dü ende/%i $x".into());
    s.hardening.read_write_paths = vec!["/srv/with space/\"q\"/%h".into(), "/srv/back\\slash".into()];
    let facts = InstallFacts {
        binary: "/opt/dü ende/%h ;/-bin".into(),
        config_file: Some("/etc/demo/it's \"here\".toml".into()),
        level: Level::System,
        features: V252,
        sets: Vec::new(),
        overrides: Vec::new(),
    };
    (s, facts)
}

/// pepita's VM runner for the system bundle in `/var/lib/demo/pepita`, as its backend hosts it.
#[cfg(feature = "pepita")]
fn pepita(accel: Accel) -> Hosted {
    pepita_in("/var/lib/demo/pepita", accel)
}

#[cfg(feature = "pepita")]
fn pepita_in(bundle: &str, accel: Accel) -> Hosted {
    let vsock = Path::new("/usr/local/bin/vhost-device-vsock");
    crate::platform::pepita::backend::runner_hosted(Path::new(bundle), accel, vsock)
}

/// The WOS runner for the manifest in `dir`, as its backend hosts it, with `fs:write` in
/// `writable`.
#[cfg(feature = "wos")]
fn wos(dir: &str, priority: u8, writable: &[&str]) -> Hosted {
    let manifest = Path::new(dir).join("demo.wos.toml");
    let writable = writable.iter().map(PathBuf::from).collect();
    crate::platform::wos::backend::runner_hosted(&manifest, Path::new("/usr/local/bin/wasmtime"), priority, writable)
}

/// A daemon's settings that a hosted unit does not pass on: arguments, environment, a watchdog,
/// memory locking and capabilities (they are the guest's), beside a restart policy and a
/// shutdown timeout that it does.
#[cfg(any(feature = "pepita", feature = "wos"))]
fn pepita_settings() -> Settings<NoConfig> {
    let mut s = settings();
    s.args = vec!["--port".into(), "8080".into()];
    s.env.insert("RUST_BACKTRACE".into(), "1".into());
    s.health_check.enabled = true;
    s.resources.lock_memory = true;
    s.resources.cpu_quota_percent = Some(150.0);
    s.hardening.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    s.restart = RestartPolicy::Always;
    s.shutdown_timeout = Duration::from_secs(10);
    s
}

fn golden_cases() -> Vec<(&'static str, UnitSpec)> {
    let (nasty_settings, nasty_facts) = nasty();
    vec![
        ("system-defaults", UnitSpec::new(&settings(), &system(V252))),
        ("user-defaults", UnitSpec::new(&settings(), &user(V252))),
        ("system-every-setting", UnitSpec::new(&every_setting(), &system(V254))),
        ("system-hardening-off", UnitSpec::new(&hardening_off(), &system(V252))),
        ("system-nasty-values", UnitSpec::new(&nasty_settings, &nasty_facts)),
        #[cfg(feature = "pepita")]
        ("system-pepita", UnitSpec::hosting(&pepita_settings(), &system(V254), &pepita(Accel::Tcg))),
        #[cfg(feature = "pepita")]
        ("system-pepita-kvm", UnitSpec::hosting(&settings(), &system(V252), &pepita(Accel::Kvm))),
        #[cfg(feature = "pepita")]
        (
            "user-pepita",
            UnitSpec::hosting(&settings(), &user(V252), &pepita_in("/home/ana/.local/state/demo/pepita", Accel::Tcg)),
        ),
        // A WOS module's runner: priority 0 is `Nice=-15` and `CPUWeight=1000`; a user unit
        // cannot raise a priority, so priority 1 keeps only its `CPUWeight=500`.
        #[cfg(feature = "wos")]
        (
            "system-wos",
            UnitSpec::hosting(&pepita_settings(), &system(V254), &wos("/var/lib/demo/wos", 0, &["/srv/demo spool"])),
        ),
        #[cfg(feature = "wos")]
        ("user-wos", UnitSpec::hosting(&settings(), &user(V252), &wos("/home/ana/.local/state/demo/wos", 1, &[]))),
    ]
}

fn rendered(spec: &UnitSpec) -> String {
    match render(spec) {
        Ok(text) => text,
        Err(err) => panic!("rendering {} failed: {err}", spec.name),
    }
}

#[test]
fn units_match_their_golden_files() {
    let mut failures = Vec::new();
    for (case, spec) in golden_cases() {
        let path = Path::new(GOLDEN).join(format!("{case}.service"));
        failures.extend(crate::golden::compare(&path, &rendered(&spec)).err());
    }
    crate::golden::assert_none(&failures, "cargo test -p duende-runtime platform::systemd");
}

#[test]
fn golden_units_pass_systemd_analyze_verify() {
    for (case, spec) in golden_cases() {
        let root = Root::new(&spec);
        let text = rendered(&spec);
        root.verify(case, &text, &spec);
    }
}

#[test]
fn the_default_system_unit_is_well_sandboxed() {
    let spec = UnitSpec::new(&settings(), &system(V252));
    let root = Root::new(&spec);
    root.install(&rendered(&spec), &spec);
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(format!("--root={}", root.dir.path().display()))
        .arg("demo.service")
        .output()
        .unwrap_or_else(|err| panic!("{}", missing_systemd(&err)));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let needle = "Overall exposure level for demo.service: ";
    let score = stdout
        .lines()
        .find_map(|line| line.split_once(needle).map(|(_, rest)| rest.to_owned()))
        .and_then(|rest| rest.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    println!("systemd-analyze security --offline=true: exposure of the default system unit = {score}");
    assert!(score < 3.0, "exposure {score} is not below 3.0:\n{stdout}");
}

#[test]
fn nothing_a_value_holds_becomes_a_directive() {
    let (settings, facts) = nasty();
    let text = rendered(&UnitSpec::new(&settings, &facts));
    let keys: Vec<&str> = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('['))
        .map(|line| line.split_once('=').map_or(line, |(key, _)| key))
        .collect();
    assert_eq!(keys.iter().filter(|key| **key == "ExecStart").count(), 1, "{text}");
    assert!(!keys.contains(&"ExecStartPre"), "{text}");
    assert!(keys.iter().all(|key| key.chars().all(|c| c.is_ascii_alphanumeric())), "{keys:?}");
    for line in text.lines().filter(|line| line.starts_with("ExecStart=") || line.starts_with("Environment=")) {
        assert!(line.ends_with('"'), "every word is quoted: {line}");
    }
}

#[test]
fn user_units_refuse_what_a_user_manager_cannot_do() {
    let mut s = settings();
    s.user = Some("demo".into());
    let err = render(&UnitSpec::new(&s, &user(V252))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`user` cannot apply to a user unit: a user's service manager runs every service as that user; install with \
         `--system` or unset `user`"
    );
    let mut s = settings();
    s.group = Some("demo".into());
    assert!(matches!(render(&UnitSpec::new(&s, &user(V252))), Err(RenderError::UserLevel { key: "group", .. })));
    let mut s = settings();
    s.hardening.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    let err = render(&UnitSpec::new(&s, &user(V252))).unwrap_err();
    assert!(err.to_string().starts_with("`hardening.capabilities` cannot apply to a user unit"), "{err}");

    // Locking memory is not refused: LimitMEMLOCK= still applies, and the unit says why there is
    // no capability.
    let mut s = settings();
    s.resources.lock_memory = true;
    let text = rendered(&UnitSpec::new(&s, &user(V252)));
    assert!(text.contains("LimitMEMLOCK=infinity\n") && !text.contains("CAP_IPC_LOCK\n"), "{text}");
}

#[test]
fn files_the_sandbox_would_hide_are_refused() {
    let at = |binary: &str, config: Option<&str>| InstallFacts {
        binary: binary.into(),
        config_file: config.map(PathBuf::from),
        ..system(V252)
    };
    let err = render(&UnitSpec::new(&settings(), &at("/home/ana/bin/demo", None))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the binary \"/home/ana/bin/demo\" is under /home, which `hardening.protect_home = \"yes\"` hides from the \
         service; install it elsewhere or change `hardening.protect_home = \"yes\"`"
    );
    let err = render(&UnitSpec::new(&settings(), &at("/usr/bin/demo", Some("/tmp/x/demo.toml")))).unwrap_err();
    assert!(matches!(err, RenderError::Hidden { what: "configuration file", dir: "/tmp", .. }), "{err}");
    let mut s = settings();
    s.working_dir = Some("/root/work".into());
    s.hardening.protect_home = ProtectHome::Tmpfs;
    let err = render(&UnitSpec::new(&s, &system(V252))).unwrap_err();
    assert!(matches!(err, RenderError::Hidden { what: "working directory", dir: "/root", .. }), "{err}");

    // Each opt-out lifts its own restriction; `/home2` is not `/home`.
    let mut s = settings();
    s.hardening.protect_home = ProtectHome::ReadOnly;
    s.hardening.private_tmp = false;
    assert!(render(&UnitSpec::new(&s, &at("/home/ana/bin/demo", Some("/tmp/demo.toml")))).is_ok());
    assert!(render(&UnitSpec::new(&settings(), &at("/home2/demo", None))).is_ok());
    let mut s = settings();
    s.hardening.enabled = false;
    assert!(render(&UnitSpec::new(&s, &at("/home/ana/bin/demo", Some("/tmp/demo.toml")))).is_ok());
}

#[test]
fn values_no_unit_can_hold_are_refused_with_their_key() {
    let mut s = settings();
    s.env.insert("NOT-VALID".into(), "x".into());
    let err = render(&UnitSpec::new(&s, &system(V252))).unwrap_err();
    assert!(err.to_string().starts_with("`env.NOT-VALID` = \"x\" cannot be written into a systemd unit: it `NOT-VALID` is not a valid environment variable name"), "{err}");

    let mut s = settings();
    s.description = "two\nlines".into();
    let err = render(&UnitSpec::new(&s, &system(V252))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`description` = \"two\\nlines\" cannot be written into a systemd unit: it contains the control character \
         '\\n', which this systemd setting cannot hold"
    );

    let dollar = InstallFacts { binary: "/opt/$x/demo".into(), ..system(V252) };
    let err = render(&UnitSpec::new(&settings(), &dollar)).unwrap_err();
    assert!(
        matches!(&err, RenderError::Value { key, source: EscapeError::Dollar, .. } if key == "binary_path"),
        "{err}"
    );

    let relative = InstallFacts { binary: "bin/demo".into(), ..system(V252) };
    let err = render(&UnitSpec::new(&settings(), &relative)).unwrap_err();
    assert_eq!(err.to_string(), "`binary_path` must be an absolute path, found \"bin/demo\"");

    let mut s = settings();
    s.args = vec!["a\0b".into()];
    assert!(
        matches!(render(&UnitSpec::new(&s, &system(V252))), Err(RenderError::Value { key, .. }) if key == "args[0]")
    );

    let mut s = settings();
    s.working_dir = Some("/srv/ends-with\\".into());
    assert!(
        matches!(render(&UnitSpec::new(&s, &system(V252))), Err(RenderError::Value { key, .. }) if key == "working_dir")
    );

    let mut s = settings();
    s.resources.cpu_shares = Some(0);
    assert!(matches!(render(&UnitSpec::new(&s, &system(V252))), Err(RenderError::OutOfRange { .. })));

    let mut s = settings();
    s.name = "Not A Name".into();
    assert!(matches!(render(&UnitSpec::new(&s, &system(V252))), Err(RenderError::Name(_))));

    {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let binary = PathBuf::from(OsStr::from_bytes(b"/usr/bin/\xff"));
        let err = render(&UnitSpec::new(&settings(), &InstallFacts { binary, ..system(V252) })).unwrap_err();
        assert!(matches!(err, RenderError::NotUtf8 { .. }), "{err}");
    }
}

#[test]
#[cfg(feature = "pepita")]
fn a_hosted_unit_runs_its_command_with_what_qemu_needs_and_nothing_of_the_daemon() {
    let text = rendered(&UnitSpec::hosting(&pepita_settings(), &system(V254), &pepita(Accel::Tcg)));
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "Type=notify",
        "NotifyAccess=main",
        r#"ExecStart="/usr/local/bin/demo" "--config" "/etc/demo/demo.toml" "__pepita-vm" "--bundle" "/var/lib/demo/pepita""#,
        "ExecReload=kill -HUP $MAINPID",
        "Restart=always",
        // shutdown_timeout (10 s) + 5 s: after the runner's own deadline and its wind-down.
        "TimeoutStopSec=15s",
        "KillMode=mixed",
        "StateDirectory=demo",
        "RuntimeDirectory=demo",
        "CPUQuota=150%",
        "PrivateDevices=yes",
        "MemoryDenyWriteExecute=no",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in:\n{text}");
    }
    for absent in
        ["run", "--port", "Environment=", "WatchdogSec=", "LimitMEMLOCK=", "AmbientCapabilities=", "DeviceAllow="]
    {
        assert!(
            !lines.iter().any(|line| line.starts_with(absent) || line.contains(&format!("\"{absent}\""))),
            "{absent:?} in:\n{text}"
        );
    }
    let runner_deadline = Duration::from_secs(10) + crate::platform::pepita::runner::STOP_MARGIN;
    assert!(runner_deadline + crate::platform::pepita::runner::WIND_DOWN < Duration::from_secs(15));

    let kvm = rendered(&UnitSpec::hosting(&settings(), &system(V252), &pepita(Accel::Kvm)));
    for expected in ["PrivateDevices=no", "DevicePolicy=closed", r#"DeviceAllow="/dev/kvm" rw"#] {
        assert!(kvm.lines().any(|line| line == expected), "no {expected:?} in:\n{kvm}");
    }
}

#[test]
#[cfg(feature = "pepita")]
fn a_hosted_command_the_sandbox_would_hide_is_refused() {
    let hosted = crate::platform::pepita::backend::runner_hosted(
        Path::new("/var/lib/demo/pepita"),
        Accel::Tcg,
        Path::new("/root/.cargo/bin/vhost-device-vsock"),
    );
    let err = render(&UnitSpec::hosting(&settings(), &system(V252), &hosted)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the vsock backend \"/root/.cargo/bin/vhost-device-vsock\" is under /root, which `hardening.protect_home = \
         \"yes\"` hides from the service; install it elsewhere or change `hardening.protect_home = \"yes\"`"
    );
    let mut s = settings();
    s.hardening.protect_home = ProtectHome::ReadOnly;
    assert!(render(&UnitSpec::hosting(&s, &system(V252), &hosted)).is_ok());
}

#[test]
fn the_marker_identifies_every_rendered_unit() {
    for (case, spec) in golden_cases() {
        assert!(is_written_by_duende(&rendered(&spec)), "{case}");
    }
}

/// A scratch root for `systemd-analyze --root`.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new(spec: &UnitSpec) -> Root {
        let dir = tempfile::tempdir().expect("temporary directory");
        let units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
            .into_iter()
            .map(Path::new)
            .find(|path| path.is_dir())
            .unwrap_or_else(|| panic!("no /usr/lib/systemd/system on this host: install systemd to run these tests"));
        let target = dir.path().join("usr/lib/systemd");
        std::fs::create_dir_all(&target).expect("create usr/lib/systemd");
        let status = Command::new("cp").arg("-a").arg(units).arg(&target).status().expect("run cp");
        assert!(status.success(), "copying {} failed", units.display());
        let root = Root { dir };
        root.stub(&spec.binary);
        root.stub(Path::new("/usr/bin/kill"));
        root
    }

    /// An executable at `path` inside the root.
    fn stub(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let inside = self.dir.path().join(path.strip_prefix("/").expect("absolute path"));
        std::fs::create_dir_all(inside.parent().expect("parent")).expect("create directories");
        std::fs::write(&inside, "#!/bin/sh\n").expect("write stub");
        std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
    }

    fn install(&self, text: &str, spec: &UnitSpec) {
        let units = self.dir.path().join("etc/systemd/system");
        std::fs::create_dir_all(&units).expect("create etc/systemd/system");
        std::fs::write(units.join(spec.file_name()), text).expect("write unit");
    }

    fn verify(&self, case: &str, text: &str, spec: &UnitSpec) {
        self.install(text, spec);
        let output = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(format!("--root={}", self.dir.path().display()))
            .arg(spec.file_name())
            .output()
            .unwrap_or_else(|err| panic!("{}", missing_systemd(&err)));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let version = local_systemd_version();
        let unexpected: Vec<&str> = stderr.lines().filter(|line| !newer_than_host(line, text, version)).collect();
        assert!(
            output.status.success() && unexpected.is_empty(),
            "systemd-analyze verify of {case} failed ({}):\n{stderr}\n--- unit ---\n{text}",
            output.status
        );
    }
}

/// Whether a `systemd-analyze verify` warning is about a setting this host's systemd is too old
/// for, and the unit really uses it.
fn newer_than_host(line: &str, unit: &str, version: u32) -> bool {
    let uses = |directive: &str| unit.lines().any(|l| l.starts_with(directive));
    (version < 253
        && uses("Type=notify-reload")
        && line.ends_with("Failed to parse service type, ignoring: notify-reload"))
        || (version < 254
            && ["RestartSteps", "RestartMaxDelaySec"].iter().any(|key| {
                uses(&format!("{key}="))
                    && line.ends_with(&format!("Unknown key '{key}' in section [Service], ignoring."))
            }))
}

fn local_systemd_version() -> u32 {
    let output = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .unwrap_or_else(|err| panic!("{}", missing_systemd(&err)));
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the systemd version from {stdout:?}"))
}

fn missing_systemd(err: &std::io::Error) -> String {
    format!("cannot run systemd-analyze ({err}): install systemd (`apt-get install systemd`) to run these tests")
}

#[test]
fn set_flags_and_environment_overrides_reach_the_service_escaped() {
    let facts = InstallFacts {
        sets: vec!["app.label=\"quoted\" 100%".to_owned(), "shutdown_timeout=9s".to_owned()],
        overrides: vec![("DEMO_APP__LEVEL".to_owned(), "3 $x".to_owned())],
        ..system(V252)
    };
    let text = rendered(&UnitSpec::new(&settings(), &facts));
    let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap_or_default();
    assert!(exec.ends_with(r#""--set" "app.label=\"quoted\" 100%%" "--set" "shutdown_timeout=9s""#), "{exec}");
    assert!(text.lines().any(|l| l == r#"Environment="DEMO_APP__LEVEL=3 $x""#), "{text}");
}
