//! Values that systemd's unit syntax would otherwise interpret (quotes, `%` specifiers, `$`
//! expansion, backslashes, newlines, `;`, a leading `-`) travel from a configuration file through
//! `install --now` to the running daemon exactly as written: the daemon prints the argv and
//! environment it received, and the manager's own `Description` matches.
#![cfg(feature = "root-tests")]

use duende_tests::sandbox::{Systemd, show_output};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// TOML basic-string escaping for the test's own configuration file.
fn toml_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn args_environment_and_description_arrive_exactly_as_configured() {
    let args = [
        "two words",
        "quote\"d",
        "it's",
        "100%",
        "%h%n%%",
        "$HOME",
        "${PATH}",
        "back\\slash\\",
        "new\nline",
        "",
        "-dash",
        ";",
        "tab\tchar",
        "ünïcödé",
        "x\nExecStartPre=/bin/false",
    ];
    let env = [
        ("ECHO_A", "a b \"c\" 'd' %n $PATH \\ e"),
        ("ECHO_B", "line1\nline2"),
        ("ECHO_EMPTY", ""),
        ("ECHO_INJECT", "v\"\nExecStartPre=/bin/false"),
    ];
    let description = "probe: quotes \" ' %h $HOME back\\slash";

    let mut toml = format!("description = {}\nargs = [", toml_string(description));
    toml.push_str(&args.iter().map(|a| toml_string(a)).collect::<Vec<_>>().join(", "));
    toml.push_str("]\n\n[env]\n");
    for (key, value) in env {
        toml.push_str(&format!("{key} = {}\n", toml_string(value)));
    }

    let sb = Systemd::boot("escaping").unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::write(sb.root().join("tmp/escaping.toml"), &toml).expect("write the configuration inside the container");
    let out = sb.exec(&[PROBE, "install", "--now", "--platform", "systemd", "--config", "/tmp/escaping.toml"]);
    assert!(out.status.success(), "install failed:\n{}\nconfiguration:\n{toml}", show_output(&out));

    let unit = std::fs::read_to_string(sb.root().join("etc/systemd/system/probe.service")).unwrap_or_default();
    let keys: Vec<&str> = unit
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(!keys.contains(&"ExecStartPre"), "a value became a directive:\n{unit}");
    assert_eq!(sb.show("probe.service", "ExecStartPre"), "", "{unit}");

    assert_eq!(sb.show("probe.service", "Description"), description);
    let journal = sb.journal(&["-u", "probe.service", "-o", "cat", "--no-pager"]);
    let expected_args = format!("args={:?}", args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    assert!(journal.lines().any(|l| l == expected_args), "expected {expected_args:?} in:\n{journal}\nunit:\n{unit}");
    for (key, value) in env {
        let line = format!("env {key}={value:?}");
        assert!(journal.lines().any(|l| l == line), "expected {line:?} in:\n{journal}\nunit:\n{unit}");
    }
    let out = sb.exec(&[PROBE, "uninstall", "--platform", "systemd"]);
    assert!(out.status.success(), "{}", show_output(&out));
}

/// `--set` flags and the daemon's own `NAME_*` variables given to `install` are part of the
/// configuration it validated and rendered: the service must run with them too.
#[test]
fn install_carries_set_flags_and_name_variables_to_the_service() {
    let sb = Systemd::boot("carry").unwrap_or_else(|e| panic!("{e:#}"));
    let install = |extra: &[&str]| {
        let mut argv = vec!["env", "PROBE_APP__LABEL=from-env", PROBE, "install", "--now", "--platform", "systemd"];
        argv.extend_from_slice(extra);
        let out = sb.exec(&argv);
        assert!(out.status.success(), "install {extra:?} failed:\n{}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = install(&[]);
    assert!(out.contains("PROBE_APP__LABEL"), "install should say it carries the variable:\n{out}");
    let journal = || sb.journal(&["-u", "probe.service", "-o", "cat", "--no-pager"]);
    assert!(journal().lines().any(|l| l == "init label=from-env"), "{}", journal());

    install(&["--set", "app.label=from-set", "--set", "shutdown_timeout=9s"]);
    assert!(journal().lines().any(|l| l == "init label=from-set"), "--set outranks the environment:\n{}", journal());
    assert_eq!(sb.show("probe.service", "TimeoutStopUSec"), "14s");
    let status = sb.exec(&[
        "env",
        "PROBE_APP__LABEL=from-env",
        PROBE,
        "status",
        "--json",
        "--platform",
        "systemd",
        "--set",
        "app.label=from-set",
        "--set",
        "shutdown_timeout=9s",
    ]);
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains(r#""drift":[]"#), "the same layers give the same unit:\n{status}");
    let out = sb.exec(&[PROBE, "uninstall", "--platform", "systemd"]);
    assert!(out.status.success(), "{}", show_output(&out));
}
