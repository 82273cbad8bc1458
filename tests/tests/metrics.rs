//! The Prometheus exporter of real daemon binaries, scraped by a real HTTP client: what it
//! serves, that the text is valid exposition format (checked by an independent parser and by
//! the rules below), where it may listen, and that it stops with the daemon and shrugs off junk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use duende_tests::{PATIENCE, Running, Spawn};

const COUNTER: &str = env!("CARGO_BIN_EXE_example-counter");
const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// Every metric the runtime exports while running (`duende_shutdown_duration_seconds` appears once
/// a shutdown is requested; see `shutdown_duration_is_visible_while_shutting_down`).
const REQUIRED: &[&str] = &[
    "duende_uptime_seconds",
    "duende_start_time_seconds",
    "duende_restarts_total",
    "duende_reloads_total",
    "duende_health_state",
    "duende_health_score",
    "duende_ready_latency_seconds",
    "duende_locked_memory_bytes",
    "duende_locked_address_space_bytes",
    "duende_resident_memory_bytes",
    "duende_open_fds",
    "duende_threads",
    "duende_requests_total",
    "duende_errors_total",
    "duende_request_duration_seconds",
];

/// A daemon with metrics on, its runtime directory private to the test.
struct Exported {
    daemon: Running,
    address: SocketAddr,
    _runtime_dir: tempfile::TempDir,
}

fn with_metrics(program: &str, listen: &str, runtime_dir: &Path) -> Spawn {
    let prefix = if program == COUNTER { "COUNTER" } else { "PROBE" };
    Spawn::new(program)
        .env(&format!("{prefix}_METRICS__ENABLED"), "true")
        .env(&format!("{prefix}_METRICS__LISTEN"), listen)
        .env("RUNTIME_DIRECTORY", runtime_dir)
}

/// Starts `spawn`, reads the address it serves from its log and waits until it is ready.
fn serving(spawn: Spawn) -> (Running, SocketAddr) {
    let mut daemon = spawn.start();
    let line = daemon.expect_line("serving metrics at http://");
    let rest = &line[line.find("http://").expect("a URL") + "http://".len()..];
    let address = rest.split('/').next().expect("host:port").parse().expect("a socket address");
    daemon.expect_line("ready pid=");
    (daemon, address)
}

fn counter(args: &[&str]) -> Exported {
    let runtime_dir = tempfile::tempdir().expect("temporary directory");
    let (daemon, address) = serving(with_metrics(COUNTER, "127.0.0.1:0", runtime_dir.path()).args(args));
    Exported { daemon, address, _runtime_dir: runtime_dir }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One scrape: (status, content type, body).
fn get(address: SocketAddr, path: &str) -> (u16, String, String) {
    let mut response = agent().get(&format!("http://{address}{path}")).call().expect("an HTTP response");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    let body = response.body_mut().read_to_string().expect("a text body");
    (status, content_type, body)
}

fn scrape(address: SocketAddr) -> String {
    let (status, content_type, body) = get(address, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    body
}

/// `name{labels}` → value for every sample line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("bad value: {line:?}")))
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The text format's rules, checked strictly: HELP and TYPE lines well formed, at most one of each
/// per family and TYPE before the family's samples, every name matching
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, label pairs quoted and escaped, values numbers; then the
/// independent parser must read the same families. Returns the families and their types.
fn assert_valid_exposition(text: &str) -> BTreeMap<String, String> {
    assert!(text.ends_with('\n'), "the text must end with a newline");
    let mut types = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut sampled = BTreeSet::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name) && !help.is_empty(), "bad HELP line: {line:?}");
            assert!(helps.insert(name.to_owned()), "second HELP for {name}");
            assert!(!sampled.contains(name), "HELP for {name} after its samples");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line:?}"));
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line:?}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "second TYPE for {name}");
            assert!(!sampled.contains(name), "TYPE for {name} after its samples");
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line:?}"));
            let name = &line[..name_end];
            assert!(valid_name(name), "bad metric name in {line:?}");
            let mut rest = &line[name_end..];
            if let Some(labels) = rest.strip_prefix('{') {
                let close = labels.find("} ").unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                assert_labels(&labels[..close], line);
                rest = &labels[close + 1..];
            }
            let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space before the value: {line:?}"));
            let number = value.split(' ').next().unwrap_or(value);
            assert!(
                number.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&number),
                "bad value in {line:?}"
            );
            let family = family(name, &types);
            assert!(types.contains_key(family), "sample of {family} without a TYPE before it: {line:?}");
            sampled.insert(family.to_owned());
        }
    }
    for name in types.keys().filter(|name| name.starts_with("duende_")) {
        assert!(helps.contains(name), "no HELP for {name}");
    }

    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .expect("the independent parser reads it");
    // The parser folds a histogram's buckets into one sample and keeps `_sum` and `_count` apart.
    let parsed_families: BTreeSet<String> =
        parsed.samples.iter().map(|sample| family(&sample.metric, &types).to_owned()).collect();
    assert_eq!(parsed_families, sampled, "the parser and the checker disagree about the families");
    for sample in parsed.samples.iter().filter(|sample| types.contains_key(&sample.metric)) {
        let kind = &types[&sample.metric];
        let matches = match &sample.value {
            prometheus_parse::Value::Counter(_) => kind == "counter",
            prometheus_parse::Value::Gauge(_) => kind == "gauge",
            prometheus_parse::Value::Histogram(_) => kind == "histogram",
            prometheus_parse::Value::Summary(_) => kind == "summary",
            prometheus_parse::Value::Untyped(_) => kind == "untyped",
        };
        assert!(matches, "{} parsed as {:?} but typed {kind}", sample.metric, sample.value);
    }
    for name in types.keys().filter(|name| name.starts_with("duende_")) {
        assert!(parsed.docs.contains_key(name), "the parser found no HELP for {name}");
    }
    types
}

