//! The registry renders what the daemon recorded and what the runtime knows, in valid exposition
//! format; the exporter serves it over real TCP and stops.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::settings::MetricsSettings;
use crate::health::Health;
use crate::link::Link;
use crate::live::Live;
use crate::shutdown::Shutdown;

fn live_with(metrics: DaemonMetrics) -> Arc<Live> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    std::mem::forget(rx); // the reload queue stays open for the test's lifetime
    Live::new("svc", "1.0", Shutdown::new(), Arc::new(Link::Silent), tx, metrics)
}

/// `name{labels}` → value, for every sample line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")))
        })
        .collect()
}

/// The rules of the text format this crate relies on: names, one TYPE per family before its
/// samples, HELP for every family the runtime describes, values that parse.
fn assert_exposition(text: &str) {
    let valid_name = |name: &str| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed = BTreeMap::new();
    let mut helped = BTreeSet::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(valid_name(name), "{line}");
            assert!(["counter", "gauge", "histogram", "summary"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned(), kind.to_owned()).is_none(), "second TYPE for {name}");
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap();
            assert!(helped.insert(name.to_owned()), "second HELP for {name}");
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(valid_name(name), "{line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| typed.get(*base).is_some_and(|k| k == "histogram" || k == "summary"))
                })
                .unwrap_or(name);
            assert!(typed.contains_key(family), "sample of {family} before its TYPE: {line}");
        }
    }
    for name in typed.keys().filter(|name| name.starts_with("duende_")) {
        assert!(helped.contains(name), "no HELP for {name}");
    }
    samples(text);
}

#[test]
fn the_daemons_work_is_counted_timed_and_summarized() {
    let registry = Registry::new();
    let metrics = DaemonMetrics::registered(&registry);
    metrics.record_request();
    metrics.record_request();
    metrics.record_error();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        metrics.time(async { Ok::<_, ()>(()) }).await.unwrap();
        metrics.time(async { Err::<(), _>("no") }).await.unwrap_err();
    });
    assert_eq!(metrics.summary(), Summary { requests_total: 4, errors_total: 2 });
    let text = registry.render();
    assert_exposition(&text);
    let values = samples(&text);
    assert_eq!(values["duende_requests_total"], 4.0, "{text}");
    assert_eq!(values["duende_errors_total"], 2.0, "{text}");
    assert_eq!(values["duende_request_duration_seconds_count"], 2.0, "{text}");
    assert_eq!(values["duende_request_duration_seconds_bucket{le=\"+Inf\"}"], 2.0, "{text}");
    assert!(text.contains("# TYPE duende_request_duration_seconds histogram\n"), "{text}");
}

#[test]
fn without_a_registry_only_the_totals_are_kept() {
    let metrics = DaemonMetrics::detached();
    metrics.record_request();
    metrics.record_error();
    assert!(metrics.registry().is_none());
    assert_eq!(metrics.summary(), Summary { requests_total: 1, errors_total: 1 });
}

#[test]
fn the_lifecycle_is_read_from_the_daemon_when_rendering() {
    let registry = Registry::new();
    let live = live_with(DaemonMetrics::registered(&registry));
    let text = registry.render();
    assert_exposition(&text);
    let values = samples(&text);
    assert!(values["duende_uptime_seconds"] >= 0.0);
    assert!(values["duende_start_time_seconds"] > 1.6e9, "{text}");
    assert_eq!(values["duende_health_state{state=\"healthy\"}"], 1.0);
    assert_eq!(values["duende_health_state{state=\"unhealthy\"}"], 0.0);
    assert_eq!(values["duende_health_score"], 5.0);
    assert_eq!(values["duende_reloads_total{result=\"accepted\"}"], 0.0);
    assert!(!text.contains("duende_ready_latency_seconds"), "absent before ready: {text}");
    assert!(!text.contains("duende_shutdown_duration_seconds"), "absent before a request: {text}");
    assert!(!text.contains("duende_restarts_total"), "absent until counted: {text}");
    if cfg!(target_os = "linux") {
        assert!(values["duende_resident_memory_bytes"] > 0.0);
        assert!(values["duende_threads"] >= 1.0);
        assert!(values["duende_open_fds"] >= 3.0, "{text}");
        // Nothing is locked in this test process: nothing pinned, no locked address space.
        assert_eq!(values["duende_locked_memory_bytes"], 0.0, "{text}");
        assert_eq!(values["duende_locked_address_space_bytes"], 0.0, "{text}");
    }

    let latency = live.mark_ready();
    live.record_reload(2, None);
    live.record_reload(2, Some("bad".into()));
    live.record_reload(2, Some("worse".into()));
    live.health().set(Health::degraded("slow disk"));
    registry.set_restarts(3);
    let values = samples(&registry.render());
    assert_eq!(values["duende_ready_latency_seconds"], latency.as_secs_f64());
    assert_eq!(values["duende_reloads_total{result=\"accepted\"}"], 1.0);
    assert_eq!(values["duende_reloads_total{result=\"rejected\"}"], 2.0);
    assert_eq!(values["duende_health_state{state=\"healthy\"}"], 0.0);
    assert_eq!(values["duende_health_state{state=\"degraded\"}"], 1.0);
    assert_eq!(values["duende_health_score"], 0.0);
    assert_eq!(values["duende_restarts_total"], 3.0);

    live.health().set(Health::Healthy { score: 2 });
    assert_eq!(samples(&registry.render())["duende_health_score"], 2.0);
    live.shutdown().trigger();
    std::thread::sleep(Duration::from_millis(20));
    let during = samples(&registry.render())["duende_shutdown_duration_seconds"];
    assert!(during >= 0.02, "grows while shutdown runs: {during}");
    live.mark_stopped();
    let stopped = samples(&registry.render())["duende_shutdown_duration_seconds"];
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(samples(&registry.render())["duende_shutdown_duration_seconds"], stopped, "fixed once stopped");
}

