//! The generated command line: help, version, usage errors, management commands on a platform
//! this host cannot be (launchd without macOS), `config` and `check`.

use duende_tests::Spawn;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const COUNTER: &str = env!("CARGO_BIN_EXE_example-counter");

#[test]
fn help_and_version_exit_0() {
    let (code, out) = Spawn::new(PROBE).args(["--help"]).run();
    assert_eq!(code, 0, "{out}");
    for word in ["run", "install", "uninstall", "status", "logs", "config", "check", "--config", "--set", "--platform"]
    {
        assert!(out.contains(word), "--help lacks {word}:\n{out}");
    }
    // The daemon's name and version open it; its package has no description, so duende's line
    // follows, never a doc comment of duende's own types.
    assert!(
        out.starts_with("probe 0.0.0\nA daemon built with duende: it runs in the foreground, or installs itself")
            && !out.contains("parsed command line"),
        "{out}"
    );
    let (code, out) = Spawn::new(PROBE).args(["--version"]).run();
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "probe 0.0.0");
}

#[test]
fn completions_and_the_man_page_print_on_stdout_and_an_unknown_shell_is_a_usage_error() {
    let (code, out) = Spawn::new(PROBE).args(["completions", "bash"]).run();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("_probe()") && out.contains(" -F _probe ") && out.contains("install"), "{out}");
    let (code, out) = Spawn::new(PROBE).args(["man"]).run();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(".TH probe 1") && out.contains("\\fBprobe install\\fR"), "{out}");
    let (code, out) = Spawn::new(PROBE).args(["completions", "tcsh"]).run();
    assert_eq!(code, 64, "{out}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(out.contains(shell), "valid shell {shell} not listed:\n{out}");
    }
}

#[test]
fn usage_errors_exit_64() {
    let (code, out) = Spawn::new(PROBE).args(["instal"]).run();
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("install"), "suggestion missing:\n{out}");
    let (code, out) = Spawn::new(PROBE).args(["install", "--platform", "k8s"]).run();
    assert_eq!(code, 64, "{out}");
    for valid in ["auto", "systemd", "launchd", "container", "pepita", "wos", "native", "kubernetes"] {
        assert!(out.contains(valid), "valid platform {valid} not listed:\n{out}");
    }
}

#[cfg(not(target_os = "macos"))]
#[test]
fn launchd_elsewhere_than_macos_says_so_and_changes_nothing() {
    let commands: [&[&str]; 3] = [&["install", "--dry-run"], &["restart"], &["status"]];
    for command in commands {
        let (code, out) = Spawn::new(PROBE).args(command).args(["--platform", "launchd"]).run();
        assert_eq!(code, 69, "{command:?}:\n{out}");
        assert!(out.contains("launchd is the service manager of macOS, and this host runs linux"), "{out}");
    }
}

#[test]
fn pepita_without_qemu_names_the_package() {
    let empty = tempfile::tempdir().unwrap();
    let (code, out) =
        Spawn::new(PROBE).env("PATH", empty.path()).args(["install", "--platform", "pepita", "--dry-run"]).run();
    assert_eq!(code, 69, "{out}");
    assert!(
        out.contains("`qemu-system-x86_64` is not in PATH") && out.contains("apt package `qemu-system-x86`"),
        "{out}"
    );
}

#[test]
fn wos_without_wasmtime_names_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let (code, out) =
        Spawn::new(PROBE).env("PATH", empty.path()).args(["install", "--platform", "wos", "--dry-run"]).run();
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("`wasmtime` is not in PATH") && out.contains("cargo install --locked wasmtime-cli"), "{out}");
}

#[test]
fn container_engines_that_are_not_there_are_named_with_how_to_get_one() {
    let empty = tempfile::tempdir().unwrap();
    let (code, out) =
        Spawn::new(PROBE).env("PATH", empty.path()).args(["install", "--platform", "container", "--dry-run"]).run();
    assert_eq!(code, 69, "{out}");
    for engine in ["docker", "podman", "nerdctl"] {
        assert!(out.contains(&format!("{engine}: `{engine}` is not on PATH")), "{out}");
    }
    assert!(out.contains("no container engine answers"), "{out}");
    assert!(out.contains("apt install docker.io") && out.contains("[platform.container] engine"), "{out}");
}

