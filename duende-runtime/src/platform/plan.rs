//! What a backend hands the engine: a [`Plan`] of files and steps for `install`, a [`Retirement`]
//! for `uninstall`, and the [`Manifest`] of what an earlier install created ([`Found`]).
//!
//! Paths in a plan are as the service sees them (absolute); the engine resolves them under the
//! host's root.

use std::path::{Path, PathBuf};

use super::host::Host;
use super::runner::Invocation;
use super::status::Drift;

/// What a file is for; decides the kind of drift a difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// The service definition (unit, plist, ...): written last, after the files it names, and
    /// checked by [`super::Backend::verify`] first. It carries the [`Manifest`].
    Definition,
    /// The copied binary.
    Binary,
    /// The installed configuration file.
    Config,
    /// A guest kernel (pepita's bundle).
    Kernel,
    /// A pepita bundle's initramfs.
    Bundle,
    /// A WOS module (`.wasm`).
    Module,
    /// A WOS process manifest.
    WosManifest,
    /// A shell completion script or the man page: written and removed with the rest, but a
    /// change to one alone neither re-reads definitions nor restarts the service.
    Docs,
    /// Anything else.
    Other,
}

impl FileRole {
    /// The drift a difference in such a file is.
    pub fn drift(self) -> Drift {
        match self {
            FileRole::Definition => Drift::Definition,
            FileRole::Binary => Drift::Binary,
            FileRole::Config => Drift::Config,
            FileRole::Kernel => Drift::Kernel,
            FileRole::Bundle => Drift::Bundle,
            FileRole::Module => Drift::Module,
            FileRole::WosManifest => Drift::WosManifest,
            FileRole::Docs => Drift::Docs,
            FileRole::Other => Drift::File,
        }
    }
}

/// One file `install` wants in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where, as the service sees it.
    pub path: PathBuf,
    /// The whole content.
    pub contents: Vec<u8>,
    /// The permission bits.
    pub mode: u32,
    /// What `--dry-run` shows as its content (a binary is described, not printed).
    pub shown: String,
    /// What it is for.
    pub role: FileRole,
}

impl PlannedFile {
    /// A text file.
    pub fn text(path: PathBuf, text: String, mode: u32, role: FileRole) -> PlannedFile {
        PlannedFile { path, contents: text.clone().into_bytes(), mode, shown: text, role }
    }
}

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Only when a file changed.
    FilesChanged,
    /// Every time (for example enabling a service that is not enabled yet).
    Always,
}

/// A command `install` runs after the files are in place, and how to take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The command.
    pub run: Invocation,
    /// What undoes it when a later part of the install fails; `None` when nothing needs undoing.
    pub undo: Option<Invocation>,
    /// When it runs.
    pub when: When,
}

/// Everything `install` would put in place, as the backend describes it. The engine compares it
/// with the host, and writes, runs, starts, waits and rolls back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The files, the definition last.
    pub files: Vec<PlannedFile>,
    /// How the manager re-reads definitions (`systemctl daemon-reload`): run after files change,
    /// after a rollback and after `uninstall`.
    pub reread: Option<Invocation>,
    /// Commands after the files (and the re-read), in order.
    pub steps: Vec<Step>,
    /// Commands once the install succeeded (after the service is ready, when it was started):
    /// removing what the new install replaced, such as a container's previous version. A
    /// failure here is reported as a warning; the install stands.
    pub after: Vec<Invocation>,
    /// Directories the manager or a step may create (a state directory, a `.wants` directory):
    /// removed on rollback when they did not exist before and are empty.
    pub side_dirs: Vec<PathBuf>,
    /// What the operator should know (warnings).
    pub notes: Vec<String>,
}

