//! The bare tokio baseline's behaviour in a binary that also links a whole duende daemon (the one
//! `duende-idle` runs). The daemon is reachable, behind an environment variable the bench never
//! sets, so the linker keeps every part of duende; what runs is only the baseline. Against the
//! baseline it shows what linking duende costs; against `duende-idle`, what duende's work costs.

#[path = "../bare.rs"]
mod bare;

mod daemon {
    use duende::prelude::*;

    pub struct Idle;

    impl Daemon for Idle {
        type Config = NoConfig;

        async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
            ctx.shutdown_requested().await;
            Ok(ExitReason::Graceful)
        }
    }

    #[duende::main(name = "duende-linked")]
    pub fn main() -> Idle {
        Idle
    }
}

fn main() -> std::process::ExitCode {
    if std::env::var_os("DUENDE_LINKED_RUN_DAEMON").is_some() {
        return daemon::main();
    }
    match bare::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("duende-linked: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
