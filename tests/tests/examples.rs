//! The examples, built as binaries and driven like an operator would.

use duende_tests::Spawn;

const COUNTER: &str = env!("CARGO_BIN_EXE_example-counter");
const GREETER: &str = env!("CARGO_BIN_EXE_example-reload");

#[test]
fn counter_counts_reports_on_usr1_and_stops_on_sigint() {
    let mut d = Spawn::new(COUNTER).args(["--set", "app.interval_ms=10"]).start();
    d.expect_line("ready");
    std::thread::sleep(std::time::Duration::from_millis(100));
    d.signal(libc::SIGUSR1);
    let line = d.expect_line("count = ");
    let n: u64 = line.trim_start_matches("count = ").parse().unwrap();
    assert!(n >= 1, "{line}");
    d.signal(libc::SIGINT);
    d.expect_line("counted to ");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn counter_refuses_an_out_of_range_interval() {
    let (code, out) = Spawn::new(COUNTER).env("COUNTER_APP__INTERVAL_MS", "5").run();
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("app.interval_ms") && out.contains("COUNTER_APP__INTERVAL_MS"), "{out}");
    assert!(out.contains("between 10 and 60000"), "{out}");
}

#[test]
fn greeter_takes_a_new_greeting_on_sighup_and_refuses_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("greeter.toml");
    duende_tests::write_atomic(&file, "[app]\ngreeting = \"hello\"\n");
    let mut d = Spawn::new(GREETER).args(["--config", file.to_str().unwrap()]).start();
    d.expect_line("greeting is hello");

    duende_tests::write_atomic(&file, "[app]\ngreeting = \"bonjour\"\nrepeat = 2\n");
    d.signal(libc::SIGHUP);
    d.expect_line("generation 2: greeting is now bonjourbonjour");

    duende_tests::write_atomic(&file, "[app]\ngreeting = \"\"\n");
    d.signal(libc::SIGHUP);
    let line = d.expect_line("reload refused, greeting stays bonjour");
    assert!(line.contains("app.greeting"), "{line}");

    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}