#[test]
fn a_registry_outlived_by_nothing_renders_without_a_daemon() {
    let registry = Registry::new();
    let alone = registry.render();
    assert!(!alone.contains("duende_uptime_seconds") && !alone.contains("duende_health"), "{alone}");
    drop(live_with(DaemonMetrics::registered(&registry)));
    let text = registry.render();
    assert_exposition(&text);
    assert!(text.contains("duende_requests_total 0"), "{text}");
}

#[test]
fn the_daemons_own_metrics_land_in_the_registry_through_the_facade() {
    let registry = Registry::new();
    metrics::with_local_recorder(registry.recorder(), || {
        metrics::describe_counter!("jobs_done_total", "Jobs done.");
        metrics::counter!("jobs_done_total", "queue" => "a b\"c").increment(2);
        metrics::gauge!("queue_depth").set(7.5);
        metrics::histogram!("job_seconds").record(0.25);
    });
    let text = registry.render();
    assert_exposition(&text);
    assert!(text.contains("# HELP jobs_done_total Jobs done.\n"), "{text}");
    assert!(text.contains("jobs_done_total{queue=\"a b\\\"c\"} 2\n"), "{text}");
    assert!(text.contains("queue_depth 7.5\n"), "{text}");
    assert!(text.contains("job_seconds_count 1\n"), "{text}");
}

fn get(address: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

fn loopback(port: u16) -> MetricsSettings {
    MetricsSettings { enabled: true, listen: ([127, 0, 0, 1], port).into(), ..MetricsSettings::default() }
}

#[test]
fn the_exporter_serves_metrics_refuses_the_rest_and_stops() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let registry = Registry::new();
    DaemonMetrics::registered(&registry).record_request();
    let exporter = Exporter::bind(&loopback(0), &registry).unwrap();
    let address = exporter.local_addr();
    assert_ne!(address.port(), 0);
    let running = exporter.start(runtime.handle()).unwrap();

    let reply = get(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    let (_, body) = reply.split_once("\r\n\r\n").unwrap();
    assert_exposition(body);
    assert_eq!(samples(body)["duende_requests_total"], 1.0);
    let health = get(address, "GET /healthz HTTP/1.1\r\n\r\n");
    assert!(
        health.starts_with("HTTP/1.1 503 ") && health.ends_with("\r\n\r\nno daemon is attached to these metrics\n")
    );
    assert!(get(address, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(get(address, "PUT /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert!(get(address, "nonsense\r\n\r\n").starts_with("HTTP/1.1 400 "));
    // A head over 8 KiB is answered 431 and closed, every time: a client that sent one gets the
    // whole answer, never just a closed connection.
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    let body = "request head too large: at most 8 KiB\n";
    let too_large = format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for attempt in 0..10 {
        assert_eq!(get(address, &huge), too_large, "attempt {attempt}");
    }

    running.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(address).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting on {address} after stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn healthz_follows_the_attached_daemon() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let registry = Registry::new();
    let live = live_with(DaemonMetrics::registered(&registry));
    let exporter = Exporter::bind(&loopback(0), &registry).unwrap();
    let address = exporter.local_addr();
    let running = exporter.start(runtime.handle()).unwrap();
    let status = |reply: String| reply.split(' ').nth(1).unwrap_or_default().to_owned();
    assert_eq!(status(get(address, "GET /healthz HTTP/1.1\r\n\r\n")), "503", "starting");
    live.mark_ready();
    let ready = get(address, "GET /healthz HTTP/1.1\r\n\r\n");
    assert!(ready.starts_with("HTTP/1.1 200 OK\r\n") && ready.ends_with("\r\n\r\nok\n"), "{ready}");
    live.health().set(Health::unhealthy("disk: gone"));
    let down = get(address, "GET /healthz HTTP/1.1\r\n\r\n");
    assert!(down.starts_with("HTTP/1.1 503 ") && down.ends_with("\r\n\r\nunhealthy: disk: gone\n"), "{down}");
    running.stop();
}

#[test]
fn a_port_in_use_is_refused_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Exporter::bind(&loopback(port), &Registry::new()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MetricsError::Bind { .. }), "{err:?}");
    assert!(text.starts_with(&format!("cannot listen for metrics scrapes on 127.0.0.1:{port} (metrics.listen): ")));
    assert!(text.contains("--set metrics.listen="), "{text}");
}
