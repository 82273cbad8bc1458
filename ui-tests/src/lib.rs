//! trybuild tests of `#[duende::main]` misuse live in tests/.
