//! The file side of an install: atomic writes, and a [`Transaction`] that can put every file
//! and directory back the way it found them, with a journal that outlives a killed installer
//! ([`Interrupted`]): what it changed, which commands it began and how to take them back, and,
//! once the install stood, the clean-ups still to run.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::backend::BackendError;
use super::runner::Invocation;

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
    /// How the manager re-reads definitions: run again once files are put back.
    Reread(Invocation),
    /// Whether the service ran before the install: what putting it back restores.
    Running(bool),
    /// A command the install began (journaled before it runs); `undo` takes it back.
    Command { undo: Option<Invocation> },
    /// The install stood: a clean-up still to run (removing what it replaced).
    Cleanup(Invocation),
}

/// An invocation as one journal field: a JSON array of its words (no tab, no newline).
fn encode(invocation: &Invocation) -> String {
    let words: Vec<&str> =
        std::iter::once(invocation.program.as_str()).chain(invocation.args.iter().map(String::as_str)).collect();
    serde_json::to_string(&words).unwrap_or_else(|_| "[]".to_owned())
}

fn decode(field: &str) -> Option<Invocation> {
    let words: Vec<String> = serde_json::from_str(field).ok()?;
    let (program, args) = words.split_first()?;
    Some(Invocation::new(program, args.iter().cloned()))
}

