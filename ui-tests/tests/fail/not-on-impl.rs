use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

#[duende::main]
impl Quick {
    fn new() -> Self {
        Quick
    }
}

fn main() {
    let _ = Quick::new();
}
