//! The fuzzing harness: one function per target, each taking arbitrary bytes, so the same code
//! runs under libFuzzer (`fuzz/`, `scripts/fuzz`) and, over the kept corpus and every saved
//! crash, in a stable test (`tests/tests/fuzz_corpus.rs`). Not public API: built only with the
//! `fuzzing` feature.
//!
//! A target fails by panicking, which is how libFuzzer records a crash: the runtime itself must
//! never panic on these inputs, and every check a target makes on the outcome (a reply is a
//! protocol line, a rendered value reads back exactly) panics with what differed.
//!
//! Inputs are split into fields at the byte `0xFF`, which never occurs in UTF-8, so every field is
//! text (decoded lossily) and libFuzzer's mutations keep the fields apart.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod config;
mod control;
mod input;
#[cfg(feature = "kubernetes")]
mod kubernetes;
#[cfg(feature = "launchd")]
mod launchd;
#[cfg(feature = "systemd")]
mod systemd;
#[cfg(feature = "systemd")]
mod unit_file;

pub use config::config;
pub use control::{control_client, control_server};
#[cfg(feature = "kubernetes")]
pub use kubernetes::render_kubernetes;
#[cfg(feature = "launchd")]
pub use launchd::render_launchd;
#[cfg(feature = "systemd")]
pub use systemd::render_systemd;

/// A fuzz target: its name (the directory of its corpus) and its harness.
pub type Target = (&'static str, fn(&[u8]));

/// Every target this build has, by name.
pub const TARGETS: &[Target] = &[
    ("config", config),
    ("control_server", control_server),
    ("control_client", control_client),
    #[cfg(feature = "systemd")]
    ("render_systemd", render_systemd),
    #[cfg(feature = "launchd")]
    ("render_launchd", render_launchd),
    #[cfg(feature = "kubernetes")]
    ("render_kubernetes", render_kubernetes),
];