/// What every manager adds to `shutdown_timeout` before it kills the daemon (systemd's
/// `TimeoutStopSec=`, launchd's `ExitTimeOut`, the native supervisor, a container engine's stop
/// timeout): the runtime's own deadline fires first and exits with status 75; this leaves time
/// for that exit.
pub const MANAGER_STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long past `shutdown_timeout` a runner (pepita's VM runner, WOS's engine runner) waits for
/// what it runs to end before it kills it. Its manager (systemd's `TimeoutStopSec=`, the native
/// supervisor) kills the runner only at `shutdown_timeout` + 5 s: the runner's deadline and its
/// wind-down fall before that.
pub const RUNNER_STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What a backend has a service manager run in the daemon's place (pepita's VM runner, which
/// stands for a daemon that runs elsewhere and relays its notifications): the command after the
/// binary and its configuration flags, the files it needs (planned with the rest and recorded in
/// the definition's manifest), and what a manager's sandbox must allow it. `Hosted::default()`
/// (no command) is the daemon itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosted {
    /// The subcommand and its arguments (`__pepita-vm --bundle DIR`).
    pub command: Vec<String>,
    /// Its files, written before the definition.
    pub files: Vec<PlannedFile>,
    /// Programs and files outside its own files that it runs or reads, each with what it is for
    /// messages ("vsock backend"): a sandbox must not hide them.
    pub needs: Vec<(&'static str, PathBuf)>,
    /// It generates machine code at run time (QEMU's TCG): a sandbox must allow memory that is
    /// both writable and executable.
    pub jit: bool,
    /// Device nodes it opens (`/dev/kvm`): a sandbox must let it at them.
    pub devices: Vec<PathBuf>,
    /// The scheduling it asks for (a WOS module's priority): a nice value (`Nice=`), applied
    /// where the manager can (a system unit, or any unit when it is not negative).
    pub nice: Option<i32>,
    /// Its CPU weight (`CPUWeight=`), unless `resources.cpu_shares` sets one.
    pub cpu_weight: Option<u64>,
    /// Directories it writes in (a WOS module's `fs:write` capabilities): a sandbox that makes
    /// the file system read-only must leave them writable (`ReadWritePaths=`).
    pub writable: Vec<PathBuf>,
}

/// What `uninstall` does besides stopping the service and removing the recorded files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retirement {
    /// Commands after the service stopped and before its files go (`systemctl disable`).
    pub steps: Vec<Invocation>,
    /// How the manager re-reads definitions, run last.
    pub reread: Option<Invocation>,
    /// Files the manager wrote while the service ran that are the installer's to remove (the
    /// native supervisor's logs); removed when present.
    pub run_files: Vec<PathBuf>,
    /// Directories the daemon keeps its data in: removed when empty, kept (and said so) otherwise.
    pub data_dirs: Vec<PathBuf>,
    /// What the operator should know (what was left where the manager could not be reached).
    pub notes: Vec<String>,
}

/// What an earlier `install` left, as the backend found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing is installed.
    Absent,
    /// duende installed it.
    Ours(Recorded),
    /// A definition is in the way that duende did not write.
    Foreign(PathBuf),
}

/// An install duende made, read back from its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The definition file.
    pub definition: PathBuf,
    /// What the install created besides it.
    pub manifest: Manifest,
    /// The copied binary, when the install copied one.
    pub binary: Option<PathBuf>,
    /// The installed configuration file, when the install placed one.
    pub config: Option<PathBuf>,
}

/// The comment that opens the manifest block at the end of a definition duende wrote.
pub const MANIFEST_HEADER: &str = "# Created by install, removed by uninstall:";

/// What `install` created besides the definition: files, and directories that did not exist
/// before. Kept as a comment block at the end of the definition, so the record and the thing it
/// records cannot part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Files (the copied binary, the installed configuration).
    pub files: Vec<PathBuf>,
    /// Directories, removed by `uninstall` when empty.
    pub dirs: Vec<PathBuf>,
}

