//! The service-name rule, checked when the macro runs.
//!
//! The same rule as `duende_runtime::name` (this crate cannot depend on the runtime):
//! `^[a-z][a-z0-9_-]{0,63}$` with no trailing `-` or `_`, so that one name is valid as a systemd
//! unit, a launchd label, a container name, a WOS process name and an environment-variable prefix.

#[cfg(test)]
mod tests;

/// Longest accepted name.
pub(crate) const MAX_LEN: usize = 64;

/// Why a name breaks the rule: the first problem found, characters before length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_LEN`] characters (its length).
    TooLong(usize),
    /// A character outside `a-z`, `0-9`, `-`, `_`.
    Char(char),
    /// The first character is not a lowercase letter.
    Start(char),
    /// The name ends with `-` or `_`.
    End(char),
}

/// Checks `name` against the rule.
pub(crate) fn check(name: &str) -> Result<(), Problem> {
    let Some(first) = name.chars().next() else {
        return Err(Problem::Empty);
    };
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        return Err(Problem::Char(bad));
    }
    if !first.is_ascii_lowercase() {
        return Err(Problem::Start(first));
    }
    if let Some(last @ ('-' | '_')) = name.chars().next_back() {
        return Err(Problem::End(last));
    }
    // Only ASCII is left, so bytes are characters.
    if name.len() > MAX_LEN {
        return Err(Problem::TooLong(name.len()));
    }
    Ok(())
}

/// A valid name close to `name`, when one is obvious: `My Daemon` → `my-daemon`.
pub(crate) fn suggest(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if allowed(c) { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out = out.trim_end_matches(['-', '_']).to_owned();
    (out != name && check(&out).is_ok()).then_some(out)
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}
