//! Memory locking (DESIGN.md section 5). Placeholder for the helper to complete.

/// What `#[duende::main(mlock = ...)]` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MlockMode {
    /// Lock only when the configuration asks for it.
    #[default]
    Off,
    /// Lock before anything else; a failure is logged and the daemon goes on.
    BestEffort,
    /// Lock before anything else; a failure exits with status 71 before `init`.
    Required,
}

/// What locking did. PLACEHOLDER: helper completes.
#[derive(Debug)]
pub struct LockOutcome {
    /// What was planned from RLIMIT_MEMLOCK and capabilities.
    pub plan: String,
    /// The result.
    pub result: Result<u64, std::io::Error>,
}

impl LockOutcome {
    /// Logs the outcome.
    pub fn log(&self, required: bool) {
        tracing::info!(plan = %self.plan, required, "mlock");
    }
}

/// Locks all memory.
pub fn lock_all() -> LockOutcome {
    LockOutcome { plan: String::new(), result: Err(std::io::Error::other("not yet")) }
}