/// Changes to files that can be undone, even by another process after this one was killed.
///
/// Before a path is first changed, its old file is hard-linked to a sibling
/// `.NAME.duende-old` (same directory, so same file system: no space is needed and putting it
/// back is one atomic rename that restores its bytes and its mode), and the journal (a small
/// index of every path touched, every backup and every directory created) is rewritten
/// atomically *before* the change. Commands are journaled the same way before they run
/// ([`Transaction::command`], with what undoes them), after the service's state before the
/// install ([`Transaction::context`]). [`Transaction::rollback`] renames the backups back, removes
/// what was created and removes the journal; [`Transaction::settle`] marks the install as
/// standing (the journal then keeps only the clean-ups still to run) and
/// [`Transaction::commit`] removes the journal and the backups. An installer killed in between
/// leaves the journal: [`Interrupted`] reads it, so that the next install or uninstall takes
/// back every command and every file (which are again exactly what they were before), or, once
/// the install stood, finishes its clean-ups.
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
                Entry::Reread(reread) => format!("reread\t{}\n", encode(reread)),
                Entry::Running(running) => format!("running\t{running}\n"),
                Entry::Command { undo: Some(undo) } => format!("command\t{}\n", encode(undo)),
                Entry::Command { undo: None } => "command\n".to_owned(),
                Entry::Cleanup(cleanup) => format!("cleanup\t{}\n", encode(cleanup)),
            };
            text.push_str(&line);
        }
        write_atomic(&journal, text.as_bytes(), 0o600)
    }

    /// Records how the manager re-reads definitions and whether the service ran before the
    /// install: what putting things back after a killed install needs (written with the first
    /// change).
    pub fn context(&mut self, reread: Option<&Invocation>, running: bool) {
        self.entries.extend(reread.cloned().map(Entry::Reread));
        self.entries.push(Entry::Running(running));
    }

    /// Journals a command before it runs, with what takes it back (`None`: nothing to take back,
    /// as for a re-read or a start, which putting the service's state back covers).
    pub fn command(&mut self, undo: Option<&Invocation>) -> Result<(), BackendError> {
        self.entries.push(Entry::Command { undo: undo.cloned() });
        self.persist()
    }

    /// Whether a command was begun (journaled with [`Transaction::command`]): before that, only
    /// files changed, and the service runs as it did.
    pub fn began_commands(&self) -> bool {
        self.entries.iter().any(|entry| matches!(entry, Entry::Command { .. }))
    }

    /// The install stands: from here on it is finished, not undone. The journal keeps only the
    /// clean-ups still to run (none: it goes), then the backups go.
    pub fn settle(&mut self, cleanups: &[Invocation]) -> Result<(), BackendError> {
        let backups: Vec<PathBuf> = self
            .entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Replaced { backup, .. } => Some(backup.clone()),
                _ => None,
            })
            .collect();
        let written = self.journal.as_ref().is_some_and(|journal| journal.exists());
        self.entries = cleanups.iter().cloned().map(Entry::Cleanup).collect();
        if written || !self.entries.is_empty() {
            if self.entries.is_empty() {
                if let Some(journal) = &self.journal {
                    remove_if_present(journal)?;
                }
            } else {
                self.persist()?;
            }
        }
        for backup in backups {
            let _ = fs::remove_file(backup);
        }
        Ok(())
    }

    /// The first clean-up [`Transaction::settle`] left has run.
    pub fn cleaned(&mut self) -> Result<(), BackendError> {
        if let Some(first) = self.entries.iter().position(|entry| matches!(entry, Entry::Cleanup(_))) {
            self.entries.remove(first);
        }
        if self.entries.iter().any(|entry| matches!(entry, Entry::Cleanup(_))) {
            self.persist()
        } else {
            self.journal.as_deref().map_or(Ok(()), remove_if_present)
        }
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

    /// Keeps the changes: removes the journal, then the backups (a process killed in between
    /// leaves a backup that the next write of its path replaces, never a journal that would put
    /// back some files and not others).
    pub fn commit(self) {
        if let Some(journal) = &self.journal {
            let _ = fs::remove_file(journal);
        }
        for entry in &self.entries {
            if let Entry::Replaced { backup, .. } = entry {
                let _ = fs::remove_file(backup);
            }
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
            Entry::Replaced { .. }
            | Entry::Dir { .. }
            | Entry::Reread(_)
            | Entry::Running(_)
            | Entry::Command { .. }
            | Entry::Cleanup(_) => Ok(()),
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

/// The journal of a transaction whose process died, read back: what finishing its rollback,
/// or (once the install stood) its clean-ups, takes.
#[derive(Debug)]
pub struct Interrupted {
    journal: PathBuf,
    entries: Vec<Entry>,
}

impl Interrupted {
    /// The journal at `journal`; `None` when there is none.
    pub fn read(journal: &Path) -> Result<Option<Interrupted>, BackendError> {
        let Some(text) = read(journal)? else { return Ok(None) };
        let entries = String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|line| {
                let (kind, rest) = line.split_once('\t').unwrap_or((line, ""));
                let mut fields = rest.split('\t').filter(|f| !f.is_empty());
                match (kind, fields.next(), fields.next()) {
                    ("replaced", Some(path), Some(backup)) => {
                        Some(Entry::Replaced { path: path.into(), backup: backup.into() })
                    }
                    ("created", Some(path), None) => Some(Entry::Created { path: path.into() }),
                    ("dir", Some(path), None) => Some(Entry::Dir { path: path.into() }),
                    ("reread", Some(reread), None) => decode(reread).map(Entry::Reread),
                    ("running", Some(running), None) => Some(Entry::Running(running == "true")),
                    ("command", undo, None) => Some(Entry::Command { undo: undo.and_then(decode) }),
                    ("cleanup", Some(cleanup), None) => decode(cleanup).map(Entry::Cleanup),
                    _ => None,
                }
            })
            .collect();
        Ok(Some(Interrupted { journal: journal.to_path_buf(), entries }))
    }

    /// The install stood before it was killed: only its clean-ups are left.
    pub fn stood(&self) -> bool {
        self.entries.iter().any(|entry| matches!(entry, Entry::Cleanup(_)))
    }

    /// The clean-ups still to run, in order.
    pub fn cleanups(&self) -> Vec<Invocation> {
        let cleanups = self.entries.iter().filter_map(|entry| match entry {
            Entry::Cleanup(cleanup) => Some(cleanup.clone()),
            _ => None,
        });
        cleanups.collect()
    }

    /// What takes back the commands the install began, newest first (each may not have run:
    /// the command was journaled before it ran).
    pub fn undos(&self) -> Vec<Invocation> {
        let undos = self.entries.iter().rev().filter_map(|entry| match entry {
            Entry::Command { undo } => undo.clone(),
            _ => None,
        });
        undos.collect()
    }

    /// How the manager re-reads definitions, when it has to.
    pub fn reread(&self) -> Option<Invocation> {
        self.entries.iter().find_map(|entry| match entry {
            Entry::Reread(reread) => Some(reread.clone()),
            _ => None,
        })
    }

    /// Whether the service ran before the install, when the install began a command (the
    /// service's state may have changed then; before that, only files did).
    pub fn running_before(&self) -> Option<bool> {
        if !self.entries.iter().any(|entry| matches!(entry, Entry::Command { .. })) {
            return None;
        }
        self.entries.iter().find_map(|entry| match entry {
            Entry::Running(running) => Some(*running),
            _ => None,
        })
    }

    /// Puts back every file the journal names, removes what the install created, and removes
    /// the journal (after the clean-ups, when the install stood).
    pub fn finish_files(self) -> Result<(), BackendError> {
        undo(&self.entries, Some(&self.journal))
    }
}

/// Finishes the rollback of a transaction whose process died, files only: puts back every file
/// the journal at `journal` names and removes what it created. `Ok(false)` when there is no
/// journal.
pub fn recover(journal: &Path) -> Result<bool, BackendError> {
    let Some(interrupted) = Interrupted::read(journal)? else { return Ok(false) };
    interrupted.finish_files()?;
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

    /// Commands are journaled before they run, with their undo and the service's state before
    /// the install; a killed installer's journal gives them back, newest first, words intact.
    #[test]
    fn a_killed_transaction_tells_which_commands_to_take_back() -> Result<(), BackendError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
        let kept = dir.path().join("kept");
        write_atomic(&kept, b"old", 0o600)?;
        let journal = journal_of(&kept);
        let reread = Invocation::new("systemctl", ["daemon-reload"]);
        let odd = Invocation::new("docker", ["rm", "--force", "a\tb\nc \"d\" \\e"]);
        let mut tx = Transaction::journaled(journal.clone());
        tx.context(Some(&reread), true);
        tx.write(&kept, b"new", 0o644)?;
        let interrupted =
            Interrupted::read(&journal)?.ok_or_else(|| io_error(&journal)(io::ErrorKind::NotFound.into()))?;
        assert_eq!(interrupted.running_before(), None, "no command began: only files changed");
        assert!(!tx.began_commands());
        tx.command(None)?;
        tx.command(Some(&Invocation::new("docker", ["rename", "x", "x-previous"])))?;
        tx.command(Some(&odd))?;
        assert!(tx.began_commands());
        std::mem::forget(tx);
        let interrupted =
            Interrupted::read(&journal)?.ok_or_else(|| io_error(&journal)(io::ErrorKind::NotFound.into()))?;
        assert!(!interrupted.stood());
        assert_eq!(interrupted.running_before(), Some(true));
        assert_eq!(interrupted.reread(), Some(reread));
        assert_eq!(interrupted.undos(), [odd, Invocation::new("docker", ["rename", "x", "x-previous"])]);
        interrupted.finish_files()?;
        assert_eq!(read(&kept)?, Some(b"old".to_vec()));
        assert_eq!(fs::read_dir(dir.path()).map(Iterator::count).ok(), Some(1), "only the file itself");
        Ok(())
    }

    /// Once the install stood, the journal keeps only the clean-ups left: a killed installer's
    /// successor finishes them and puts no file back.
    #[test]
    fn a_settled_transaction_leaves_only_its_clean_ups() -> Result<(), BackendError> {
        let dir = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
        let kept = dir.path().join("kept");
        write_atomic(&kept, b"old", 0o600)?;
        let journal = journal_of(&kept);
        let cleanups =
            [Invocation::new("docker", ["rm", "x-previous"]), Invocation::new("docker", ["image", "rm", "i:1"])];
        let mut tx = Transaction::journaled(journal.clone());
        tx.write(&kept, b"new", 0o644)?;
        tx.command(Some(&Invocation::new("docker", ["rm", "x"])))?;
        tx.settle(&cleanups)?;
        assert!(!backup_of(&kept).exists(), "the install stands: no backup");
        tx.cleaned()?;
        std::mem::forget(tx);
        let interrupted =
            Interrupted::read(&journal)?.ok_or_else(|| io_error(&journal)(io::ErrorKind::NotFound.into()))?;
        assert!(interrupted.stood());
        assert_eq!(interrupted.cleanups(), cleanups[1..]);
        assert!(interrupted.undos().is_empty());
        interrupted.finish_files()?;
        assert_eq!(read(&kept)?, Some(b"new".to_vec()));
        assert!(!journal.exists());
        let mut tx = Transaction::journaled(journal.clone());
        tx.write(&kept, b"newer", 0o644)?;
        tx.settle(&[])?;
        assert!(!journal.exists() && !backup_of(&kept).exists(), "nothing left to clean up: no journal");
        tx.commit();
        assert_eq!(fs::read_dir(dir.path()).map(Iterator::count).ok(), Some(1));
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
