//! `#[duende::main]` misuse fails to compile with the intended message on the tokens at fault
//! (tests/fail/, one rule per file), and correct uses build and run (tests/pass/).
//!
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p duende-ui-tests` and read the
//! diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/fail/*.rs");
    t.pass("tests/pass/*.rs");
}
