//! The idle daemon with one trivial health check declared: what an idle daemon with health
//! checks on costs in wake-ups (`[health_check] enabled = true` comes from the environment).

use duende::prelude::*;

struct Checked;

impl Daemon for Checked {
    type Config = NoConfig;

    async fn init(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<()> {
        ctx.add_health_check("alive", || async { Health::healthy() });
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        ctx.shutdown_requested().await;
        Ok(ExitReason::Graceful)
    }
}

#[duende::main(name = "duende-checked")]
fn main() -> Checked {
    Checked
}
