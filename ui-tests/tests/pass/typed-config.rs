//! A daemon with its own typed `[app]` section.
use duende::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    interval_ms: u64,
    greeting: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { interval_ms: 250, greeting: "hello".to_owned() }
    }
}

struct Greeter;

impl Daemon for Greeter {
    type Config = Config;

    fn validate(config: &Config) -> std::result::Result<(), Vec<Violation>> {
        if config.interval_ms == 0 {
            return Err(vec![Violation::new("interval_ms", "must be at least 1")]);
        }
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<Config>) -> Result<ExitReason> {
        let app = ctx.app();
        assert_eq!(app.interval_ms, 250);
        assert_eq!(app.greeting, "hello");
        Ok(ExitReason::Graceful)
    }
}

#[duende::main(name = "greeter")]
fn main() -> Greeter {
    Greeter
}
