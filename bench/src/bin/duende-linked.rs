//! The bare tokio baseline's behaviour in a binary that also links a whole duende daemon (the one
//! `duende-idle` runs). The daemon is reachable, behind an environment variable the bench never
//! sets, so the linker keeps every part of duende; what runs is only the baseline. Against the
//! baseline it shows what linking duende costs; against `duende-idle`, what duende's work costs.

#[path = "../bare.rs"]
mod bare;

#[path = "../idle.rs"]
mod idle;

mod daemon {
    #[duende::main(name = "duende-linked")]
    pub fn main() -> super::idle::Idle {
        super::idle::Idle
    }
}

fn main() -> std::process::ExitCode {
    if std::env::var_os("BENCH_RUN_DAEMON").is_some() {
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
