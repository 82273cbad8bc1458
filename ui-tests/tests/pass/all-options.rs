//! Every option at once. (`mlock = "required"` would make this run depend on the memlock limit of
//! the machine; `mlock-values.rs` compiles it without running it.)
use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

#[duende::main(name = "all-options_2", mlock = "best-effort", crate = "::duende")]
fn main() -> Quick {
    Quick
}
