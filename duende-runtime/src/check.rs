//! `check`. PLACEHOLDER.
use crate::{cli::Common, daemon::Daemon, entry::MainOptions, exit::Exit};

/// Runs `check`.
pub fn run<D: Daemon>(_options: MainOptions, _common: &Common) -> Exit {
    Exit::Success
}
