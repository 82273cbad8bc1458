//! Service names: one rule that makes a name valid as a systemd unit, a launchd label, a
//! container name, a WOS process name and an environment-variable prefix at once.
//! `duende-macros` applies the same rule at compile time.

/// Longest accepted name.
pub const MAX_LEN: usize = 64;

/// Checks `name` against `^[a-z][a-z0-9_-]{0,63}$` with no trailing `-` or `_`.
pub fn validate(name: &str) -> Result<(), String> {
    let fix = "use lowercase letters, digits, `-` and `_`, starting with a letter, at most 64 characters; \
               set it with `#[duende::main(name = \"...\")]`";
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let end_ok = !name.ends_with(['-', '_']);
    if name.is_empty() || name.len() > MAX_LEN || !first_ok || !rest_ok || !end_ok {
        return Err(format!("`{name}` is not a valid service name: {fix}"));
    }
    Ok(())
}

/// The environment-variable prefix for `name`: `my-daemon` → `MY_DAEMON_`.
pub fn env_prefix(name: &str) -> String {
    format!("{}_", name.to_ascii_uppercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_portable_names() {
        for ok in ["counter", "my-daemon", "swap_dev2", "a"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else_and_says_how_to_fix_it() {
        for bad in ["", "My", "1st", "-x", "x-", "x_", "a b", "a.b", "a/b", "é", &"a".repeat(65)] {
            let err = validate(bad).unwrap_err();
            assert!(err.contains("not a valid service name") && err.contains("name = "), "{bad}: {err}");
        }
    }

    #[test]
    fn env_prefix_is_upper_snake() {
        assert_eq!(env_prefix("my-daemon"), "MY_DAEMON_");
    }
}
