//! `pub fn main` in a module keeps its visibility: a program can call the daemon's entry point
//! from a `main` of its own.
mod daemon {
    use duende::prelude::*;

    pub struct Once;

    impl Daemon for Once {
        type Config = NoConfig;

        async fn run(&mut self, _ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
            Ok(ExitReason::Graceful)
        }
    }

    #[duende::main(name = "pub-main")]
    pub fn main() -> Once {
        Once
    }
}

fn main() -> std::process::ExitCode {
    daemon::main()
}
