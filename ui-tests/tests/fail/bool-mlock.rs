use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

#[duende::main(mlock = true)]
fn main() -> Quick {
    Quick
}
