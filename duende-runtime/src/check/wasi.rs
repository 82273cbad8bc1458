//! `check` inside a WASI module (WOS): what the module cannot do, and what it does instead. Each
//! missing facility is a warning with its substitute, so `check` says exactly what is degraded;
//! memory locking is judged with the rest of the memory-locking section (a requirement there is a
//! problem, exit 71).

use super::{Facts, Findings, Mark};

/// Adds the WASI section and the module's channels (in place of the socket and sd_notify lines).
pub(super) fn report(facts: &Facts, findings: &mut Findings) {
    const SECTION: &str = "WASI (WOS)";
    findings.add(
        SECTION,
        Mark::Warn,
        "no signals: SIGTERM, SIGHUP and SIGUSR1/2 never reach a WASI module",
        Some(
            "stop, reload and status go to the daemon as control-protocol lines on its standard input \
             (`{\"v\":1,\"op\":\"stop\"}`); closing standard input stops it too"
                .to_owned(),
        ),
    );
    findings.add(
        SECTION,
        Mark::Warn,
        "no threads: the daemon, its health checks, the control channel and the shutdown deadline share one \
         thread, so a daemon that blocks it holds them all up",
        Some("await instead of blocking in `run`; the host must end a module that never yields".to_owned()),
    );
    findings.add(
        SECTION,
        Mark::Warn,
        "no service manager inside the module: `install`, `start`, `stop`, `status` and `logs` exit 69 here",
        Some("run them from the host build of this daemon".to_owned()),
    );
    findings.add(
        SECTION,
        Mark::Ok,
        "control channel: standard input (requests) and standard output (replies and notices, each line after an \
         RS byte, 0x1E); readiness is the `ready` notice",
        None,
    );
    let Ok(config) = &facts.config else { return };
    match &config.metrics {
        None => findings.add(SECTION, Mark::Ok, "metrics exporter: off ([metrics] enabled = false)", None),
        Some((listen, _)) => findings.add(
            SECTION,
            Mark::Warn,
            format!(
                "metrics exporter: a WASI module cannot listen, so `{listen}` is not served; the registry still \
                 records and `status` reports the totals"
            ),
            Some("set `metrics.enabled = false` in the module's configuration, or scrape the native build".to_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::healthy;
    use super::super::{ConfigFacts, Exit, report as judge};

    #[test]
    fn a_wasi_module_is_told_what_it_lacks_and_passes_with_warnings() {
        let facts = super::Facts { wasi: true, control: None, notify: None, ..healthy() };
        let report = judge("demo", &facts);
        assert_eq!(report.exit, Exit::Success, "{}", report.render("demo"));
        let text = report.render("demo");
        for needle in
            ["no signals", "no threads", "no service manager inside the module", "control channel: standard input"]
        {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        assert!(!text.contains("control socket"), "no socket line in a WASI module:\n{text}");
        assert!(!text.contains("NOTIFY_SOCKET"), "no sd_notify line in a WASI module:\n{text}");

        let listen = "127.0.0.1:9464".parse().unwrap();
        let metrics = ConfigFacts { metrics: Some((listen, Err("unsupported".to_owned()))), ..ConfigFacts::default() };
        let report = judge("demo", &super::Facts { config: Ok(metrics), ..facts });
        assert_eq!(report.exit, Exit::Success, "a missing listener degrades, it does not fail");
        assert!(report.render("demo").contains("a WASI module cannot listen, so `127.0.0.1:9464` is not served"));
    }
}
