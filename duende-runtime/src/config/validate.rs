//! The rules a typed configuration must follow beyond its types, each with the words that say
//! what is allowed (also used when a value has the wrong type).

use std::path::{Component, Path};
use std::time::Duration;

use super::layers::KeyPath;
use super::settings::{CAPABILITIES, Hardening, MetricsSettings, Settings};

/// One problem a daemon found in its own `[app]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted key relative to `[app]`, such as `interval_ms`.
    pub key: String,
    /// What is wrong and what is allowed, such as "must be between 10 and 60000".
    pub message: String,
}

impl Violation {
    /// A problem with `key` (relative to `[app]`).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Violation { key: key.into(), message: message.into() }
    }
}

const MIB: u64 = 1024 * 1024;
const HOUR: Duration = Duration::from_secs(60 * 60);
const DAY: Duration = Duration::from_secs(24 * HOUR.as_secs());

/// What each built-in key allows, completing "must be ...".
const ALLOWED: &[(&str, &str)] = &[
    ("name", "a service name: lowercase letters, digits, `-` and `_`, starting with a letter, at most 64 characters"),
    ("version", "one line of text"),
    ("description", "one line of text"),
    ("binary_path", "an absolute path"),
    ("args", "an array of strings without NUL characters"),
    ("env", "a table of environment variables, NAME = \"value\""),
    ("user", "a user name: not empty, without spaces or control characters"),
    ("group", "a group name: not empty, without spaces or control characters"),
    ("working_dir", "an absolute path"),
    ("log_level", "a level (trace, debug, info, warn, error, off) or directives such as \"warn,my_crate=debug\""),
    ("resources", "a table"),
    ("resources.memory_bytes", "a number of bytes of at least 1048576 (1 MiB)"),
    ("resources.memory_swap_bytes", "a number of bytes (0 allows no swap)"),
    ("resources.cpu_quota_percent", "a finite number greater than 0 and at most 102400 (percent of one CPU)"),
    ("resources.cpu_shares", "an integer between 1 and 10000"),
    ("resources.io_read_bps", "a number of bytes per second of at least 1"),
    ("resources.io_write_bps", "a number of bytes per second of at least 1"),
    ("resources.pids_max", "an integer of at least 1"),
    ("resources.open_files_max", "an integer of at least 1"),
    ("resources.lock_memory", "true or false"),
    ("resources.lock_memory_required", "true or false"),
    ("resources.trim_after_ready", "true or false"),
    ("resources.worker_threads", "an integer between 1 and 1024"),
    ("resources.thread_stack_bytes", "a number of bytes between 65536 (64 KiB) and 1073741824 (1 GiB)"),
    ("hardening", "a table"),
    ("hardening.enabled", "true or false"),
    ("hardening.no_new_privileges", "true or false"),
    ("hardening.protect_system", "one of `strict`, `full`, `yes`, `no`"),
    ("hardening.protect_home", "one of `yes`, `read-only`, `tmpfs`, `no`"),
    ("hardening.private_tmp", "true or false"),
    ("hardening.private_devices", "true or false"),
    ("hardening.memory_deny_write_execute", "true or false"),
    ("hardening.capabilities", "an array of capability names such as \"CAP_NET_BIND_SERVICE\""),
    ("hardening.read_write_paths", "an array of absolute paths without `..` or control characters"),
    ("health_check", "a table"),
    ("health_check.enabled", "true or false"),
    ("health_check.interval", "a duration greater than 0, such as \"30s\""),
    ("health_check.timeout", "a duration greater than 0, such as \"10s\""),
    ("health_check.retries", "an integer between 1 and 100"),
    ("metrics", "a table"),
    ("metrics.enabled", "true or false"),
    (
        "metrics.listen",
        "an IP address and port such as \"127.0.0.1:9464\" (port 0 picks a free one), on loopback unless \
         metrics.allow_remote = true",
    ),
    ("metrics.allow_remote", "true or false"),
    ("metrics.upkeep_interval", "a duration greater than 0 and at most 1h, such as \"5s\""),
    ("restart", "one of `never`, `on-failure`, `always`, `unless-stopped`"),
    ("backoff", "a table"),
    ("backoff.initial", "a duration greater than 0, such as \"1s\""),
    ("backoff.max", "a duration of at least backoff.initial, such as \"60s\""),
    ("backoff.multiplier", "a finite number between 1.0 and 10.0"),
    ("backoff.jitter", "a finite number between 0.0 and 1.0"),
    ("shutdown_timeout", "a duration greater than 0 and at most 24h, such as \"30s\""),
    ("app", "a table"),
];

