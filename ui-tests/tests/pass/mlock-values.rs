//! Every `mlock` value compiles. Only the crate-root `main` runs, so the outcome does not depend on
//! this machine's memlock limit.
use duende::prelude::*;

struct Quick;

impl Daemon for Quick {
    type Config = NoConfig;

    async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        Ok(ExitReason::Graceful)
    }
}

#[allow(dead_code)]
mod required {
    #[duende::main(name = "required", mlock = "required")]
    fn main() -> super::Quick {
        super::Quick
    }
}

#[allow(dead_code)]
mod best_effort {
    #[duende::main(name = "best-effort", mlock = "best-effort")]
    fn main() -> super::Quick {
        super::Quick
    }
}

#[duende::main(name = "off", mlock = "off")]
fn main() -> Quick {
    Quick
}
