//! Process exit codes, exactly as the product contract (DESIGN.md section 7) fixes them.

use std::process::ExitCode;

/// Why the process ends, and the exit status that says so.
///
/// The numbers follow `sysexits.h` where one fits, so operators and service managers can tell
/// a configuration mistake from a crash without reading logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the daemon stopped gracefully, or a command succeeded.
    Success,
    /// 1: a health check found the daemon not ready or unhealthy (`__healthcheck`: container
    /// engines read any status but 0 and 1 as an error of the check itself).
    Unhealthy,
    /// 64: the command line was wrong.
    Usage,
    /// 69: the requested platform or service manager is not available here.
    Unavailable,
    /// 70: the daemon's own code failed (`init`, `run` or `shutdown` returned an error or panicked).
    Software,
    /// 71: the operating system refused something required (for example a required `mlockall`).
    OsError,
    /// 75: shutdown did not finish within `shutdown_timeout`.
    ShutdownTimeout,
    /// 78: the configuration is invalid.
    Config,
    /// 128+N: a second terminating signal N forced an immediate exit.
    Signal(i32),
    /// N: the status of a daemon that ran elsewhere (in a pepita guest), passed on unchanged.
    Relayed(u8),
}

impl Exit {
    /// The numeric exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Unhealthy => 1,
            Exit::Usage => 64,
            Exit::Unavailable => 69,
            Exit::Software => 70,
            Exit::OsError => 71,
            Exit::ShutdownTimeout => 75,
            Exit::Config => 78,
            Exit::Signal(n) => u8::try_from(128 + n.clamp(1, 127)).unwrap_or(255),
            Exit::Relayed(n) => n,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_contract() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::Usage.code(), 64);
        assert_eq!(Exit::Unavailable.code(), 69);
        assert_eq!(Exit::Software.code(), 70);
        assert_eq!(Exit::OsError.code(), 71);
        assert_eq!(Exit::ShutdownTimeout.code(), 75);
        assert_eq!(Exit::Config.code(), 78);
        assert_eq!(Exit::Signal(libc::SIGTERM).code(), 143);
        assert_eq!(Exit::Signal(libc::SIGINT).code(), 130);
    }
}
