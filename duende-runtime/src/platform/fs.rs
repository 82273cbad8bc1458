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

/// What the transaction did to one path, so it can be undone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// The path existed: its old file is kept, as a hard link, at `backup`.
    Replaced { path: PathBuf, backup: PathBuf },
    /// The path did not exist.
    Created { path: PathBuf },
    /// A directory the transaction created.
    Dir { path: PathBuf },
}

/// Changes to files that can be undone, even by another process after this one was killed.
///
/// Before a path is first changed, its old file is hard-linked to a sibling
/// `.NAME.duende-old` (same directory, so same file system: no space is needed and putting it
/// back is one atomic rename that restores its bytes and its mode), and the journal (a small
/// index of every path touched, every backup and every directory created) is rewritten
/// atomically *before* the change. [`Transaction::rollback`] renames the backups back, removes
/// what was created and removes the journal; [`Transaction::commit`] removes the backups and the
/// journal. An installer killed in between leaves the journal: [`recover`] finishes the rollback
/// from it, so every file is again exactly what it was before the interrupted transaction.
#[derive(Debug, Default)]
pub struct Transaction {
    journal: Option<PathBuf>,
    entries: Vec<Entry>,
}

/// The backup sibling of `path`.
fn backup_of(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.duende-old"))
}

impl Transaction {
    /// A transaction whose journal lives only in memory: a killed process leaves its backups.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// A transaction journaled at `journal` (which must not exist: [`recover`] it first).
    pub fn journaled(journal: PathBuf) -> Transaction {
        Transaction { journal: Some(journal), entries: Vec::new() }
    }

    /// Records `entries` (and, the first time, the journal's own missing directories) in the
    /// journal before the change they describe.
    fn persist(&mut self) -> Result<(), BackendError> {
        let Some(journal) = self.journal.clone() else { return Ok(()) };
        if !journal.exists() {
            let dirs = missing_dirs(&journal);
            self.entries.splice(0..0, dirs.iter().map(|dir| Entry::Dir { path: dir.clone() }));
            for dir in dirs {
                fs::create_dir(&dir).map_err(io_error(&dir))?;
            }
        }
        let mut text = String::from("# duende install journal: what an unfinished install changed\n");
        for entry in &self.entries {
            let line = match entry {
                Entry::Replaced { path, backup } => format!("replaced\t{}\t{}\n", path.display(), backup.display()),
                Entry::Created { path } => format!("created\t{}\n", path.display()),
                Entry::Dir { path } => format!("dir\t{}\n", path.display()),
            };
            text.push_str(&line);
        }
        write_atomic(&journal, text.as_bytes(), 0o600)
    }

    fn remember(&mut self, path: &Path) -> Result<(), BackendError> {
        let known =
            |entry: &Entry| matches!(entry, Entry::Replaced { path: p, .. } | Entry::Created { path: p } if p == path);
        if self.entries.iter().any(known) {
            return Ok(());
        }
        if fs::symlink_metadata(path).is_ok() {
            let backup = backup_of(path);
            remove_if_present(&backup)?;
            // Journaled first: a backup the journal does not name would be left behind, while a
            // journal naming a backup that was never made only means the file was not touched.
            self.entries.push(Entry::Replaced { path: path.to_path_buf(), backup: backup.clone() });
            self.persist()?;
            fs::hard_link(path, &backup).map_err(io_error(&backup))
        } else {
            self.entries.push(Entry::Created { path: path.to_path_buf() });
            self.persist()
        }
    }

    /// Writes `path` atomically, creating its missing directories.
    pub fn write(&mut self, path: &Path, contents: &[u8], mode: u32) -> Result<(), BackendError> {
        self.remember(path)?;
        for dir in missing_dirs(path) {
            self.entries.push(Entry::Dir { path: dir.clone() });
            self.persist()?;
            fs::create_dir(&dir).map_err(io_error(&dir))?;
        }
        write_atomic(path, contents, mode)
    }

    /// Removes `path` if it exists.
    pub fn remove(&mut self, path: &Path) -> Result<(), BackendError> {
        self.remember(path)?;
        remove_if_present(path)
    }

    /// Puts everything back; returns the first error but tries every file.
    pub fn rollback(self) -> Result<(), BackendError> {
        undo(&self.entries, self.journal.as_deref())
    }

    /// Keeps the changes: removes the backups and the journal.
    pub fn commit(self) {
        for entry in &self.entries {
            if let Entry::Replaced { backup, .. } = entry {
                let _ = fs::remove_file(backup);
            }
        }
        if let Some(journal) = &self.journal {
            let _ = fs::remove_file(journal);
        }
    }
}

fn remove_or_absent(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn remove_if_present(path: &Path) -> Result<(), BackendError> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error(path)(err)),
        _ => Ok(()),
    }
}

