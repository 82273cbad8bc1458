//! `launchctl`'s modern verbs, as invocations ([`Domain`], [`verb`]), and what `launchctl print`
//! says of a job ([`Printed::parse`]), read the way macOS 12 and later print it.
//!
//! Only the verbs of macOS 10.10 and later are used: `bootstrap DOMAIN PLIST` loads a job (and,
//! with `RunAtLoad`, starts it), `bootout DOMAIN/LABEL` stops and unloads it, `kickstart [-k]`
//! starts it (`-k`: kills the running instance first), `kill SIGNAL` signals it, and `print`
//! reports it. The legacy `load`/`unload`/`list` fail or lie on current macOS (`load` of a
//! loaded job: "Load failed: 5: Input/output error"; `list` misses `gui/UID` agents).
//!
//! What the verbs say when they fail, as launchctl prints it (exit status, then standard error):
//! - `print` of a job that is not loaded: 113, `Could not find service "LABEL" in domain for
//!   user gui: 501` (`... for system`; macOS 26 adds a first line `Bad request.`).
//! - `bootstrap` of a job that is already loaded: 5, `Bootstrap failed: 5: Input/output error`.
//!   The backend prints first and never bootstraps a loaded job.
//! - `bootout` of a job that is not loaded: 3, `Boot-out failed: 3: No such process` (or 113).
//! - `bootout` of a daemon slower to exit than `bootout` waits: 36, `Boot-out failed: 36:
//!   Operation now in progress`; the job is unloaded once it has exited, and a `bootstrap` before
//!   then fails. The backend waits until `print` no longer finds the job.
//! - A `gui/UID` domain without a login session: 125, `Domain does not support specified
//!   action`, or `Could not find domain for user gui: 501`.
//!
//! # Reading `print`
//! The job's own fields are the lines indented by exactly one tab (`\tstate = running`); nested
//! blocks (`\t\t...`) are skipped. Argument and environment values are printed raw, so a value
//! with a line break could print a line that looks like a field. The fields are therefore taken
//! by where launchd prints them: `state`, `path` and `type` come before `arguments` and
//! `environment`, so the first occurrence counts; `runs`, `pid`, `last exit code` and `last
//! terminating signal` come after both, so the last counts; and `pid` counts only while the
//! state is `running`. `last terminating signal = Terminated: 15` replaces `last exit code`
//! after a death by signal, and outranks it when both appear. `last exit code` reads
//! `(never exited)`, a number, or a number with its name (`78: EX_CONFIG`).

use crate::platform::runner::Invocation;

/// The program.
pub const LAUNCHCTL: &str = "launchctl";

/// Where a job lives: a user's login session (LaunchAgents) or the system (LaunchDaemons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// `gui/UID`.
    Gui(u32),
    /// `system`.
    System,
}

impl Domain {
    /// `gui/UID` or `system`.
    pub fn name(self) -> String {
        match self {
            Domain::Gui(uid) => format!("gui/{uid}"),
            Domain::System => "system".to_owned(),
        }
    }

    /// `DOMAIN/LABEL`: the job as a service target.
    pub fn target(self, label: &str) -> String {
        format!("{}/{label}", self.name())
    }
}

/// `launchctl ARGS...`.
pub fn verb<const N: usize>(args: [&str; N]) -> Invocation {
    Invocation::new(LAUNCHCTL, args)
}

/// What `print` said of a job's last end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastExit {
    /// `(never exited)`.
    Never,
    /// An exit status.
    Code(i32),
    /// A death by signal: its number and launchd's name for it.
    Signal {
        /// The signal number.
        number: i32,
        /// `Terminated`, `Killed`, ...
        name: String,
    },
}

impl LastExit {
    /// Exit status 0, or never ended.
    pub fn is_clean(&self) -> bool {
        matches!(self, LastExit::Never | LastExit::Code(0))
    }

    /// As an exit status: the code, or 128+N for signal N.
    pub fn status(&self) -> Option<i32> {
        match self {
            LastExit::Never => None,
            LastExit::Code(code) => Some(*code),
            LastExit::Signal { number, .. } => Some(128 + number),
        }
    }

    /// In words, for status details.
    pub fn describe(&self) -> String {
        match self {
            LastExit::Never => "has not exited".to_owned(),
            LastExit::Code(code) => format!("last exited with status {code}"),
            LastExit::Signal { number, name } => format!("last ended by signal {number} ({name})"),
        }
    }
}

/// A loaded job, as `launchctl print DOMAIN/LABEL` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// `state`: `running`, `not running`, `spawn scheduled`, `xpcproxy`, ...
    pub state: String,
    /// `pid`, while running.
    pub pid: Option<u32>,
    /// `runs`: how often launchd started it since it was loaded.
    pub runs: Option<u32>,
    /// How it last ended.
    pub last_exit: Option<LastExit>,
    /// `path`: the plist launchd loaded it from.
    pub path: Option<String>,
}

impl Printed {
    /// Reads `text` (see the module documentation).
    pub fn parse(text: &str) -> Printed {
        let fields: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|line| line.strip_prefix('\t'))
            .filter(|line| !line.starts_with('\t'))
            .filter_map(|line| line.split_once(" = "))
            .collect();
        let first = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.trim());
        let last = |key: &str| fields.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v.trim());
        let state = first("state").unwrap_or_default().to_owned();
        let pid = last("pid").filter(|_| state == "running").and_then(|v| v.parse().ok());
        let signal = last("last terminating signal").and_then(|text| {
            let (name, number) = text.rsplit_once(": ")?;
            Some(LastExit::Signal { number: number.trim().parse().ok()?, name: name.to_owned() })
        });
        let code = last("last exit code").and_then(|text| {
            if text == "(never exited)" {
                return Some(LastExit::Never);
            }
            let number = text.split(':').next().unwrap_or(text).trim();
            number.parse().ok().map(LastExit::Code)
        });
        Printed {
            state,
            pid,
            runs: last("runs").and_then(|v| v.parse().ok()),
            last_exit: signal.or(code),
            path: first("path").map(str::to_owned),
        }
    }
}

/// Whether a failed `print` (its exit status and standard error) says the job is not loaded.
pub fn not_loaded(status: Option<i32>, stderr: &str) -> bool {
    status == Some(113) || stderr.contains("Could not find service")
}

/// Whether a failed `bootout` says the job is still on its way out: launchd answers 36
/// (`Boot-out failed: 36: Operation now in progress`) when the daemon takes longer to exit than
/// `bootout` waits; the job stays loaded until it has.
pub fn still_booting_out(status: Option<i32>, stderr: &str) -> bool {
    status == Some(36) || stderr.contains("Operation now in progress")
}

/// Whether a failed `bootout` says there was nothing loaded to boot out.
pub fn nothing_to_boot_out(status: Option<i32>, stderr: &str) -> bool {
    not_loaded(status, stderr) || status == Some(3) || stderr.contains("No such process")
}

/// Whether a failed command says the `gui/UID` domain does not exist (nobody is logged in to
/// the Mac's desktop as that user).
pub fn no_gui_session(status: Option<i32>, stderr: &str) -> bool {
    status == Some(125) || stderr.contains("Could not find domain") || stderr.contains("Domain does not support")
}

#[cfg(test)]
mod tests;
