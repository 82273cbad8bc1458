struct NotADaemon;

#[duende::main(name = "counter")]
async fn main() -> NotADaemon {
    NotADaemon
}
