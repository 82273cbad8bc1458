//! Every input fuzzing kept, replayed through the same harness functions libFuzzer runs
//! (`duende_runtime::fuzzing`), on the stable toolchain: the minimised corpus of each target
//! (`fuzz/corpus/TARGET/`) and every crash found (`fuzz/artifacts/TARGET/`), each fixed since.
//! `scripts/fuzz` runs the campaign that grows them.

use std::path::{Path, PathBuf};

use duende_runtime::fuzzing::TARGETS;

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    files.retain(|path| path.is_file());
    files.sort();
    files
}

/// Replays the corpus and the crashes of `target`; the corpus must not be empty.
fn replay(target: &str) {
    let (_, harness) = TARGETS.iter().find(|(name, _)| *name == target).expect("a target of this build");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = files(&root.join("corpus").join(target));
    assert!(!corpus.is_empty(), "no corpus for `{target}` in fuzz/corpus/{target}");
    let crashes = files(&root.join("artifacts").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&crashes) {
        let data = std::fs::read(path).expect("read an input");
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    eprintln!("{target}: {} corpus files, {} crashes replayed", corpus.len(), crashes.len());
    assert!(failed.is_empty(), "`{target}` fails on {failed:#?}");
}

#[test]
fn config_inputs() {
    replay("config");
}

#[test]
fn control_server_inputs() {
    replay("control_server");
}

#[test]
fn control_client_inputs() {
    replay("control_client");
}

#[test]
fn render_systemd_inputs() {
    replay("render_systemd");
}

#[test]
fn render_launchd_inputs() {
    replay("render_launchd");
}

#[test]
fn render_kubernetes_inputs() {
    replay("render_kubernetes");
}

/// Every target of the harness has its test above.
#[test]
fn every_target_is_replayed() {
    let replayed =
        ["config", "control_server", "control_client", "render_systemd", "render_launchd", "render_kubernetes"];
    let targets: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(targets, replayed);
}