/// Every built-in key in the order of [`Settings`]: [`ALLOWED`] with the `[platform.*]` keys of
/// [`super::platforms::ALLOWED`] before `app`.
fn all_allowed() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    let (before, app) = ALLOWED.split_at(ALLOWED.len() - 1);
    before.iter().chain(super::platforms::ALLOWED).chain(app)
}

/// Where problems with the key written `key` are listed: keys in the order of [`Settings`], then
/// keys the settings do not have.
pub(super) fn rank(key: &str) -> usize {
    let top = key.split(['.', '[']).next().unwrap_or(key);
    let position = |wanted: &str| all_allowed().position(|(name, _)| *name == wanted);
    position(key).or_else(|| position(top)).unwrap_or(ALLOWED.len() + super::platforms::ALLOWED.len())
}

/// What the built-in key `key` allows, such as "an integer between 1 and 10000".
pub(super) fn allowed(key: &str) -> Option<&'static str> {
    all_allowed().find(|(name, _)| *name == key).map(|(_, allowed)| *allowed)
}

/// One broken rule: the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub(super) path: KeyPath,
    pub(super) message: String,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    /// Unless `ok`, `key` must be what [`ALLOWED`] says.
    fn rule(&mut self, key: &str, ok: bool) {
        if !ok {
            self.fail(split(key), format!("must be {}", allowed(key).unwrap_or("valid")));
        }
    }

    fn fail(&mut self, path: KeyPath, message: String) {
        self.0.push(Finding { path, message });
    }
}

fn split(key: &str) -> KeyPath {
    key.split('.').map(str::to_owned).collect()
}

fn one_line(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != '\t')
}

fn account_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn between<T: PartialOrd>(value: Option<T>, min: T, max: T) -> bool {
    value.is_none_or(|value| min <= value && value <= max)
}

fn finite_between(value: f64, min: f64, max: f64) -> bool {
    value.is_finite() && min <= value && value <= max
}

fn check_hardening(hardening: &Hardening, found: &mut Findings) {
    for (index, name) in hardening.capabilities.iter().enumerate() {
        if CAPABILITIES.contains(&name.as_str()) {
            continue;
        }
        let upper = name.to_ascii_uppercase();
        let prefixed = format!("CAP_{upper}");
        let close = [upper, prefixed].into_iter().find(|candidate| CAPABILITIES.contains(&candidate.as_str()));
        let message = match close {
            Some(close) => format!("is not a capability name; did you mean `{close}`?"),
            None => {
                "is not a capability name: expected one such as `CAP_NET_BIND_SERVICE` (see capabilities(7))".to_owned()
            }
        };
        found.fail(vec!["hardening".into(), "capabilities".into(), index.to_string()], message);
    }
    for (index, path) in hardening.read_write_paths.iter().enumerate() {
        if !sandbox_path(path) {
            let message = "must be an absolute path without `..` or control characters".to_owned();
            found.fail(vec!["hardening".into(), "read_write_paths".into(), index.to_string()], message);
        }
    }
}

fn check_metrics(metrics: &MetricsSettings, found: &mut Findings) {
    if metrics.enabled && !cfg!(feature = "prometheus") {
        let message = "is true, but this binary was built without duende's `prometheus` feature, which serves the \
                       metrics; set metrics.enabled = false, or enable the feature in the daemon's Cargo.toml: \
                       duende = { version = \"...\", features = [\"prometheus\"] }";
        found.fail(split("metrics.enabled"), message.to_owned());
    }
    let ip = metrics.listen.ip().to_canonical();
    if !ip.is_loopback() && !metrics.allow_remote {
        let message = format!(
            "is not a loopback address, and the metrics would be readable by anyone who can reach it; listen on \
             \"127.0.0.1:{port}\" or \"[::1]:{port}\", or set metrics.allow_remote = true to expose them",
            port = metrics.listen.port()
        );
        found.fail(split("metrics.listen"), message);
    }
    let upkeep = metrics.upkeep_interval;
    found.rule("metrics.upkeep_interval", !upkeep.is_zero() && upkeep <= HOUR);
}