/// Undoes `entries` (newest first), then removes the journal and the directories created.
fn undo(entries: &[Entry], journal: Option<&Path>) -> Result<(), BackendError> {
    let mut first = Ok(());
    for entry in entries.iter().rev() {
        let restored = match entry {
            // No backup: the journal was written, the file never touched.
            // When the change itself failed, path and backup are still one file, and rename(2)
            // then does nothing: the backup is removed after it either way.
            Entry::Replaced { path, backup } if backup.exists() => fs::rename(backup, path)
                .and_then(|()| remove_or_absent(backup))
                .map_err(io_error(path))
                .and_then(|()| sync_parent(path)),
            Entry::Created { path } => remove_if_present(path),
            _ => Ok(()),
        };
        if first.is_ok() {
            first = restored;
        }
    }
    if let Some(journal) = journal {
        let removed = remove_if_present(journal);
        if first.is_ok() {
            first = removed;
        }
    }
    for entry in entries.iter().rev() {
        if let Entry::Dir { path } = entry {
            let _ = fs::remove_dir(path);
        }
    }
    first
}

fn sync_parent(path: &Path) -> Result<(), BackendError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

/// Finishes the rollback of a transaction whose process died: puts back every file the
/// journal at `journal` names and removes what it created. `Ok(false)` when there is no journal.
pub fn recover(journal: &Path) -> Result<bool, BackendError> {
    let Some(text) = read(journal)? else { return Ok(false) };
    let entries: Vec<Entry> = String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            match (fields.next()?, fields.next().map(PathBuf::from), fields.next().map(PathBuf::from)) {
                ("replaced", Some(path), Some(backup)) => Some(Entry::Replaced { path, backup }),
                ("created", Some(path), None) => Some(Entry::Created { path }),
                ("dir", Some(path), None) => Some(Entry::Dir { path }),
                _ => None,
            }
        })
        .collect();
    undo(&entries, Some(journal))?;
    Ok(true)
}

/// Where the journal of an install whose definition is `definition` (a host path) is kept:
/// a hidden sibling, which service managers do not read as a definition.
pub fn journal_of(definition: &Path) -> PathBuf {
    let name = definition.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    definition.with_file_name(format!(".{name}.duende-journal"))
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
        assert_eq!(fs::read_dir(dir.path()).map(Iterator::count).ok(), Some(2), "no backups are left");
        Ok(())
    }

    /// Regression (issue 15, item 5): an installer killed half-way left some files new and some
    /// old. The journal lets the next install put every file back, bytes and mode.
    #[test]
    fn a_killed_transaction_is_recovered_from_its_journal() -> Result<(), BackendError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
        let kept = dir.path().join("kept");
        let gone = dir.path().join("gone");
        write_atomic(&kept, b"old", 0o600)?;
        write_atomic(&gone, b"bye", 0o644)?;
        let journal = journal_of(&dir.path().join("unit/demo.service"));
        let mut tx = Transaction::journaled(journal.clone());
        tx.write(&kept, b"new", 0o755)?;
        tx.write(&dir.path().join("a/b/new"), b"x", 0o644)?;
        tx.remove(&gone)?;
        // The process dies here: nothing runs its rollback.
        std::mem::forget(tx);
        assert_eq!(read(&kept)?, Some(b"new".to_vec()));
        assert!(journal.exists());
        assert!(recover(&journal)?);
        assert_eq!(read(&kept)?, Some(b"old".to_vec()));
        assert_eq!(fs::metadata(&kept).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o600));
        assert_eq!(read(&gone)?, Some(b"bye".to_vec()));
        let mut left: Vec<_> =
            fs::read_dir(dir.path()).map_err(io_error(dir.path()))?.flatten().map(|e| e.file_name()).collect();
        left.sort();
        assert_eq!(left, ["gone", "kept"], "the journal, its directory, the backups and new files are gone");
        assert!(!recover(&journal)?, "nothing left to recover");
        Ok(())
    }

    /// Regression: a write that failed (a full disk) after the backup link was made left the
    /// backup behind, since renaming a hard link over its twin does nothing.
    #[test]
    fn a_change_that_failed_leaves_no_backup() -> Result<(), BackendError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
        let kept = dir.path().join("kept");
        write_atomic(&kept, b"old", 0o600)?;
        let mut tx = Transaction::journaled(journal_of(&kept));
        tx.remember(&kept)?;
        assert!(backup_of(&kept).exists());
        tx.rollback()?;
        assert_eq!(read(&kept)?, Some(b"old".to_vec()));
        assert_eq!(fs::read_dir(dir.path()).map(Iterator::count).ok(), Some(1), "only the file itself");
        Ok(())
    }

    #[test]
    fn a_committed_transaction_leaves_only_the_new_files() -> Result<(), BackendError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
        let kept = dir.path().join("kept");
        write_atomic(&kept, b"old", 0o600)?;
        let journal = journal_of(&kept);
        let mut tx = Transaction::journaled(journal.clone());
        tx.write(&kept, b"new", 0o644)?;
        assert!(backup_of(&kept).exists() && journal.exists());
        tx.commit();
        assert_eq!(read(&kept)?, Some(b"new".to_vec()));
        assert_eq!(fs::read_dir(dir.path()).map(Iterator::count).ok(), Some(1));
        Ok(())
    }
}