#[test]
fn install_for_kubernetes_dry_run_prints_the_manifests_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (home, tools) = (dir.path().join("home"), dir.path().join("bin"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tools).unwrap();
    // No `kubectl` on PATH: the files are the product, and the output says they are not applied.
    let (code, out) = Spawn::new(PROBE)
        .args(["install", "--platform", "kubernetes", "--user", "--dry-run"])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("PATH", &tools)
        .run();
    assert_eq!(code, 0, "{out}");
    let dir_shown = home.join(".config/probe/kubernetes");
    let dir_shown = dir_shown.display();
    for expected in [
        format!("would write {dir_shown}/probe-image.tar:\n(image localhost/probe:"),
        format!("would write {dir_shown}/probe.configmap.yaml:\n# Written by duende"),
        format!("would write {dir_shown}/probe.deployment.yaml:\n# Written by duende"),
        "kind: \"ConfigMap\"".to_owned(),
        "kind: \"Deployment\"".to_owned(),
        "imagePullPolicy: \"Never\"".to_owned(),
        "command:\n            - \"/usr/local/bin/probe\"".to_owned(),
        format!(
            "no Kubernetes cluster answers through kubectl (`kubectl` is not on PATH): the manifests are written to {dir_shown}"
        ),
        format!("`kind load image-archive {dir_shown}/probe-image.tar`"),
    ] {
        assert!(out.contains(&expected), "no {expected:?} in:\n{out}");
    }
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0, "a dry run writes nothing");
}

#[test]
fn install_with_an_invalid_configuration_changes_nothing() {
    let (code, out) =
        Spawn::new(PROBE).args(["install", "--platform", "systemd", "--set", "shutdown_timeout=0s"]).run();
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("shutdown_timeout") && out.contains("nothing was changed"), "{out}");
}

#[test]
fn config_prints_every_value_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    duende_tests::write_atomic(&file, "[app]\nlabel = \"from-file\"\n");
    let (code, out) = Spawn::new(PROBE)
        .args(["config", "--config", file.to_str().unwrap(), "--set", "app.level=3"])
        .env("PROBE_SHUTDOWN_TIMEOUT", "7s")
        .run();
    assert_eq!(code, 0, "{out}");
    let line = |key: &str| {
        out.lines().find(|l| l.starts_with(&format!("{key} ="))).unwrap_or_else(|| panic!("no {key} in:\n{out}"))
    };
    assert!(line("app.label").contains("from-file") && line("app.label").contains(&format!("{}:2", file.display())));
    assert!(line("app.level").contains('3') && line("app.level").contains("--set"));
    assert!(line("shutdown_timeout").contains("7s") && line("shutdown_timeout").contains("PROBE_SHUTDOWN_TIMEOUT"));
    assert!(line("restart").contains("default"));
}

#[test]
fn check_reports_platform_and_memory_locking() {
    let (code, out) = Spawn::new(PROBE).args(["check"]).run();
    assert!(out.to_lowercase().contains("platform"), "{out}");
    assert!(out.contains("RLIMIT_MEMLOCK"), "{out}");
    assert_eq!(code, 0, "{out}");
    let (code, out) = Spawn::new(PROBE).args(["check", "--set", "app.level=-1"]).run();
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("app.level"), "{out}");
}

