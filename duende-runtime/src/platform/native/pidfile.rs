//! The supervisor's pid file: locked before it is written, so two supervisors can never both
//! believe they own the service, and a file left by a supervisor that was killed is taken over
//! safely (the kernel released its lock when it died).
//!
//! [`PidFile::acquire`] opens without truncating, takes `flock(LOCK_EX | LOCK_NB)`, and only then
//! truncates and writes its pid. [`holder`] tells a live holder from a stale file by trying a
//! shared lock of its own.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why the pid file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another supervisor holds it.
    #[error("already running: the supervisor{} holds {}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), .path.display())]
    Held {
        /// The file.
        path: PathBuf,
        /// The pid the holder wrote, when it could be read.
        pid: Option<u32>,
    },
    /// The file could not be opened, locked or written.
    #[error("cannot take {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// A held pid file; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    _file: File,
}

/// What a pid file says about its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// No file.
    Absent,
    /// A live supervisor holds it.
    Live(u32),
    /// A file nobody holds: its supervisor died without removing it (the pid it wrote).
    Stale(Option<u32>),
}

fn lock(file: &File, operation: libc::c_int) -> io::Result<bool> {
    // SAFETY: flock takes a valid open descriptor (borrowed from `file`) and an operation flag;
    // it touches no memory of ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::WouldBlock { Ok(false) } else { Err(err) }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl PidFile {
    /// Takes `path` for this process.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |source| PidFileError::Io { path: path.to_path_buf(), source };
        let mut file = loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io)?;
            if !lock(&file, libc::LOCK_EX).map_err(io)? {
                return Err(PidFileError::Held { path: path.to_path_buf(), pid: read_pid(&mut file) });
            }
            // A supervisor that was just exiting may have removed the file between our open and
            // our lock: then we hold a lock on a file nobody can find. Try again.
            let ours = file.metadata().map_err(io)?;
            match std::fs::metadata(path) {
                Ok(there) if there.ino() == ours.ino() && there.dev() == ours.dev() => break file,
                Ok(_) => continue,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io(err)),
            }
        };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(PidFile { path: path.to_path_buf(), _file: file })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Who holds the pid file at `path`.
pub fn holder(path: &Path) -> io::Result<Holder> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Holder::Absent),
        Err(err) => return Err(err),
    };
    let pid = read_pid(&mut file);
    if lock(&file, libc::LOCK_SH)? {
        return Ok(Holder::Stale(pid));
    }
    Ok(pid.map_or(Holder::Stale(None), Holder::Live))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_file_is_refused_and_a_stale_one_taken_over() -> Result<(), PidFileError> {
        let dir = tempfile::tempdir().map_err(|source| PidFileError::Io { path: "tmp".into(), source })?;
        let path = dir.path().join("supervisor.pid");
        assert_eq!(holder(&path).ok(), Some(Holder::Absent));
        let held = PidFile::acquire(&path)?;
        let me = std::process::id();
        assert_eq!(holder(&path).ok(), Some(Holder::Live(me)));
        // Locks belong to the open file: a second open in this process conflicts like another process.
        let second = PidFile::acquire(&path);
        assert!(matches!(&second, Err(PidFileError::Held { pid: Some(pid), .. }) if *pid == me), "{second:?}");
        assert!(
            second
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with(&format!("already running: the supervisor (pid {me}) holds "))
        );
        drop(held);
        assert_eq!(holder(&path).ok(), Some(Holder::Absent), "dropping removes it");

        // A supervisor killed with -9 leaves its file, unlocked.
        std::fs::write(&path, "4242\n").map_err(|source| PidFileError::Io { path: path.clone(), source })?;
        assert_eq!(holder(&path).ok(), Some(Holder::Stale(Some(4242))));
        let taken = PidFile::acquire(&path)?;
        assert_eq!(std::fs::read_to_string(&path).ok(), Some(format!("{me}\n")), "locked, then written");
        drop(taken);
        Ok(())
    }
}
