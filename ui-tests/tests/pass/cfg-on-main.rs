//! A `#[cfg]` on `main` applies to the generated `main` too: here it is compiled out, and the
//! plain `main` below is the program.
use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

#[duende::main(name = "never")]
#[cfg(any())]
fn main() -> Quick {
    Quick
}

#[cfg(not(any()))]
fn main() {
    let _ = Quick;
}
