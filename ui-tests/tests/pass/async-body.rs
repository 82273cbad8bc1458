//! An `async fn main` whose body awaits before it returns the daemon.
use duende::prelude::*;

struct Quick {
    greeting: String,
}

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        assert_eq!(self.greeting, "ready");
        Ok(ExitReason::Graceful)
    }
}

async fn load_greeting() -> String {
    duende::tokio::task::yield_now().await;
    "ready".to_owned()
}

#[duende::main(name = "async-body")]
async fn main() -> Quick {
    let greeting = load_greeting().await;
    Quick { greeting }
}
