//! The texts the command line shows about itself, under golden files: `--help` of the binary and
//! of every subcommand, `-h`, `--version`, the completion scripts and the man page. Rerun with
//! `DUENDE_BLESS=1` after an intended change, and read the diff.

use std::path::Path;

use super::*;
use crate::mlock::MlockMode;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/docs/golden");
const RERUN: &str = "cargo test -p duende-runtime --lib docs::";

/// A daemon as the macro describes it, with its package's description.
const DEMO: MainOptions =
    MainOptions { name: "demo", version: "1.2.3", description: "Counts ticks and serves them", mlock: MlockMode::Off };

/// What `args` print as clap renders them (help, version or a usage error), at 100 columns
/// whatever the terminal this runs in; `parse` renders the same text at the terminal's width.
fn shown(options: &MainOptions, args: &[&str]) -> String {
    let command = cli::command(options.name, options.version, options.description).term_width(100);
    match command.try_get_matches_from(std::iter::once(options.name).chain(args.iter().copied())) {
        Ok(matches) => panic!("{args:?} parsed: {matches:?}"),
        Err(err) => err.render().to_string(),
    }
}

/// The subcommands people see (not the hidden ones).
fn visible_subcommands() -> Vec<String> {
    let command = cli::command("demo", "1", "");
    command.get_subcommands().filter(|sub| !sub.is_hide_set()).map(|sub| sub.get_name().to_owned()).collect()
}

#[test]
fn help_and_version_texts_match_their_golden_files() {
    let mut failures = Vec::new();
    let mut check = |file: String, text: String| {
        failures.extend(crate::golden::compare(&Path::new(GOLDEN).join(file), &text).err());
    };
    check("help.txt".to_owned(), shown(&DEMO, &["--help"]));
    check("help-short.txt".to_owned(), shown(&DEMO, &["-h"]));
    check("version.txt".to_owned(), shown(&DEMO, &["--version"]));
    let bare = MainOptions { description: "", ..DEMO };
    check("help-no-description.txt".to_owned(), shown(&bare, &["--help"]));
    for sub in visible_subcommands() {
        check(format!("help-{sub}.txt"), shown(&DEMO, &[sub.as_str(), "--help"]));
    }
    crate::golden::assert_none(&failures, RERUN);
}

#[test]
fn help_opens_with_the_daemons_name_version_and_description_never_internal_doc_text() {
    let help = shown(&DEMO, &["--help"]);
    assert!(
        help.starts_with("demo 1.2.3\nCounts ticks and serves them\n\nUsage: demo [OPTIONS] [COMMAND]\n"),
        "{help}"
    );
    let bare = shown(&MainOptions { description: "  ", ..DEMO }, &["-h"]);
    assert!(bare.starts_with(&format!("demo 1.2.3\n{}\n", super::cli::NO_DESCRIPTION)), "{bare}");
    // The doc comments of the command line's own types are not the daemon's words.
    for args in [&["--help"][..], &["-h"], &["install", "--help"], &["completions", "--help"]] {
        let text = shown(&DEMO, args);
        assert!(!text.contains("parsed command line") && !text.contains("Subcommands"), "{args:?}: {text}");
    }
    assert_eq!(shown(&DEMO, &["--version"]), "demo 1.2.3\n");
    assert_eq!(shown(&DEMO, &["status", "--version"]), "demo-status 1.2.3\n");
    // And `parse` shows what these tests see (at the terminal's width), exiting 0 on stdout.
    let cli::Parsed::Exit { text, code, to_stderr } = cli::parse("demo", "1.2.3", "Counts", ["demo", "--version"])
    else {
        panic!("--version parsed")
    };
    assert_eq!((text.as_str(), code, to_stderr), ("demo 1.2.3\n", 0, false));
}

#[test]
fn every_subcommand_says_what_it_changes_and_which_platforms_its_flags_apply_to() {
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let command = cli::command("demo", "1.2.3", "");
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = sub.get_name();
        let summary = sub.get_about().map(ToString::to_string).unwrap_or_default();
        let whole = sub.get_long_about().map(ToString::to_string).unwrap_or_default();
        let more = words(whole.strip_prefix(summary.as_str()).unwrap_or_default());
        assert!(more.len() > 60, "`{name}` has no more help than its summary: {whole:?}");
        let (short, long) = (words(&shown(&DEMO, &[name, "-h"])), words(&shown(&DEMO, &[name, "--help"])));
        assert!(long.contains(&more) && !short.contains(&more), "`{name} --help` adds nothing to `-h`:\n{long}");
        let says = ["Changes nothing", "Changes no file", "changes nothing", "Writes ", "removes "];
        assert!(says.iter().any(|s| more.contains(s)), "`{name} --help` does not say what it changes:\n{long}");
    }
    let install = shown(&DEMO, &["install", "--help"]);
    for flag in ["--user", "--system", "--in-place", "--now", "--dry-run"] {
        assert!(install.contains(&format!("`{flag}`")), "`install --help` does not explain {flag}:\n{install}");
    }
    assert!(install.contains("(systemd, launchd, native, pepita, wos)"), "{install}");
}

