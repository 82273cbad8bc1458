use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

struct Builder;

impl Builder {
    #[duende::main]
    fn main(&self) -> Quick {
        Quick
    }
}

fn main() {
    let _ = Builder;
}
