//! The instance lock: one running daemon per runtime directory. An exclusive `flock` on
//! `control.lock`, held for the daemon's life and released by the kernel however it ends (so a
//! crashed daemon never blocks the next start), with the holder's pid written inside for the
//! message a second instance prints.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The lock, held until dropped (closing the file releases it).
#[derive(Debug)]
pub(crate) struct InstanceLock {
    _file: File,
}

/// What trying to take the lock found.
#[derive(Debug)]
pub(crate) enum Locked {
    /// This process holds it now.
    Acquired(InstanceLock),
    /// Another process holds it; its pid, when it has written one.
    HeldBy(Option<u32>),
}

/// Takes the lock at `path` (created 0600 if missing) without waiting.
pub(crate) fn acquire(path: &Path) -> io::Result<Locked> {
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
    // SAFETY: flock only reads its arguments; the descriptor is open and owned by `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Locked::HeldBy(text.trim().parse().ok()));
        }
        return Err(err);
    }
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    Ok(Locked::Acquired(InstanceLock { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.lock");
        let Locked::Acquired(first) = acquire(&path).unwrap() else { panic!("the first taker must get the lock") };
        match acquire(&path).unwrap() {
            Locked::HeldBy(pid) => assert_eq!(pid, Some(std::process::id())),
            Locked::Acquired(_) => panic!("two holders of one instance lock"),
        }
        drop(first);
        assert!(matches!(acquire(&path).unwrap(), Locked::Acquired(_)));
    }
}