#[test]
fn completion_scripts_and_the_man_page_match_their_golden_files() {
    let mut failures = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "demo.bash"),
        (Shell::Zsh, "_demo"),
        (Shell::Fish, "demo.fish"),
        (Shell::Elvish, "demo.elv"),
        (Shell::Powershell, "demo.ps1"),
    ] {
        failures.extend(crate::golden::compare(&Path::new(GOLDEN).join(file), &completion(&DEMO, shell)).err());
    }
    let page = man_page(&DEMO).unwrap_or_else(|err| panic!("{err}"));
    failures.extend(crate::golden::compare(&Path::new(GOLDEN).join("demo.1"), &page).err());
    crate::golden::assert_none(&failures, RERUN);
}

#[test]
fn the_man_page_carries_name_version_description_and_every_visible_subcommand() {
    let page = man_page(&DEMO).unwrap_or_else(|err| panic!("{err}"));
    assert!(page.contains(".TH demo 1  \"demo 1.2.3\""), "{page}");
    assert!(page.contains("demo \\- Counts ticks and serves them"), "{page}");
    // One page: each subcommand's whole help is in it, and no page of its own is named.
    for sub in visible_subcommands() {
        assert!(page.contains(&format!(".TP\n\\fBdemo {sub}\\fR\n")), "no `{sub}` in the man page:\n{page}");
    }
    assert!(!page.contains("(1)") && !page.contains("SUBCOMMANDS"), "{page}");
    assert!(page.contains("\\fB\\-\\-dry\\-run\\fR: Print every file and command, change nothing"), "{page}");
    assert!(!page.contains("supervise\\fR") && !page.contains("__"), "a hidden subcommand is in the man page:\n{page}");
}

/// Runs `script` in a `bash` without start-up files; its standard output.
fn bash(script: &str) -> String {
    let output = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .output()
        .unwrap_or_else(|err| panic!("cannot run bash: {err}"));
    assert!(output.status.success(), "bash failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn bash_loads_the_completion_script_and_completes_subcommands_flags_and_values() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("demo.bash");
    std::fs::write(&script, completion(&DEMO, Shell::Bash))?;
    let complete = |words: &str| {
        bash(&format!(
            "source '{}' && complete -p demo && COMP_WORDS=({words}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && \
             COMP_LINE=\"${{COMP_WORDS[*]}}\" && COMP_POINT=${{#COMP_LINE}} && _demo demo \"${{COMP_WORDS[-1]}}\" \
             \"${{COMP_WORDS[-2]}}\" && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
    };
    let subcommands = complete("demo ins");
    let mut lines = subcommands.lines();
    let registered = lines.next().unwrap_or_default();
    assert!(registered.starts_with("complete ") && registered.ends_with(" -F _demo demo"), "{subcommands}");
    assert_eq!(lines.collect::<Vec<_>>(), ["install"], "{subcommands}");
    let flags = complete("demo install --dr");
    assert_eq!(flags.lines().skip(1).collect::<Vec<_>>(), ["--dry-run"], "{flags}");
    let shells = complete("demo completions f");
    assert_eq!(shells.lines().skip(1).collect::<Vec<_>>(), ["fish"], "{shells}");
    let platforms = complete("demo status --platform sy");
    assert_eq!(platforms.lines().skip(1).collect::<Vec<_>>(), ["systemd"], "{platforms}");
    // Hidden subcommands are not offered.
    let hidden = complete("demo __");
    assert_eq!(hidden.lines().skip(1).filter(|line| !line.is_empty()).count(), 0, "{hidden}");
    let all = complete("demo ''");
    assert!(all.lines().any(|line| line == "man") && !all.contains("__"), "{all}");
    Ok(())
}

#[test]
fn the_subcommands_print_to_standard_output_and_say_when_they_cannot() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(print(&DEMO, Some(Shell::Fish), &mut out, &mut err), Exit::Success);
    assert_eq!(String::from_utf8_lossy(&out), completion(&DEMO, Shell::Fish));
    assert!(err.is_empty());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(print(&DEMO, None, &mut out, &mut err), Exit::Success);
    assert!(String::from_utf8_lossy(&out).starts_with(".ie \\n(.g"), "{}", String::from_utf8_lossy(&out));
    // A closed standard output (`demo man | true`) is an OS error, said on standard error.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut err = Vec::new();
    assert_eq!(print(&DEMO, Some(Shell::Bash), &mut Closed, &mut err), Exit::OsError);
    assert!(String::from_utf8_lossy(&err).starts_with("demo: `completions` could not write its output: "));
}

#[test]
fn install_gets_the_bash_zsh_and_fish_scripts_and_the_man_page() {
    let Some(docs) = for_install(&DEMO) else { panic!("no docs with the `completions` feature") };
    assert_eq!(docs.bash, completion(&DEMO, Shell::Bash));
    assert_eq!(docs.zsh, completion(&DEMO, Shell::Zsh));
    assert_eq!(docs.fish, completion(&DEMO, Shell::Fish));
    assert_eq!(Some(docs.man), man_page(&DEMO).ok());
}
