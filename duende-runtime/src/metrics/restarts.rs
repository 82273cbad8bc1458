//! `duende_restarts_total`: how many times the daemon was started again after an instance that
//! did not stop gracefully (it crashed, was killed, exceeded its shutdown timeout, was forced out
//! by a second signal, or exited with an error). An operator's stop followed by a start is not a
//! restart in this sense; what the count is for is spotting a crash loop.
//!
//! The count lives in the file `restarts` of the daemon's runtime directory
//! ([`crate::rundir::runtime_dir`]): `running N` while an instance runs, `stopped N` once it
//! stopped gracefully. A start that finds `running` counts one restart. So the count covers the
//! life of the runtime directory: under systemd, whose `RuntimeDirectory=` is removed when the
//! service stops, that needs `RuntimeDirectoryPreserve=restart` for the directory to outlive an
//! automatic restart; it is kept only while metrics are enabled.

use std::io;
use std::path::{Path, PathBuf};

/// File name inside the runtime directory.
pub const FILE: &str = "restarts";

/// The restart count of this start, and the file that carries it to the next one.
#[derive(Debug)]
pub struct RestartLog {
    path: PathBuf,
    count: u64,
}

/// What the file said about the previous instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Previous {
    /// None ran here before (or the file is unreadable as ours).
    None,
    /// It stopped gracefully, after this many restarts.
    Stopped(u64),
    /// It was still marked running: it did not stop gracefully.
    Running(u64),
}

fn parse(text: &str) -> Previous {
    let mut words = text.split_whitespace();
    match (words.next(), words.next().and_then(|n| n.parse().ok()), words.next()) {
        (Some("stopped"), Some(n), None) => Previous::Stopped(n),
        (Some("running"), Some(n), None) => Previous::Running(n),
        _ => Previous::None,
    }
}

impl RestartLog {
    /// Reads what the previous instance left in `dir` (creating the directory, private to this
    /// user, when missing) and marks this one running.
    pub fn begin(dir: &Path) -> io::Result<RestartLog> {
        crate::rundir::prepare(dir)?;
        let path = dir.join(FILE);
        let previous = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Previous::None,
            Err(err) => return Err(err),
        };
        let count = match previous {
            Previous::None => 0,
            Previous::Stopped(n) => n,
            Previous::Running(n) => n.saturating_add(1),
        };
        let log = RestartLog { path, count };
        log.write("running")?;
        Ok(log)
    }

    /// Restarts so far, this start included.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Marks the instance stopped gracefully, so the next start is not counted as a restart.
    pub fn stopped_gracefully(self) -> io::Result<()> {
        self.write("stopped")
    }

    /// Replaces the file atomically: a crash mid-write leaves the old state, never a torn one.
    fn write(&self, state: &str) -> io::Result<()> {
        let partial = self.path.with_extension("partial");
        std::fs::write(&partial, format!("{state} {}\n", self.count))?;
        std::fs::rename(&partial, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_starts_after_an_unclean_end_count() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("svc");
        let first = RestartLog::begin(&dir).unwrap();
        assert_eq!(first.count(), 0);
        assert_eq!(std::fs::read_to_string(dir.join(FILE)).unwrap(), "running 0\n");
        first.stopped_gracefully().unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(FILE)).unwrap(), "stopped 0\n");

        let graceful_restart = RestartLog::begin(&dir).unwrap();
        assert_eq!(graceful_restart.count(), 0, "a graceful stop and a start are not a restart");
        drop(graceful_restart); // crashed: never marked stopped
        let after_crash = RestartLog::begin(&dir).unwrap();
        assert_eq!(after_crash.count(), 1);
        drop(after_crash);
        let again = RestartLog::begin(&dir).unwrap();
        assert_eq!(again.count(), 2);
        again.stopped_gracefully().unwrap();
        assert_eq!(RestartLog::begin(&dir).unwrap().count(), 2, "the count survives a graceful stop");
    }

    #[test]
    fn a_foreign_or_torn_file_starts_the_count_afresh() {
        for text in ["", "garbage", "running", "running x", "stopped 3 extra", "paused 3"] {
            assert_eq!(parse(text), Previous::None, "{text:?}");
        }
        assert_eq!(parse("running 7\n"), Previous::Running(7));
        let base = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join(FILE), "not ours").unwrap();
        assert_eq!(RestartLog::begin(base.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_unusable_directory_is_an_error() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(RestartLog::begin(&file).is_err());
    }
}