#[test]
fn run_passes_what_follows_a_double_dash_to_the_daemon() {
    let mut d = Spawn::new(PROBE).args(["run", "--set", "app.label=x", "--", "--set=not-ours", "plain"]).start();
    d.expect_line("init label=x");
    d.expect_line(r#"args=["--set=not-ours", "plain"]"#);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
    let (code, out) = Spawn::new(PROBE).args(["run", "stray"]).run();
    assert_eq!(code, 64, "{out}");
}

#[test]
fn long_steps_show_progress_on_stderr_as_plain_lines_and_quiet_hides_it() {
    let dir = tempfile::tempdir().unwrap();
    let (home, tools) = (dir.path().join("home"), dir.path().join("bin"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tools).unwrap();
    let install = |extra: &[&str]| {
        std::process::Command::new(PROBE)
            .args(["install", "--platform", "kubernetes", "--user", "--dry-run"])
            .args(extra)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("PATH", &tools)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    // Standard error is a pipe here: plain lines, no control characters; standard output is the
    // same with and without them.
    let shown = install(&[]);
    let (out, err) = (String::from_utf8_lossy(&shown.stdout), String::from_utf8_lossy(&shown.stderr));
    assert!(shown.status.success(), "{out}{err}");
    assert!(err.contains("building the container image ...\n"), "{err}");
    assert!(err.contains("building the container image: done in "), "{err}");
    assert!(!err.chars().any(|c| c.is_control() && c != '\n'), "{err:?}");
    assert!(!out.contains("building the container image"), "progress stays off standard output: {out}");
    let quiet = install(&["--quiet"]);
    let (quiet_out, quiet_err) = (String::from_utf8_lossy(&quiet.stdout), String::from_utf8_lossy(&quiet.stderr));
    assert!(quiet.status.success(), "{quiet_out}{quiet_err}");
    assert!(!quiet_err.contains("building the container image"), "{quiet_err}");
    let lines = |text: &str| text.lines().filter(|l| !l.starts_with("(image ")).count();
    assert_eq!(lines(&quiet_out), lines(&out), "--quiet changes only the progress");
}

#[test]
fn a_failed_command_is_one_line_and_a_fix_line_without_colour_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // No systemd on this host (the hermetic suites never run under it): a known fix.
    let out = std::process::Command::new(PROBE)
        .args(["start", "--platform", "systemd", "--system"])
        .env("PATH", dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("probe: `start` failed: "), "{err}");
    assert!(lines[1].starts_with("  fix: ") && lines[1].contains("--platform"), "{err}");
    assert!(!err.contains('\x1b'), "no colour off a terminal: {err:?}");
}

#[test]
fn sets_before_and_after_run_all_count_in_order() {
    // clap alone would keep only the flags after `run`, losing `app.label=kept`.
    let mut d = Spawn::new(PROBE)
        .args(["--set", "app.label=first", "--set", "app.label=kept", "run", "--set", "app.level=2"])
        .start();
    d.expect_line("init label=kept");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    let (code, out) = Spawn::new(PROBE).args(["--set", "app.level=3", "config", "--set", "app.label=after"]).run();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("app.level = 3") && out.contains("--set app.level=3"), "{out}");
    assert!(out.contains("app.label = \"after\""), "{out}");
}

#[test]
fn an_app_value_of_the_wrong_type_names_the_daemons_own_range() {
    // The counter's `validate` allows 10..=60000; `u64` would allow far more.
    for (flag, says) in [
        (
            "app.interval_ms=",
            "app.interval_ms = \"\" (from --set app.interval_ms=): must be an integer between 10 and 60000, found a string",
        ),
        (
            "app.interval_ms=-1",
            "app.interval_ms = -1 (from --set app.interval_ms=-1): must be an integer between 10 and 60000",
        ),
        ("app.interval_ms=5", "app.interval_ms = 5 (from --set app.interval_ms=5): must be between 10 and 60000"),
    ] {
        let (code, out) = Spawn::new(COUNTER).args(["--set", flag]).run();
        assert_eq!(code, 78, "{out}");
        assert!(out.contains(says), "{flag}: {out}");
        assert!(!out.contains("18446744073709551615"), "{out}");
    }
    let (code, out) = Spawn::new(COUNTER).env("COUNTER_APP_INTERVAL_MS", "100").run();
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("did you mean `COUNTER_APP__INTERVAL_MS`?"), "{out}");
}

#[test]
fn check_for_systemd_where_systemd_cannot_be_reached_is_a_problem() {
    // An empty PATH: no systemctl, whatever this host runs.
    let bin = tempfile::tempdir().unwrap();
    let (code, out) = Spawn::new(PROBE).env("PATH", bin.path()).args(["check", "--platform", "systemd"]).run();
    assert_eq!(code, 71, "`install` would fail here, so `check` must not pass:\n{out}");
    let line = out.lines().find(|line| line.contains("systemd is not reachable")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.trim_start().starts_with("problem"), "{out}");
    assert!(line.contains("systemctl is not on PATH"), "{out}");
}
