//! One line of `check`'s report: what a check found, how it weighs, and how to fix it. A leaf
//! module: `check` and every backend's [`diagnose`](super::Backend::diagnose) produce them.

/// How a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// As it should be.
    Ok,
    /// Works, but something will bite later or elsewhere.
    Warn,
    /// Will fail.
    Problem,
}

impl Mark {
    /// How the report spells it.
    pub fn label(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Warn => "warn",
            Mark::Problem => "problem",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The heading it sits under.
    pub section: &'static str,
    /// How it weighs.
    pub mark: Mark,
    /// What was found.
    pub text: String,
    /// How to fix it, for warnings and problems.
    pub fix: Option<String>,
    /// A problem in the configuration itself (exit 78) rather than the environment (exit 71).
    pub in_config: bool,
}

impl Finding {
    /// A finding about the environment under `section`.
    pub fn new(section: &'static str, mark: Mark, text: impl Into<String>, fix: Option<String>) -> Finding {
        Finding { section, mark, text: text.into(), fix, in_config: false }
    }
}
