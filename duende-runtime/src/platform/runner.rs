//! How backends run external tools (`systemctl`, `launchctl`, `docker`, ...): through a
//! [`CommandRunner`], so unit tests record the commands instead of touching the host.

#[cfg(any(test, feature = "testing"))]
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::process::{Command, Stdio};
#[cfg(any(test, feature = "testing"))]
use std::sync::{Mutex, PoisonError};

/// One external command: a program and its arguments, never a shell line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program, found on `PATH` unless absolute.
    pub program: String,
    /// The arguments, each passed as one word.
    pub args: Vec<String>,
}

impl Invocation {
    /// `program` with `args`.
    pub fn new<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Invocation { program: program.to_owned(), args: args.into_iter().map(Into::into).collect() }
    }
}

/// Shows the command as a shell would need it typed (for `--dry-run` and errors).
impl fmt::Display for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_word(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", shell_word(arg))?;
        }
        Ok(())
    }
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Starts `command` with a parent-death signal (Linux): the child is killed when the thread
/// that started it ends, so a runner killed with SIGKILL takes its children with it.
#[cfg(unix)]
pub fn spawn_tied(command: &mut Command) -> io::Result<std::process::Child> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: between fork and exec only async-signal-safe calls are made (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(io::Error::other("the parent is gone"));
                }
                Ok(())
            });
        }
    }
    command.spawn()
}

/// What a finished command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit status, or `None` when a signal ended it.
    pub status: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl CommandOutput {
    /// A command that exited 0 and printed `stdout`.
    pub fn success(stdout: &str) -> Self {
        CommandOutput { status: Some(0), stdout: stdout.to_owned(), stderr: String::new() }
    }

    /// A command that exited with `status` and printed `stderr`.
    pub fn failure(status: i32, stderr: &str) -> Self {
        CommandOutput { status: Some(status), stdout: String::new(), stderr: stderr.to_owned() }
    }

    /// True when the command exited 0. This says only that the tool was content; it is no
    /// proof that a daemon runs.
    pub fn succeeded(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs external commands and waits for them.
pub trait CommandRunner {
    /// Runs `invocation` to completion, capturing its output. `Err` means it could not be
    /// started at all (for example, the program is not installed).
    fn run(&self, invocation: &Invocation) -> io::Result<CommandOutput>;

    /// Runs `invocation`, copying its standard output to `out` as it comes (for `logs -f`), and
    /// returns its exit status (`None` when a signal ended it). By default this runs it to
    /// completion and then copies what it printed.
    fn stream(&self, invocation: &Invocation, out: &mut dyn io::Write) -> io::Result<Option<i32>> {
        let output = self.run(invocation)?;
        out.write_all(output.stdout.as_bytes())?;
        Ok(output.status)
    }
}

/// Runs commands on this host with `std::process`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, invocation: &Invocation) -> io::Result<CommandOutput> {
        let output = Command::new(&invocation.program).args(&invocation.args).output()?;
        Ok(CommandOutput {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    fn stream(&self, invocation: &Invocation, out: &mut dyn io::Write) -> io::Result<Option<i32>> {
        let mut child = Command::new(&invocation.program).args(&invocation.args).stdout(Stdio::piped()).spawn()?;
        if let Some(mut stdout) = child.stdout.take() {
            let mut buffer = [0u8; 8192];
            loop {
                let read = stdout.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                out.write_all(&buffer[..read])?;
                out.flush()?;
            }
        }
        Ok(child.wait()?.code())
    }
}

/// Records every command and answers from a script, for tests. With the script empty, every
/// command "succeeds" with no output.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct RecordingRunner {
    calls: Mutex<Vec<Invocation>>,
    replies: Mutex<VecDeque<io::Result<CommandOutput>>>,
}

#[cfg(any(test, feature = "testing"))]
impl RecordingRunner {
    /// A runner with an empty script.
    pub fn new() -> Self {
        RecordingRunner::default()
    }

    /// Queues the reply to the next command not yet answered.
    pub fn reply(self, reply: io::Result<CommandOutput>) -> Self {
        self.replies.lock().unwrap_or_else(PoisonError::into_inner).push_back(reply);
        self
    }

    /// Every command run so far, in order.
    pub fn calls(&self) -> Vec<Invocation> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[cfg(any(test, feature = "testing"))]
impl CommandRunner for RecordingRunner {
    fn run(&self, invocation: &Invocation) -> io::Result<CommandOutput> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(invocation.clone());
        let next = self.replies.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
        next.unwrap_or_else(|| Ok(CommandOutput::success("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_display_as_safe_shell_lines() {
        let inv = Invocation::new("systemctl", ["--user", "start", "demo.service"]);
        assert_eq!(inv.to_string(), "systemctl --user start demo.service");
        let inv = Invocation::new("docker", ["run", "--env", "GREETING=hello world", "it's", ""]);
        assert_eq!(inv.to_string(), r"docker run --env 'GREETING=hello world' 'it'\''s' ''");
    }

    #[test]
    fn the_recording_runner_records_and_replies_in_order() {
        let runner = RecordingRunner::new()
            .reply(Ok(CommandOutput::failure(5, "Unit demo.service not found.")))
            .reply(Err(io::Error::from(io::ErrorKind::NotFound)));
        let first = runner.run(&Invocation::new("systemctl", ["start", "demo"]));
        assert!(first.as_ref().is_ok_and(|out| !out.succeeded() && out.stderr.contains("not found")), "{first:?}");
        assert!(runner.run(&Invocation::new("launchctl", ["print"])).is_err());
        assert!(runner.run(&Invocation::new("true", Vec::<String>::new())).is_ok_and(|out| out.succeeded()));
        let programs: Vec<_> = runner.calls().into_iter().map(|c| c.program).collect();
        assert_eq!(programs, ["systemctl", "launchctl", "true"]);
    }

    #[test]
    fn the_system_runner_runs_real_programs() {
        let out = SystemRunner.run(&Invocation::new("sh", ["-c", "echo out; echo err >&2; exit 3"]));
        let Ok(out) = out else { panic!("sh did not start: {out:?}") };
        assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (Some(3), "out\n", "err\n"));
        let missing = SystemRunner.run(&Invocation::new("/nonexistent/duende-tool", Vec::<String>::new()));
        assert!(missing.is_err());
    }
}
