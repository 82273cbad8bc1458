struct NotADaemon;

#[duende::main]
fn main() -> NotADaemon {
    NotADaemon
}
