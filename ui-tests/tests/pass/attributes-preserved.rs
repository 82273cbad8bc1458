//! Doc comments and other attributes on `main` stay on the user's function: the `allow` below is
//! what keeps this crate-wide `deny` from failing the build.
#![deny(unused_variables, unused_mut)]

use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

/// Builds the daemon.
///
/// Doc comments are kept.
#[duende::main(name = "attributes")]
#[allow(unused_variables)]
#[inline(never)]
#[must_use]
#[allow(unused_mut)]
fn main() -> Quick {
    let mut unused = 1;
    Quick
}
