//! Progress of the long steps of management commands (building a container image or a VM
//! bundle, running an engine's command, waiting for the service to be ready), on standard error.
//!
//! On a terminal a step is one line that counts the seconds and ends with a coloured mark; anywhere
//! else it is two plain lines, one when it starts and one when it ends: under a service manager
//! (`INVOCATION_ID` or `JOURNAL_STREAM` set), in CI (`CI` set), with `NO_COLOR` set, with
//! `TERM=dumb`, or when standard error is not a terminal. `--quiet` shows no progress at all
//! (results and errors are still printed). Standard output is never touched: it carries results
//! and `--json` documents.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One live line per step, redrawn every tenth of a second, coloured marks.
    Terminal,
    /// A line when a step starts and one when it ends, no control characters.
    Plain,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// The mode for these facts: `quiet` (the `--quiet` flag), whether standard error is a
    /// terminal, and the environment (looked up by name).
    pub fn choose(quiet: bool, terminal: bool, env: &dyn Fn(&str) -> Option<String>) -> Mode {
        let set = |name: &str| env(name).is_some_and(|value| !value.is_empty());
        if quiet {
            Mode::Quiet
        } else if !terminal
            || set("NO_COLOR")
            || set("CI")
            || set("INVOCATION_ID")
            || set("JOURNAL_STREAM")
            || env("TERM").is_some_and(|term| term == "dumb")
        {
            Mode::Plain
        } else {
            Mode::Terminal
        }
    }

    /// The mode for this process: `--quiet` as [`configure`]d, standard error and the environment.
    pub fn current() -> Mode {
        let quiet = QUIET.load(Ordering::Relaxed) == 1;
        Mode::choose(quiet, std::io::stderr().is_terminal(), &|name| std::env::var(name).ok())
    }
}

/// Whether errors are coloured: standard error is a terminal and nothing asks for plain output
/// (`--quiet` hides progress, not colour).
pub fn colour() -> bool {
    Mode::choose(false, std::io::stderr().is_terminal(), &|name| std::env::var(name).ok()) == Mode::Terminal
}

/// 1 once `--quiet` was given.
static QUIET: AtomicU8 = AtomicU8::new(0);

/// Records `--quiet` for every step this process shows.
pub fn configure(quiet: bool) {
    QUIET.store(u8::from(quiet), Ordering::Relaxed);
}

type Sink = Arc<Mutex<dyn Write + Send>>;

/// A step under way; [`Step::done`] ends it, and dropping it unfinished ends it as failed.
pub struct Step {
    what: String,
    mode: Mode,
    started: Instant,
    sink: Sink,
    finished: bool,
    ticker: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step").field("what", &self.what).field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// Starts showing `what` (such as "building the container image") on standard error.
pub fn step(what: impl Into<String>) -> Step {
    Step::start(what.into(), Mode::current(), Arc::new(Mutex::new(std::io::stderr())))
}

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);

impl Step {
    /// Starts `what` in `mode`, writing to `sink`.
    pub fn start(what: String, mode: Mode, sink: Sink) -> Step {
        let started = Instant::now();
        let ticker = match mode {
            Mode::Quiet => None,
            Mode::Plain => {
                write_to(&sink, &format!("{what} ...\n"));
                None
            }
            Mode::Terminal => {
                let stop = Arc::new(AtomicBool::new(false));
                let (flag, sink, shown) = (Arc::clone(&stop), Arc::clone(&sink), what.clone());
                // No thread (and no live line) when one cannot be started: the end line still comes.
                std::thread::Builder::new()
                    .name("duende-progress".to_owned())
                    .stack_size(64 << 10)
                    .spawn(move || {
                        let mut frame = 0;
                        while !flag.load(Ordering::Relaxed) {
                            let secs = started.elapsed().as_secs_f64();
                            write_to(&sink, &format!("\r\x1b[2K{} {shown} {secs:.1}s", FRAMES[frame % FRAMES.len()]));
                            frame += 1;
                            std::thread::park_timeout(TICK);
                        }
                    })
                    .ok()
                    .map(|thread| (stop, thread))
            }
        };
        Step { what, mode, started, sink, finished: false, ticker }
    }

