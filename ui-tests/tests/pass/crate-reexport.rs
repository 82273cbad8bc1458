//! `crate = "..."` for a crate that reaches duende through a re-export.
mod my_reexport {
    pub use ::duende;
}

use my_reexport::duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

#[my_reexport::duende::main(crate = "my_reexport::duende")]
fn main() -> Quick {
    Quick
}
