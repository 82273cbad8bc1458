//! The command-line cases: unknown subcommands and flags, missing values, conflicting flags, a
//! platform that does not exist, a `--set` without the shape `key.path=value` (a usage error
//! whatever the command). Each must exit 64 before anything else happens, saying what is wrong
//! and what to write instead (the valid values, a near one, the usage line, `--help`).

use super::{Case, cli};

pub const CASES: &[Case] = &[
    cli(
        &["--set", "shutdown_timeout"],
        &[
            "error: invalid value 'shutdown_timeout' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["--set", "=5s"],
        &[
            "error: invalid value '=5s' for '--set <KEY.PATH=VALUE>': the key is empty; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["--set", "a..b=1"],
        &[
            "error: invalid value 'a..b=1' for '--set <KEY.PATH=VALUE>': the key `a..b` has an empty segment; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["--set", ".name=x"],
        &[
            "error: invalid value '.name=x' for '--set <KEY.PATH=VALUE>': the key `.name` has an empty segment; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["--set", "name.=x"],
        &[
            "error: invalid value 'name.=x' for '--set <KEY.PATH=VALUE>': the key `name.` has an empty segment; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["--set", "na me=x"],
        &[
            "error: invalid value 'na me=x' for '--set <KEY.PATH=VALUE>': the key `na me` has the segment `na me`; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["--set", "app.lev*l=1"],
        &[
            "error: invalid value 'app.lev*l=1' for '--set <KEY.PATH=VALUE>': the key `app.lev*l` has the segment `lev*l`; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["--set="],
        &[
            "error: invalid value '' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(&["--set"], &["error: a value is required for '--set <KEY.PATH=VALUE>' but none was supplied"]),
    cli(
        &["run", "--set", "shutdown_timeout"],
        &[
            "error: invalid value 'shutdown_timeout' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["config", "--set", "x"],
        &[
            "error: invalid value 'x' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["check", "--set", "=1"],
        &[
            "error: invalid value '=1' for '--set <KEY.PATH=VALUE>': the key is empty; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["install", "--dry-run", "--set", "a..b=1"],
        &[
            "error: invalid value 'a..b=1' for '--set <KEY.PATH=VALUE>': the key `a..b` has an empty segment; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["status", "--set", "noequals"],
        &[
            "error: invalid value 'noequals' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["reload", "--set", "=x"],
        &[
            "error: invalid value '=x' for '--set <KEY.PATH=VALUE>': the key is empty; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["stop", "--set", "x"],
        &[
            "error: invalid value 'x' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["logs", "--set", "x"],
        &[
            "error: invalid value 'x' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["uninstall", "--set", "a.=1"],
        &[
            "error: invalid value 'a.=1' for '--set <KEY.PATH=VALUE>': the key `a.` has an empty segment; keys are names of letters, digits, `_` and `-` joined by `.`",
        ],
    ),
    cli(
        &["--set", "shutdown_timeout=5s", "--set", "oops"],
        &[
            "error: invalid value 'oops' for '--set <KEY.PATH=VALUE>': no `=`; expected `--set key.path=value`, such as `--set resources.lock_memory=true`",
        ],
    ),
    cli(
        &["instal"],
        &[
            "error: unrecognized subcommand 'instal'",
            "tip: some similar subcommands exist: 'start', 'uninstall', 'install'",
            "Usage: probe [OPTIONS] [COMMAND]",
        ],
    ),
    cli(
        &["stats"],
        &[
            "error: unrecognized subcommand 'stats'",
            "tip: some similar subcommands exist: 'start', 'status'",
            "Usage: probe [OPTIONS] [COMMAND]",
        ],
    ),
    cli(&["help"], &["error: unrecognized subcommand 'help'", "Usage: probe [OPTIONS] [COMMAND]"]),
    cli(&["frobnicate"], &["error: unrecognized subcommand 'frobnicate'", "Usage: probe [OPTIONS] [COMMAND]"]),
    cli(&["--bogus"], &["error: unexpected argument '--bogus' found", "Usage: probe [OPTIONS] [COMMAND]"]),
    cli(&["-x"], &["error: unexpected argument '-x' found", "Usage: probe [OPTIONS] [COMMAND]"]),
    cli(&["run", "extra"], &["error: unexpected argument 'extra' found", "Usage: probe run [OPTIONS] [-- <ARGS>...]"]),
    cli(
        &["run", "--bogus"],
        &[
            "error: unexpected argument '--bogus' found",
            "tip: to pass '--bogus' as a value, use '-- --bogus'",
            "Usage: probe run [OPTIONS] [-- <ARGS>...]",
        ],
    ),
    cli(&["config", "extra"], &["error: unexpected argument 'extra' found", "Usage: probe config [OPTIONS]"]),
    // `check --json` is a command now (the JSON schemas): a flag `check` has not is still refused.
    cli(&["check", "--dry-run"], &["error: unexpected argument '--dry-run' found", "Usage: probe check [OPTIONS]"]),
    cli(&["--config"], &["error: a value is required for '--config <PATH>' but none was supplied"]),
    cli(
        &["--config", "a", "--config", "b"],
        &["error: the argument '--config <PATH>' cannot be used multiple times", "Usage: probe [OPTIONS] [COMMAND]"],
    ),
    cli(
        &["--platform"],
        &[
            "error: a value is required for '--platform <PLATFORM>' but none was supplied",
            "[possible values: auto, systemd, launchd, container, pepita, wos, native, kubernetes, swarm]",
        ],
    ),
    cli(
        &["--platform", "k8s"],
        &[
            "error: invalid value 'k8s' for '--platform <PLATFORM>'",
            "[possible values: auto, systemd, launchd, container, pepita, wos, native, kubernetes, swarm]",
        ],
    ),
    cli(
        &["--platform", "Systemd"],
        &[
            "error: invalid value 'Systemd' for '--platform <PLATFORM>'",
            "[possible values: auto, systemd, launchd, container, pepita, wos, native, kubernetes, swarm]",
            "tip: a similar value exists: 'systemd'",
        ],
    ),
    cli(
        &["--platform", "sytemd"],
        &[
            "error: invalid value 'sytemd' for '--platform <PLATFORM>'",
            "[possible values: auto, systemd, launchd, container, pepita, wos, native, kubernetes, swarm]",
            "tip: a similar value exists: 'systemd'",
        ],
    ),
    cli(
        &["install", "--platform", "docker"],
        &[
            "error: invalid value 'docker' for '--platform <PLATFORM>'",
            "[possible values: auto, systemd, launchd, container, pepita, wos, native, kubernetes, swarm]",
        ],
    ),
    cli(
        &["status", "--user", "--system"],
        &["error: the argument '--user' cannot be used with '--system'", "Usage: probe status --user"],
    ),
    cli(
        &["install", "--user", "--system"],
        &["error: the argument '--user' cannot be used with '--system'", "Usage: probe install --user"],
    ),
    cli(
        &["stop", "--system", "--user"],
        &["error: the argument '--system' cannot be used with '--user'", "Usage: probe stop --system"],
    ),
    cli(
        &["uninstall", "--dry-run"],
        &["error: unexpected argument '--dry-run' found", "Usage: probe uninstall [OPTIONS]"],
    ),
    cli(&["start", "--now"], &["error: unexpected argument '--now' found", "Usage: probe start [OPTIONS]"]),
    cli(&["logs", "-n"], &["error: a value is required for '--lines <N>' but none was supplied"]),
    cli(
        &["logs", "-n", "x"],
        &["error: invalid value 'x' for '--lines <N>': expected a whole number of lines, such as `--lines 50`"],
    ),
    cli(&["logs", "--lines", "-5"], &["error: unexpected argument '-5' found", "Usage: probe logs [OPTIONS]"]),
    cli(
        &["logs", "--lines", "1.5"],
        &["error: invalid value '1.5' for '--lines <N>': expected a whole number of lines, such as `--lines 50`"],
    ),
    cli(
        &["logs", "--follow=yes"],
        &["error: unexpected value 'yes' for '--follow' found; no more were expected", "Usage: probe logs --follow"],
    ),
    cli(&["status", "--json", "extra"], &["error: unexpected argument 'extra' found", "Usage: probe status [OPTIONS]"]),
    cli(
        &["install", "--in-place=1"],
        &[
            "error: unexpected value '1' for '--in-place' found; no more were expected",
            "Usage: probe install --in-place",
        ],
    ),
    cli(
        &["__pepita-vm"],
        &[
            "error: the following required arguments were not provided:",
            "--bundle <DIR>",
            "Usage: probe __pepita-vm --bundle <DIR>",
        ],
    ),
    cli(
        &["__wos-run"],
        &[
            "error: the following required arguments were not provided:",
            "--manifest <FILE>",
            "Usage: probe __wos-run --manifest <FILE>",
        ],
    ),
    cli(&["__pepita-vm", "--bundle"], &["error: a value is required for '--bundle <DIR>' but none was supplied"]),
];