/// An absolute path systemd takes in a path list: no `..`, nothing it could not parse back.
fn sandbox_path(path: &Path) -> bool {
    let text = path.to_string_lossy();
    path.is_absolute()
        && !path.components().any(|part| part == Component::ParentDir)
        && !text.chars().any(char::is_control)
}

/// Every broken rule in `settings`, then the daemon's own findings in `[app]`, in key order.
pub(super) fn check<A>(settings: &Settings<A>, validate_app: fn(&A) -> Result<(), Vec<Violation>>) -> Vec<Finding> {
    let mut found = Findings::default();
    let s = settings;
    found.rule("name", crate::name::validate(&s.name).is_ok());
    found.rule("version", one_line(&s.version));
    found.rule("description", one_line(&s.description));
    found.rule("binary_path", s.binary_path.as_deref().is_none_or(Path::is_absolute));
    for (index, arg) in s.args.iter().enumerate() {
        if arg.contains('\0') {
            found.fail(vec!["args".into(), index.to_string()], "must not contain a NUL character".into());
        }
    }
    for (name, value) in &s.env {
        let path = vec!["env".to_owned(), name.clone()];
        if name.is_empty() || name.contains(['=', '\0']) {
            let message = "is not a valid environment variable name: it must be non-empty, without `=` or NUL";
            found.fail(path, message.into());
        } else if value.contains('\0') {
            found.fail(path, "must not contain a NUL character".into());
        }
    }
    found.rule("user", s.user.as_deref().is_none_or(account_name));
    found.rule("group", s.group.as_deref().is_none_or(account_name));
    found.rule("working_dir", s.working_dir.as_deref().is_none_or(Path::is_absolute));
    if let Err(err) = crate::logging::parse_directives(&s.log_level) {
        found.fail(split("log_level"), err);
    }

    let r = &s.resources;
    found.rule("resources.memory_bytes", r.memory_bytes.is_none_or(|bytes| bytes >= MIB));
    let quota = r.cpu_quota_percent;
    found.rule("resources.cpu_quota_percent", quota.is_none_or(|q| q.is_finite() && q > 0.0 && q <= 102_400.0));
    found.rule("resources.cpu_shares", between(r.cpu_shares, 1, 10_000));
    found.rule("resources.io_read_bps", r.io_read_bps.is_none_or(|bps| bps >= 1));
    found.rule("resources.io_write_bps", r.io_write_bps.is_none_or(|bps| bps >= 1));
    found.rule("resources.pids_max", r.pids_max.is_none_or(|n| n >= 1));
    found.rule("resources.open_files_max", r.open_files_max.is_none_or(|n| n >= 1));
    found.rule("resources.worker_threads", between(r.worker_threads, 1, 1024));
    found.rule("resources.thread_stack_bytes", between(r.thread_stack_bytes, 64 << 10, 1 << 30));

    check_hardening(&s.hardening, &mut found);

    let h = &s.health_check;
    found.rule("health_check.interval", !h.interval.is_zero());
    found.rule("health_check.timeout", !h.timeout.is_zero());
    found.rule("health_check.retries", (1..=100).contains(&h.retries));

    check_metrics(&s.metrics, &mut found);

    let b = &s.backoff;
    found.rule("backoff.initial", !b.initial.is_zero());
    if b.max < b.initial {
        let initial = humantime::format_duration(b.initial);
        found.fail(split("backoff.max"), format!("must be at least backoff.initial ({initial})"));
    }
    found.rule("backoff.multiplier", finite_between(b.multiplier, 1.0, 10.0));
    found.rule("backoff.jitter", finite_between(b.jitter, 0.0, 1.0));
    found.rule("shutdown_timeout", !s.shutdown_timeout.is_zero() && s.shutdown_timeout <= DAY);

    super::platforms::check(&s.platform, &mut |key, ok| found.rule(key, ok));

    if let Err(violations) = validate_app(&s.app) {
        for violation in violations {
            let mut path = vec!["app".to_owned()];
            path.extend(violation.key.split('.').filter(|segment| !segment.is_empty()).map(str::to_owned));
            found.fail(path, violation.message);
        }
    }
    found.0
}
