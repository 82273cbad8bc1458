//! The bare tokio baseline: builds a runtime, waits on signals, sends READY=1, nothing else.

#[path = "../bare.rs"]
mod bare;

fn main() -> std::io::Result<()> {
    bare::run()
}
