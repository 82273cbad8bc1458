//! One problem with a configuration: the key, its value, where it came from, and what is
//! allowed. A leaf: reading the layers and checking the rules both produce them.

use std::fmt;

/// One problem: `key = value (from source): what is allowed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The full dotted key, such as `resources.cpu_shares`; absent for a whole source (a file
    /// that does not parse, a malformed `--set`).
    pub key: Option<String>,
    /// The offending value as TOML, when there is one.
    pub value: Option<String>,
    /// Where the value came from: `file:line`, `environment variable NAME`, `--set key=value`,
    /// or `built-in default`.
    pub origin: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
    /// Where to make the change: the file and line to edit (and what to write, when known), the
    /// variable or the flag to change.
    pub fix: Option<String>,
}

impl Problem {
    /// A problem with a whole source (`origin` is a file, a variable or a flag).
    pub(super) fn from_origin(origin: String, message: String) -> Problem {
        Problem { key: None, value: None, origin: Some(origin), message, fix: None }
    }

    /// A problem with no particular source.
    pub(super) fn general(message: String) -> Problem {
        Problem { key: None, value: None, origin: None, message, fix: None }
    }

    /// The same problem with `fix` saying where to make the change.
    pub(super) fn with_fix(self, fix: String) -> Problem {
        Problem { fix: Some(fix), ..self }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, &self.value, &self.origin) {
            (Some(key), Some(value), _) => write!(f, "{key} = {value}")?,
            (Some(key), None, _) => f.write_str(key)?,
            (None, _, Some(origin)) => return write!(f, "{origin}: {}", self.message),
            (None, _, None) => return f.write_str(&self.message),
        }
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, ": {}", self.message)
    }
}
