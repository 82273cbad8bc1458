//! The smallest duende daemon: `run` awaits the shutdown request and nothing else.

use duende::prelude::*;

pub struct Idle;

impl Daemon for Idle {
    type Config = NoConfig;

    async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        ctx.shutdown_requested().await;
        Ok(ExitReason::Graceful)
    }
}
