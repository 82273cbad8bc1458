//! Golden files for the tests: rendered text compared with a file committed next to the test.
//!
//! `DUENDE_BLESS=1` rewrites a file that differs, and the test still fails, listing what it
//! rewrote: a bless run compares with what was on disk before it, so it never reports success for
//! a mismatch. Read the diff, then rerun without `DUENDE_BLESS`.
#![cfg_attr(
    not(all(feature = "systemd", feature = "kubernetes", feature = "completions")),
    allow(dead_code, reason = "each backend's golden tests use their part of this; a build may have one backend")
)]

use std::path::Path;

/// Whether this run rewrites golden files (`DUENDE_BLESS` set, and neither empty nor `0`).
pub(crate) fn blessing() -> bool {
    std::env::var_os("DUENDE_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `text` against the golden file at `path`: `Ok` when they are equal, else what differs (a line
/// diff, or why the file could not be read). When blessing, a differing or missing file is
/// rewritten with `text` first, and the difference is still returned.
pub(crate) fn compare(path: &Path, text: &str) -> Result<(), String> {
    let before = std::fs::read_to_string(path);
    if before.as_deref().is_ok_and(|golden| golden == text) {
        return Ok(());
    }
    let rewritten = if blessing() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        " (rewritten)"
    } else {
        ""
    };
    Err(match before {
        Ok(golden) => format!("{}{rewritten} differs (- golden, + rendered):\n{}", path.display(), diff(&golden, text)),
        Err(err) => format!("{}{rewritten}: {err}", path.display()),
    })
}

/// Fails with every difference `compare` found, if any. `command` reruns the test, for the hint.
pub(crate) fn assert_none(failures: &[String], command: &str) {
    if failures.is_empty() {
        return;
    }
    let hint = if blessing() {
        format!("DUENDE_BLESS rewrote these golden files: read the diff, then rerun without it: {command}")
    } else {
        format!("if the change is intended: DUENDE_BLESS=1 {command}, then read the diff")
    };
    panic!("{}\n{hint}", failures.join("\n"));
}

/// [`compare`] one file and fail on a difference.
pub(crate) fn check(path: &Path, text: &str, command: &str) {
    if let Err(failure) = compare(path, text) {
        assert_none(&[failure], command);
    }
}

/// A line diff of `old` and `new` by their longest common subsequence: `  ` common, `- ` only in
/// `old`, `+ ` only in `new`.
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}