    /// Ends the step as done.
    pub fn done(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, ok: bool) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Some((stop, thread)) = self.ticker.take() {
            stop.store(true, Ordering::Relaxed);
            thread.thread().unpark();
            let _ = thread.join();
        }
        let secs = self.started.elapsed().as_secs_f64();
        let what = &self.what;
        match (self.mode, ok) {
            (Mode::Quiet, _) => {}
            (Mode::Plain, true) => write_to(&self.sink, &format!("{what}: done in {secs:.1} s\n")),
            (Mode::Plain, false) => write_to(&self.sink, &format!("{what}: failed after {secs:.1} s\n")),
            (Mode::Terminal, true) => {
                write_to(&self.sink, &format!("\r\x1b[2K\x1b[32m✓\x1b[0m {what} ({secs:.1} s)\n"))
            }
            (Mode::Terminal, false) => {
                write_to(&self.sink, &format!("\r\x1b[2K\x1b[31m✗\x1b[0m {what} (failed after {secs:.1} s)\n"));
            }
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// An error as a command prints it: `prefix` and `headline` on one line, then `fix: ...` on its
/// own line when there is one; the words `failed` and `fix:` coloured when `colour` (on a
/// terminal: [`colour`]).
pub fn error_lines(prefix: &str, headline: &str, fix: Option<&str>, colour: bool) -> String {
    let (red, green, reset) = if colour { ("\x1b[1;31m", "\x1b[1;32m", "\x1b[0m") } else { ("", "", "") };
    let mut out = format!("{prefix}{red}failed{reset}: {headline}\n");
    if let Some(fix) = fix {
        out.push_str(&format!("  {green}fix:{reset} {fix}\n"));
    }
    out
}

fn write_to(sink: &Sink, text: &str) {
    let mut sink = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = sink.write_all(text.as_bytes());
    let _ = sink.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    }

    #[test]
    fn a_terminal_gets_live_lines_unless_something_says_plain_or_quiet() {
        assert_eq!(Mode::choose(false, true, &env(&[("TERM", "xterm")])), Mode::Terminal);
        for plain in
            [("NO_COLOR", "1"), ("CI", "true"), ("INVOCATION_ID", "abc"), ("JOURNAL_STREAM", "8:9"), ("TERM", "dumb")]
        {
            assert_eq!(Mode::choose(false, true, &env(&[plain])), Mode::Plain, "{plain:?}");
        }
        // An empty NO_COLOR does not count (no-color.org), and nothing on a pipe is live.
        assert_eq!(Mode::choose(false, true, &env(&[("NO_COLOR", "")])), Mode::Terminal);
        assert_eq!(Mode::choose(false, false, &env(&[])), Mode::Plain);
        assert_eq!(Mode::choose(true, true, &env(&[])), Mode::Quiet);
        assert_eq!(Mode::choose(true, false, &env(&[("CI", "1")])), Mode::Quiet);
    }

    fn shown(body: impl FnOnce(Sink)) -> String {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        body(buffer.clone());
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_steps_are_a_line_at_the_start_and_one_at_the_end_without_control_characters() {
        let out = shown(|sink| {
            Step::start("building the container image".into(), Mode::Plain, sink.clone()).done();
            drop(Step::start("waiting for demo to be ready".into(), Mode::Plain, sink));
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(lines[0], "building the container image ...");
        assert!(lines[1].starts_with("building the container image: done in ") && lines[1].ends_with(" s"), "{out}");
        assert_eq!(lines[2], "waiting for demo to be ready ...");
        assert!(lines[3].starts_with("waiting for demo to be ready: failed after "), "{out}");
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    }

    #[test]
    fn terminal_steps_redraw_one_line_and_end_with_a_coloured_mark() {
        let out = shown(|sink| {
            let step = Step::start("building the VM bundle".into(), Mode::Terminal, sink);
            std::thread::sleep(Duration::from_millis(250));
            step.done();
        });
        assert!(out.matches("\r\x1b[2K").count() >= 3, "redrawn while it runs, then the end: {out:?}");
        assert!(out.contains("⠋ building the VM bundle 0.0s"), "{out:?}");
        assert!(out.ends_with(" s)\n") && out.contains("\x1b[32m✓\x1b[0m building the VM bundle ("), "{out:?}");
        assert_eq!(out.matches('\n').count(), 1, "one line in the end: {out:?}");
    }

    #[test]
    fn an_error_is_one_line_and_its_fix_another_coloured_only_when_asked() {
        let plain =
            error_lines("demo: `install` ", "systemd is not running here", Some("choose another `--platform`"), false);
        assert_eq!(plain, "demo: `install` failed: systemd is not running here\n  fix: choose another `--platform`\n");
        let coloured = error_lines("demo: `install` ", "x", Some("y"), true);
        assert_eq!(coloured, "demo: `install` \x1b[1;31mfailed\x1b[0m: x\n  \x1b[1;32mfix:\x1b[0m y\n");
        assert_eq!(error_lines("demo: `stop` ", "x", None, false), "demo: `stop` failed: x\n");
    }

    #[test]
    fn quiet_shows_nothing() {
        let out = shown(|sink| Step::start("x".into(), Mode::Quiet, sink).done());
        assert_eq!(out, "");
    }
}
