//! A test-only fault hook, built only with the cargo feature `fault-injection` (which the root
//! test suites turn on; no daemon build should): an installer whose environment holds
//! `DUENDE_TEST_KILL_AT=N` sends itself SIGKILL just before step `N` (counting from 0) of an
//! install's transaction, after saying on stderr which step that is. The steps are every change
//! the transaction makes, in order: each file written or removed, the manager's re-read, each
//! plan step, the start or restart, each clean-up. A test enumerates them by raising `N` until
//! an install runs to its end, so a step added later is covered without changing the test.
//!
//! Without the feature [`Steps::before`] does nothing and reads no environment.

/// The variable naming the step to die at.
pub const KILL_AT: &str = "DUENDE_TEST_KILL_AT";

/// Counts the transaction's steps; `before` each one.
#[derive(Debug, Default)]
pub struct Steps {
    #[cfg(feature = "fault-injection")]
    next: usize,
}

impl Steps {
    /// Called just before a step that changes the host; `what` names it (only evaluated when the
    /// hook fires).
    #[cfg(feature = "fault-injection")]
    pub fn before(&mut self, what: impl FnOnce() -> String) {
        let n = self.next;
        self.next += 1;
        if std::env::var(KILL_AT).ok().and_then(|v| v.parse::<usize>().ok()) == Some(n) {
            eprintln!("{KILL_AT}: SIGKILL before step {n}: {}", what());
            #[cfg(unix)]
            let _ = signal_hook::low_level::raise(signal_hook::consts::SIGKILL);
            std::process::abort();
        }
    }

    /// Does nothing without the feature `fault-injection`.
    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub fn before(&mut self, what: impl FnOnce() -> String) {
        let _ = what;
    }
}
