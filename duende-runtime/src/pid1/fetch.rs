//! The host's configuration file, fetched into the guest (see
//! `platform::pepita::config_port`): the daemon's configuration is the file on the host, so init
//! fetches it before it starts the daemon ([`at_boot`]) and before it passes a `reload` on to the
//! daemon (`super::relay`). The bytes replace the guest's file at its path (written under a
//! temporary name, then renamed: the daemon never reads half a file); the daemon then reads and
//! validates it as on a host.
//!
//! A bundle without a configuration file fetches nothing. A host that has none (a runner started
//! without `--config`) leaves the guest's file as it is.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::guest::say;
use super::vsock::{self, HOST_CID};
use crate::platform::pepita::config_port::{self, Answer};
use crate::platform::pepita::{CONFIG_PORT, bundle};

/// How long one fetch may take, connection included.
const PATIENCE: Duration = Duration::from_secs(5);

/// Attempts to connect, [`RETRY_PAUSE`] apart, while the host's end refuses (the vsock device
/// may still be settling at boot; a host with no listener on the port refuses for good, and
/// costs the boot this much).
const CONNECT_ATTEMPTS: u32 = 10;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What a fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fetched {
    /// The guest's file now holds the host's.
    Updated,
    /// The host has no configuration file; the guest's is left as it is.
    NoneOnHost,
}

/// Why a fetch did not change the guest's file.
#[derive(Debug, thiserror::Error)]
pub(super) enum FetchFailure {
    /// The host answered that it cannot hand its file over.
    #[error("{0}")]
    Host(String),
    /// The host could not be asked, or its answer not read or written down.
    #[error("cannot fetch the configuration file from the host (CID {HOST_CID}, vsock port {CONFIG_PORT}): {0}")]
    Unreachable(String),
}

/// The guest's configuration file, when the bundle has one (the daemon is started with
/// `--config` naming it).
pub(super) fn guest_file(name: &str) -> Option<PathBuf> {
    Some(PathBuf::from(bundle::config_path(name))).filter(|path| path.is_file())
}

/// Before the daemon starts: the host's file, or the initramfs's copy with one line on the
/// console saying why.
pub(super) fn at_boot(name: &str) {
    let Some(path) = guest_file(name) else { return };
    if let Err(failure) = fetch(&path) {
        say(&format!("{failure}; {name} starts with the configuration in the initramfs"));
    }
}

/// Asks the host for its configuration file and writes it at `path`.
pub(super) fn fetch(path: &Path) -> Result<Fetched, FetchFailure> {
    let deadline = Instant::now() + PATIENCE;
    let unreachable = |err: &dyn std::fmt::Display| FetchFailure::Unreachable(err.to_string());
    let mut attempt = 1;
    let stream = loop {
        match vsock::connect(HOST_CID, CONFIG_PORT) {
            Err(err)
                if attempt < CONNECT_ATTEMPTS
                    && Instant::now() + RETRY_PAUSE < deadline
                    && matches!(err.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused) =>
            {
                attempt += 1;
                thread::sleep(RETRY_PAUSE);
            }
            other => break other.map_err(|err| unreachable(&err))?,
        }
    };
    let answer =
        config_port::read_answer(&mut Timed { fd: stream.as_fd(), deadline }).map_err(|err| unreachable(&err))?;
    match answer {
        Answer::File(bytes) => {
            replace(path, &bytes).map_err(|err| unreachable(&format!("writing {}: {err}", path.display())))?;
            Ok(Fetched::Updated)
        }
        Answer::None => Ok(Fetched::NoneOnHost),
        Answer::Error(message) => Err(FetchFailure::Host(message)),
    }
}

/// Writes `bytes` at `path` whole: under a temporary name beside it (one per write: two reloads
/// may fetch at once), then renamed over it.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".fetching.{}", WRITES.fetch_add(1, Ordering::Relaxed)));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// A vsock stream read until `deadline`.
struct Timed<'a> {
    fd: BorrowedFd<'a>,
    deadline: Instant,
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {PATIENCE:?}")));
            }
            // poll counts whole milliseconds: it may wake just before the deadline, and go again.
            if vsock::poll(&[self.fd], Some(left))? != [true] {
                continue;
            }
            match vsock::recv(self.fd, buf, false) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        std::fs::write(&path, "old").unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["probe.toml"]);
    }

    #[test]
    fn writes_at_once_each_leave_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        let writers: Vec<_> = (0..8u8)
            .map(|n| {
                let path = path.clone();
                thread::spawn(move || replace(&path, &[n; 4096]))
            })
            .collect();
        for writer in writers {
            writer.join().unwrap().unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|b| *b == bytes[0]), "a mixed or short file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_stream_that_stays_silent_times_out_at_the_deadline() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_millis(100);
        let err = config_port::read_answer(&mut Timed { fd: ours.as_fd(), deadline }).unwrap_err();
        assert!(err.to_string().contains("no answer within"), "{err}");
        assert!(Instant::now() >= deadline);
        theirs.write_all(b"NONE\n").unwrap();
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(config_port::read_answer(&mut Timed { fd: ours.as_fd(), deadline: later }).unwrap(), Answer::None);
    }
}