/// The family a sample name belongs to: a histogram's or summary's `_bucket`, `_sum` and `_count`
/// lines belong to it.
fn family<'n>(name: &'n str, types: &BTreeMap<String, String>) -> &'n str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| {
            name.strip_suffix(suffix)
                .filter(|base| types.get(*base).is_some_and(|k| k == "histogram" || k == "summary"))
        })
        .unwrap_or(name)
}

fn assert_labels(labels: &str, line: &str) {
    let mut rest = labels;
    while !rest.is_empty() {
        let (name, value) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
        assert!(valid_name(name) && !name.starts_with("__"), "bad label name {name:?} in {line:?}");
        let mut end = None;
        let mut escaped = false;
        for (at, c) in value.char_indices() {
            match (escaped, c) {
                (true, '\\' | '"' | 'n') => escaped = false,
                (true, other) => panic!("bad escape \\{other} in {line:?}"),
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(at);
                    break;
                }
                (false, _) => {}
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
        rest = &value[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

#[test]
fn scrapes_show_every_metric_valid_and_the_counter_rising() {
    let mut d = counter(&["--set", "app.interval_ms=20"]);
    let first = scrape(d.address);
    let types = assert_valid_exposition(&first);
    for name in REQUIRED {
        assert!(types.contains_key(*name), "{name} missing from:\n{first}");
    }
    assert_eq!(types["duende_requests_total"], "counter");
    assert_eq!(types["duende_request_duration_seconds"], "histogram");
    assert_eq!(types["duende_health_state"], "gauge");
    std::thread::sleep(Duration::from_millis(300));
    let second = scrape(d.address);
    assert_valid_exposition(&second);
    let (before, after) = (samples(&first), samples(&second));
    let requests = "duende_requests_total";
    assert!(after[requests] > before[requests], "{requests}: {} then {}", before[requests], after[requests]);
    assert!(after["duende_uptime_seconds"] > before["duende_uptime_seconds"]);
    assert_eq!(after["duende_health_state{state=\"healthy\"}"], 1.0);
    assert_eq!(after["duende_health_score"], 5.0);
    assert_eq!(after["duende_restarts_total"], 0.0);
    assert!(after["duende_ready_latency_seconds"] > 0.0 && after["duende_ready_latency_seconds"] < 10.0);
    assert!(after["duende_resident_memory_bytes"] > 1e6, "{second}");
    assert!(after["duende_threads"] >= 2.0 && after["duende_open_fds"] >= 3.0, "{second}");
    d.daemon.signal(libc::SIGTERM);
    assert_eq!(d.daemon.wait_exit(), 0, "{}", d.daemon.output());
}

#[test]
fn other_paths_and_methods_are_refused() {
    let mut d = counter(&[]);
    let (status, _, body) = get(d.address, "/");
    assert_eq!((status, body.as_str()), (404, "not found: the metrics are at /metrics, the health at /healthz\n"));
    assert_eq!(get(d.address, "/metrics/").0, 404);
    let health = (200, "text/plain; charset=utf-8".to_owned(), "ok\n".to_owned());
    assert_eq!(get(d.address, "/healthz"), health, "a ready, healthy daemon serves");
    assert_eq!(get(d.address, "/metrics?name[]=duende_up").0, 200);
    let post = agent().post(&format!("http://{}/metrics", d.address)).send("x").expect("an HTTP response");
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(post.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, HEAD"));
    d.daemon.signal(libc::SIGTERM);
    assert_eq!(d.daemon.wait_exit(), 0);
}

#[test]
fn a_non_loopback_address_is_refused_with_78_naming_the_key() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let (code, output) = with_metrics(COUNTER, "0.0.0.0:9464", runtime_dir.path()).run();
    assert_eq!(code, 78, "{output}");
    for needle in [
        "metrics.listen = \"0.0.0.0:9464\" (from environment variable COUNTER_METRICS__LISTEN): is not a loopback \
         address",
        "set metrics.allow_remote = true",
    ] {
        assert!(output.contains(needle), "{needle:?} not in:\n{output}");
    }
}

#[test]
fn a_busy_port_stops_the_daemon_with_71_before_init() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let runtime_dir = tempfile::tempdir().unwrap();
    let (code, output) = with_metrics(PROBE, &address.to_string(), runtime_dir.path()).run();
    assert_eq!(code, 71, "{output}");
    assert!(output.contains(&format!("cannot listen for metrics scrapes on {address} (metrics.listen)")), "{output}");
    assert!(!output.contains("init label="), "init ran:\n{output}");
}

#[test]
fn after_term_the_port_refuses_connections() {
    // A free port chosen here, as an operator would write it in the configuration.
    let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let runtime_dir = tempfile::tempdir().unwrap();
    let (mut daemon, served) = serving(with_metrics(COUNTER, &address.to_string(), runtime_dir.path()));
    assert_eq!(served, address);
    scrape(address);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0, "{}", daemon.output());
    let refused = TcpStream::connect_timeout(&address, Duration::from_secs(2)).expect_err("the port is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused, "{refused}");
}

#[test]
fn shutdown_duration_and_the_daemons_own_metrics_are_exported() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let spawn = with_metrics(PROBE, "127.0.0.1:0", runtime_dir.path()).args(["--set", "app.shutdown_delay_ms=2000"]);
    let (mut daemon, address) = serving(spawn);
    // `run` counts itself right away (its stdout line may come before or after the log's "ready").
    let deadline = Instant::now() + PATIENCE;
    let running = loop {
        let text = scrape(address);
        if text.contains("probe_runs_total") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(samples(&running)["probe_runs_total"], 1.0, "the probe's own counter:\n{running}");
    assert!(!running.contains("duende_shutdown_duration_seconds"), "{running}");
    daemon.signal(libc::SIGTERM);
    daemon.expect_line("shutdown begin");
    std::thread::sleep(Duration::from_millis(200));
    let stopping = scrape(address);
    assert_valid_exposition(&stopping);
    let duration = samples(&stopping)["duende_shutdown_duration_seconds"];
    assert!((0.1..2.5).contains(&duration), "{duration}\n{stopping}");
    assert_eq!(daemon.wait_exit(), 0, "{}", daemon.output());
}

#[test]
fn reloads_are_counted_by_result() {
    let mut d = counter(&[]);
    d.daemon.signal(libc::SIGHUP);
    d.daemon.expect_line("configuration reloaded");
    // The outcome is recorded just after that line is logged.
    let accepted = "duende_reloads_total{result=\"accepted\"}";
    let deadline = Instant::now() + PATIENCE;
    let values = loop {
        let values = samples(&scrape(d.address));
        if values[accepted] > 0.0 || Instant::now() > deadline {
            break values;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(values[accepted], 1.0);
    assert_eq!(values["duende_reloads_total{result=\"rejected\"}"], 0.0);
    d.daemon.signal(libc::SIGTERM);
    assert_eq!(d.daemon.wait_exit(), 0);
}

#[test]
fn restarts_count_starts_after_an_unclean_end_only() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let start = || serving(with_metrics(COUNTER, "127.0.0.1:0", runtime_dir.path()));
    let restarts = |address| samples(&scrape(address))["duende_restarts_total"];

    let (mut first, address) = start();
    assert_eq!(restarts(address), 0.0);
    first.signal(libc::SIGKILL);
    assert_eq!(first.wait_exit(), 128 + libc::SIGKILL);

    let (mut second, address) = start();
    assert_eq!(restarts(address), 1.0, "a start after a crash is a restart");
    // A second instance on the same runtime directory is refused before it counts anything.
    let (code, out) = with_metrics(COUNTER, "127.0.0.1:0", runtime_dir.path()).run();
    assert_eq!(code, 69, "{out}");
    second.signal(libc::SIGKILL);
    assert_eq!(second.wait_exit(), 128 + libc::SIGKILL);

    let (mut third, address) = start();
    assert_eq!(restarts(address), 2.0, "two crashes, two restarts; the refused instance is not one");
    third.signal(libc::SIGTERM);
    assert_eq!(third.wait_exit(), 0);

    let (mut fourth, address) = start();
    assert_eq!(restarts(address), 2.0, "a start after a graceful stop is not");
    fourth.signal(libc::SIGTERM);
    assert_eq!(fourth.wait_exit(), 0);
}

fn resident_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_flood_of_bad_requests_does_not_disturb_it() {
    let mut d = counter(&["--set", "app.interval_ms=20"]);
    scrape(d.address);
    let rss_before = resident_kib(d.daemon.pid());
    // Clients that connect and say nothing hold a connection each until the read deadline.
    let silent: Vec<TcpStream> = (0..16).map(|_| TcpStream::connect(d.address).unwrap()).collect();
    // Each request with what the exporter answers it: a status, or nothing at all (`None`) when the
    // client closes before its head is complete, as there is no request to answer.
    let junk: &[(&[u8], Option<&str>)] = &[
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", None),
        (b"GET /metrics\r\n\r\n", Some("400")),
        (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", Some("404")),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", Some("405")),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", None), // never finished: closed early
        (b"\r\n\r\n", Some("400")),
        (b"GET /metrics HTTP/9.9\r\n\r\n", Some("400")),
    ];
    let oversized = format!("GET /metrics HTTP/1.1\r\nCookie: {}\r\n\r\n", "x".repeat(64 * 1024));
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let address = d.address;
            let oversized = oversized.clone();
            std::thread::spawn(move || {
                // (request, expected answer, the answer) for every connection, failed ones included.
                let mut answers = Vec::new();
                for i in 0..100 {
                    let (request, expected) =
                        if (i + t) % 8 == 7 { (oversized.as_bytes(), Some("431")) } else { junk[(i + t) % junk.len()] };
                    let label = String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned();
                    let answer = (|| -> std::io::Result<Option<String>> {
                        let mut stream = TcpStream::connect(address)?;
                        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                        stream.write_all(request)?;
                        stream.shutdown(std::net::Shutdown::Write)?;
                        let mut reply = Vec::new();
                        stream.read_to_end(&mut reply)?;
                        if reply.is_empty() {
                            return Ok(None);
                        }
                        let text = String::from_utf8_lossy(&reply);
                        Ok(Some(match text.strip_prefix("HTTP/1.1 ") {
                            Some(rest) => rest.chars().take(3).collect(),
                            None => format!("not an HTTP response: {text:?}"),
                        }))
                    })()
                    .map_err(|err| err.to_string());
                    answers.push((label, expected, answer));
                }
                answers
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect();
    assert_eq!(answers.len(), 400);
    let wrong: Vec<_> =
        answers.iter().filter(|(_, expected, answer)| answer.as_ref().map(Option::as_deref) != Ok(*expected)).collect();
    assert!(wrong.is_empty(), "{} of 400 connections were not answered as expected: {wrong:#?}", wrong.len());
    assert!(started.elapsed() < PATIENCE, "400 bad requests took {:?}", started.elapsed());
    assert!(d.daemon.is_alive(), "{}", d.daemon.output());
    let scraped = Instant::now();
    let body = scrape(d.address);
    assert!(scraped.elapsed() < Duration::from_secs(2), "a scrape during the flood took {:?}", scraped.elapsed());
    assert_valid_exposition(&body);
    // Each silent client is answered 408 once the read deadline (5 s) passes.
    for (n, mut silent) in silent.into_iter().enumerate() {
        silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reply = String::new();
        silent.read_to_string(&mut reply).unwrap_or_else(|err| panic!("silent client {n}: {err}"));
        assert!(reply.starts_with("HTTP/1.1 408 "), "silent client {n}: {reply:?}");
    }
    let rss_after = resident_kib(d.daemon.pid());
    assert!(rss_after < rss_before + 16 * 1024, "RSS grew from {rss_before} KiB to {rss_after} KiB");
    let before = samples(&body)["duende_requests_total"];
    std::thread::sleep(Duration::from_millis(200));
    assert!(samples(&scrape(d.address))["duende_requests_total"] > before, "the daemon kept working");
    d.daemon.signal(libc::SIGTERM);
    assert_eq!(d.daemon.wait_exit(), 0, "{}", d.daemon.output());
}

/// Inodes of the TCP sockets in the LISTEN state, from `/proc/net/tcp` and `tcp6`.
fn listening_inodes() -> BTreeSet<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|row| {
                    let fields: Vec<&str> = row.split_whitespace().collect();
                    (fields.get(3) == Some(&"0A")).then(|| fields.get(9).map(|inode| (*inode).to_owned())).flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn listens_on_tcp(pid: i32) -> bool {
    let listening = listening_inodes();
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten().any(|fd| {
        std::fs::read_link(fd.path()).ok().and_then(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(|inode| listening.contains(inode))
        }) == Some(true)
    })
}

#[test]
fn metrics_are_off_by_default_and_nothing_listens() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let mut off = Spawn::new(COUNTER).env("RUNTIME_DIRECTORY", runtime_dir.path()).start();
    std::thread::sleep(Duration::from_millis(300));
    assert!(off.is_alive(), "{}", off.output());
    assert!(!listens_on_tcp(off.pid()), "a daemon without metrics listens on TCP");
    assert!(!runtime_dir.path().join("restarts").exists(), "no restart bookkeeping with metrics off");
    off.signal(libc::SIGTERM);
    assert_eq!(off.wait_exit(), 0);
    assert!(!off.output().contains("serving metrics"), "{}", off.output());

    let mut on = counter(&[]);
    assert!(listens_on_tcp(on.daemon.pid()), "the probe of listening sockets works");
    on.daemon.signal(libc::SIGTERM);
    assert_eq!(on.daemon.wait_exit(), 0);
}

/// `check` tries the metrics address: taken by a stranger it is a problem (`run` would exit 71);
/// taken by the daemon of this runtime directory it is expected, and a second `run` is warned of.
#[test]
fn check_tells_a_taken_metrics_port_from_one_the_running_daemon_holds() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let stranger = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = stranger.local_addr().unwrap().to_string();
    let (code, out) = with_metrics(COUNTER, &taken, runtime_dir.path()).args(["check"]).run();
    assert_eq!(code, 71, "{out}");
    assert!(out.contains(&format!("metrics exporter: `{taken}` cannot be bound")), "{out}");
    assert!(out.contains("fix: set metrics.listen to a free port"), "{out}");
    drop(stranger);

    let (mut daemon, address) = serving(with_metrics(COUNTER, "127.0.0.1:0", runtime_dir.path()));
    let (code, out) = with_metrics(COUNTER, &address.to_string(), runtime_dir.path()).args(["check"]).run();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("presumably by the running daemon (pid {})", daemon.pid())), "{out}");
    assert!(out.contains(&format!("a daemon (pid {}) already answers on the control socket", daemon.pid())), "{out}");
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0);
}
