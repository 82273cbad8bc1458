//! The plain form: a synchronous body that builds the daemon.
use duende::prelude::*;

struct Quick {
    runs: u32,
}

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        self.runs += 1;
        Ok(ExitReason::Graceful)
    }
}

#[duende::main]
fn main() -> Quick {
    Quick { runs: 0 }
}
