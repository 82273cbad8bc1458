//! The smallest duende daemon (`idle.rs`) as a binary of its own.

#[path = "../idle.rs"]
mod idle;

#[duende::main(name = "duende-idle")]
fn main() -> idle::Idle {
    idle::Idle
}