impl Manifest {
    /// The manifest of an install that writes `files` and creates `created` (files whose
    /// missing parent directories are recorded too), keeping the directories `previous`
    /// recorded.
    pub fn of<'a>(
        host: &Host,
        previous: &Manifest,
        files: impl IntoIterator<Item = &'a Path>,
        created: impl IntoIterator<Item = &'a Path>,
    ) -> Manifest {
        let files: Vec<PathBuf> = files.into_iter().map(Path::to_path_buf).collect();
        let created: Vec<PathBuf> = created.into_iter().map(Path::to_path_buf).collect();
        let missing = files.iter().chain(&created).flat_map(|path| host.missing_dirs(path));
        let wanted: Vec<PathBuf> = previous.dirs.iter().cloned().chain(missing).collect();
        let mut manifest = Manifest { files, dirs: Vec::new() };
        for dir in wanted {
            if !manifest.dirs.contains(&dir) {
                manifest.dirs.push(dir);
            }
        }
        manifest
    }

    /// The manifest block, one `# file PATH` or `# dir PATH` line each.
    pub fn render(&self) -> String {
        let mut text = format!("\n{MANIFEST_HEADER}\n");
        for file in &self.files {
            text.push_str(&format!("# file {}\n", file.display()));
        }
        for dir in &self.dirs {
            text.push_str(&format!("# dir {}\n", dir.display()));
        }
        text
    }

    /// The manifest in a definition's text (empty when it has none).
    pub fn parse(definition: &str) -> Manifest {
        let mut manifest = Manifest::default();
        let block = definition.lines().skip_while(|line| *line != MANIFEST_HEADER).skip(1);
        for line in block {
            if let Some(file) = line.strip_prefix("# file /") {
                manifest.files.push(Path::new("/").join(file));
            } else if let Some(dir) = line.strip_prefix("# dir /") {
                manifest.dirs.push(Path::new("/").join(dir));
            }
        }
        manifest
    }
}

/// One change `install`, `uninstall` or an operation made, or would make under `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A file written atomically, with its whole content.
    Write {
        /// Where.
        path: PathBuf,
        /// What.
        contents: String,
    },
    /// A file or empty directory removed.
    Remove {
        /// Where.
        path: PathBuf,
    },
    /// A command run.
    Run(Invocation),
    /// Work a backend does itself, in words.
    Do {
        /// What it would do, for `--dry-run` ("start the supervisor of demo").
        planned: String,
        /// What it did ("started the supervisor of demo (pid 42)").
        done: String,
    },
    /// Something the operator should know (a warning or the reason nothing changed); no change.
    Note(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_through_a_definition() {
        let manifest = Manifest {
            files: vec!["/usr/local/bin/demo".into(), "/etc/demo/demo.toml".into()],
            dirs: vec!["/etc/demo".into()],
        };
        let unit = format!("# Written by duende;\n[Service]\nExecStart=/x\n{}", manifest.render());
        assert_eq!(Manifest::parse(&unit), manifest);
        assert_eq!(Manifest::parse("[Service]\n# file /etc/passwd\n"), Manifest::default());
    }

    #[test]
    fn a_manifest_records_missing_directories_and_keeps_earlier_ones() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        std::fs::create_dir_all(root.path().join("etc"))?;
        let host = Host::under(root.path(), 0);
        let previous = Manifest { files: Vec::new(), dirs: vec!["/usr/local/bin".into()] };
        let manifest = Manifest::of(
            &host,
            &previous,
            [Path::new("/etc/demo/demo.toml")],
            [Path::new("/etc/systemd/system/x.wants/demo.service")],
        );
        assert_eq!(manifest.files, [PathBuf::from("/etc/demo/demo.toml")]);
        assert_eq!(
            manifest.dirs,
            [
                PathBuf::from("/usr/local/bin"),
                "/etc/demo".into(),
                "/etc/systemd".into(),
                "/etc/systemd/system".into(),
                "/etc/systemd/system/x.wants".into()
            ]
        );
        Ok(())
    }
}
