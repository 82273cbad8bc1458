//! What `start` hands the supervisor ([`Launch`]), and the supervisor's socket protocol: one
//! JSON [`Request`] per connection, answered by one JSON [`Reply`] line. The files in the runtime
//! directory are named here, for the supervisor and its clients alike.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The supervisor's pid file in the runtime directory.
pub const PID_FILE: &str = "supervisor.pid";
/// The supervisor's socket in the runtime directory.
pub const SOCKET: &str = "supervisor.sock";
/// Where the daemon's sd_notify datagrams go, in the runtime directory.
pub const NOTIFY_SOCKET: &str = "notify.sock";

/// What `start` tells the supervisor it launches (on its standard input); the restart rules,
/// log sizes and stop timeout the supervisor reads from the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// The service name.
    pub name: String,
    /// The daemon's program.
    pub program: PathBuf,
    /// Its arguments (`--config ...`, `run`, `--`, ...).
    pub args: Vec<String>,
    /// Variables added to its environment.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub working_dir: Option<PathBuf>,
    /// The runtime directory: pid file, sockets, the daemon's own control socket.
    pub runtime_dir: PathBuf,
    /// The log file.
    pub log: PathBuf,
}

/// A request on the supervisor's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// How things stand.
    Status,
    /// Stop the daemon (TERM, then KILL of its process group past the timeout) and exit.
    Stop,
    /// Deliver SIGHUP and answer with the outcome the daemon reports.
    Reload,
}

/// Where the supervised daemon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Started, not ready yet.
    Starting,
    /// Ready.
    Running,
    /// Ended; restarted when the delay is over.
    BackingOff,
    /// Being stopped.
    Stopping,
    /// Given up: not restarted until `start`.
    Failed,
}

impl State {
    /// The state as the protocol spells it (`backing-off`).
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::BackingOff => "backing-off",
            State::Stopping => "stopping",
            State::Failed => "failed",
        }
    }
}

/// How the daemon last ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// The status a shell shows: the exit code, or 128 + the signal.
    pub status: i32,
    /// "exit status 1", "killed by signal 9".
    pub text: String,
    /// When, in milliseconds since the epoch.
    pub at_unix_ms: u64,
}

/// The supervisor's account, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The service name.
    pub name: String,
    /// Where the daemon is.
    pub state: State,
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// The daemon's pid, while one runs.
    pub pid: Option<u32>,
    /// When the running daemon became ready (or started, before that), in ms since the epoch.
    pub since_unix_ms: Option<u64>,
    /// Automatic restarts since `start`.
    pub restarts: u32,
    /// How the daemon last ended.
    pub last_exit: Option<LastExit>,
    /// When the next restart is due, while backing off.
    pub next_restart_unix_ms: Option<u64>,
    /// The daemon's last `STATUS=` line.
    pub status_text: String,
    /// The running daemon has sent `READY=1`.
    pub ready: bool,
    /// Why the supervisor gave up, when it did.
    pub reason: Option<String>,
    /// How long a stop waits before it kills (shutdown_timeout plus a margin), in ms.
    pub stop_timeout_ms: u64,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// For `status`.
    Status(Report),
    /// For `stop`, once the daemon is gone (the supervisor exits next).
    Stopped {
        /// The daemon's pid, when one ran.
        pid: Option<u32>,
        /// How it ended, when one ran.
        ended: Option<String>,
        /// It had to be killed after the timeout.
        killed: bool,
    },
    /// For `reload`, once the daemon reported the outcome.
    Reloaded {
        /// The daemon took the new configuration.
        accepted: bool,
        /// What it said (`STATUS=`).
        status_text: String,
    },
    /// The request could not be carried out.
    Error {
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_tagged_json() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&Request::Reload)?, r#"{"op":"reload"}"#);
        assert_eq!(serde_json::from_str::<Request>(r#"{"op":"stop"}"#)?, Request::Stop);
        let reply = Reply::Reloaded { accepted: false, status_text: "running (reload rejected)".to_owned() };
        let text = serde_json::to_string(&reply)?;
        assert_eq!(text, r#"{"reply":"reloaded","accepted":false,"status_text":"running (reload rejected)"}"#);
        assert_eq!(serde_json::from_str::<Reply>(&text)?, reply);
        for state in [State::Starting, State::Running, State::BackingOff, State::Stopping, State::Failed] {
            assert_eq!(serde_json::to_string(&state)?, format!("\"{}\"", state.name()));
        }
        Ok(())
    }
}
