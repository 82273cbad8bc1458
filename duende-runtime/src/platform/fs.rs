//! The file side of an install: atomic writes, and a [`Transaction`] that can put every file
//! and directory back the way it found them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::backend::BackendError;

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BackendError + '_ {
    move |source| BackendError::Io { path: path.to_path_buf(), source }
}

/// The file's content, `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, BackendError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(path)(err)),
    }
}

/// The ancestors of `path` that do not exist, outermost first.
pub fn missing_dirs(path: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = path
        .ancestors()
        .skip(1)
        .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// Replaces `path` with `contents` atomically: a sibling temporary file is written, synced and
/// given `mode`, then renamed over `path`, and the directory synced. A reader sees the old file
/// or the new one, never a torn one.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), BackendError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.duende-{}", super::env::process_id()));
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(mode);
        let mut file = options.open(&temp)?;
        file.write_all(contents)?;
        #[cfg(unix)]
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        // Without Unix permissions (a WASI module) a file has no mode to set.
        #[cfg(not(unix))]
        let _ = mode;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(io_error(path))
}

/// One file as it was before the transaction touched it.
#[derive(Debug)]
struct Before {
    path: PathBuf,
    contents: Option<Vec<u8>>,
    mode: u32,
}

/// Changes to files that can be undone: [`Transaction::rollback`] restores every file it wrote
/// or removed to its previous content and mode, and removes the directories it created.
#[derive(Debug, Default)]
pub struct Transaction {
    before: Vec<Before>,
    created_dirs: Vec<PathBuf>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    fn remember(&mut self, path: &Path) -> Result<(), BackendError> {
        if self.before.iter().any(|b| b.path == path) {
            return Ok(());
        }
        let contents = read(path)?;
        #[cfg(unix)]
        let mode = fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
        #[cfg(not(unix))]
        let mode = 0o644;
        self.before.push(Before { path: path.to_path_buf(), contents, mode });
        Ok(())
    }

    /// Writes `path` atomically, creating its missing directories.
    pub fn write(&mut self, path: &Path, contents: &[u8], mode: u32) -> Result<(), BackendError> {
        self.remember(path)?;
        for dir in missing_dirs(path) {
            fs::create_dir(&dir).map_err(io_error(&dir))?;
            self.created_dirs.push(dir);
        }
        write_atomic(path, contents, mode)
    }

    /// Removes `path` if it exists.
    pub fn remove(&mut self, path: &Path) -> Result<(), BackendError> {
        self.remember(path)?;
        match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error(path)(err)),
            _ => Ok(()),
        }
    }

    /// Puts everything back; returns the first error but tries every file.
    pub fn rollback(self) -> Result<(), BackendError> {
        let mut first = Ok(());
        for before in self.before.into_iter().rev() {
            let restored = match &before.contents {
                Some(contents) => write_atomic(&before.path, contents, before.mode),
                None => match fs::remove_file(&before.path) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error(&before.path)(err)),
                    _ => Ok(()),
                },
            };
            if first.is_ok() {
                first = restored;
            }
        }
        for dir in self.created_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolled_back_transaction_leaves_no_trace() -> Result<(), BackendError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
        let kept = dir.path().join("kept");
        let gone = dir.path().join("gone");
        write_atomic(&kept, b"old", 0o600)?;
        write_atomic(&gone, b"bye", 0o644)?;
        let mut tx = Transaction::new();
        tx.write(&kept, b"new", 0o755)?;
        tx.write(&dir.path().join("a/b/new"), b"x", 0o644)?;
        tx.remove(&gone)?;
        assert_eq!(read(&kept)?, Some(b"new".to_vec()));
        tx.rollback()?;
        assert_eq!(read(&kept)?, Some(b"old".to_vec()));
        assert_eq!(fs::metadata(&kept).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o600));
        assert_eq!(read(&gone)?, Some(b"bye".to_vec()));
        assert!(!dir.path().join("a").exists());
        Ok(())
    }
}
