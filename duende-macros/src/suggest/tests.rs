use super::*;

const KEYS: &[&str] = &["name", "mlock", "crate"];
const MLOCK: &[&str] = &["off", "best-effort", "required"];

#[test]
fn forgives_typos() {
    for (typo, meant) in [("nmae", "name"), ("nam", "name"), ("names", "name"), ("mlok", "mlock"), ("lock", "mlock")] {
        assert_eq!(closest(typo, KEYS), Some(meant), "{typo}");
    }
    assert_eq!(closest("memlock", KEYS), Some("mlock"));
    assert_eq!(closest("crates", KEYS), Some("crate"));
}

#[test]
fn ignores_case_and_underscores() {
    assert_eq!(closest("best_effort", MLOCK), Some("best-effort"));
    assert_eq!(closest("BestEffort", MLOCK), Some("best-effort"));
    assert_eq!(closest("Required", MLOCK), Some("required"));
}

#[test]
fn does_not_guess_wildly() {
    for word in ["platform", "version", "type", "none", "x"] {
        assert_eq!(closest(word, KEYS), None, "{word}");
    }
    // `on` is one edit from `off` but means the opposite.
    for word in ["on", "of", "true", "yes", "always"] {
        assert_eq!(closest(word, MLOCK), None, "{word}");
    }
}
