//! The control protocol's messages: one JSON object per line each way, every one carrying the
//! protocol version `v`. These types are the protocol's definition; `docs/control-protocol.md`
//! describes them, and a test checks that every example there parses as these types.
//!
//! Version policy: a version number changes only when a request or a reply changes
//! incompatibly (a field removed, renamed or retyped, a meaning changed). Adding an op, a reply
//! field or an error code keeps the version: clients ignore reply fields they do not know and
//! treat an unknown error code as a plain failure. Requests are checked strictly, so an op or a
//! field that a daemon does not know is refused by name instead of silently ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// Every protocol version this build's server answers.
pub const SUPPORTED_VERSIONS: &[u32] = &[VERSION];

/// The longest request line the server reads, in bytes, not counting the newline.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// One request: `{"v":1,"op":"status"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The protocol version the client speaks.
    pub v: u32,
    /// What to do.
    pub op: Op,
}

impl Request {
    /// A request for `op` in this build's protocol version.
    pub fn new(op: Op) -> Request {
        Request { v: VERSION, op }
    }
}

/// The operations of version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Report the live state: [`StatusResult`].
    Status,
    /// Re-read the configuration and wait (bounded) for the outcome: [`ReloadResult`], or the
    /// error `reload-rejected` naming why.
    Reload,
    /// Begin a graceful shutdown: [`StopResult`]. The connection then stays open until the
    /// process exits, so a client can wait for the end by reading to end-of-file.
    Stop,
}

impl Op {
    /// Every op, in the order messages list them.
    pub const ALL: [Op; 3] = [Op::Status, Op::Reload, Op::Stop];

    /// The op's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Op::Status => "status",
            Op::Reload => "reload",
            Op::Stop => "stop",
        }
    }
}

/// One reply. Exactly one of `result` (when `ok`) and `error` (when not) is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response<T> {
    /// The protocol version of the reply.
    pub v: u32,
    /// True when the request was carried out.
    pub ok: bool,
    /// What the op returns, when `ok`.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// Why the request failed, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReply>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Response<T> {
    /// A successful reply.
    pub fn success(result: T) -> Response<T> {
        Response { v: VERSION, ok: true, result: Some(result), error: None }
    }

    /// A failed reply.
    pub fn failure(error: ErrorReply) -> Response<T> {
        Response { v: VERSION, ok: false, result: None, error: Some(error) }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What kind of failure, for programs.
    pub code: ErrorCode,
    /// What went wrong and how to fix it, for people.
    pub message: String,
    /// With `unsupported-version`: the versions the daemon speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_versions: Option<Vec<u32>>,
    /// With `reload-rejected`: the configuration generation that stays in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
}

impl ErrorReply {
    /// An error with only a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
        ErrorReply { code, message: message.into(), supported_versions: None, generation: None }
    }
}

/// The error codes. New codes may be added within a version; a client reads a code it does
/// not know as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The line is not JSON (or is empty, or not UTF-8). The connection stays open.
    Malformed,
    /// The line is JSON but not a request: not an object, `v` or `op` missing or of the wrong
    /// type, or a field a request does not have. The connection stays open.
    InvalidRequest,
    /// `v` names a version this daemon does not speak; `supported_versions` lists those it does.
    UnsupportedVersion,
    /// `op` names no operation of this version.
    UnknownOp,
    /// The line is longer than [`MAX_REQUEST_BYTES`]; the connection is closed.
    TooLarge,
    /// No complete request arrived within the read deadline, or a reload did not finish within
    /// its bound. After a read deadline the connection is closed.
    Timeout,
    /// The daemon already serves as many control connections as it allows; the connection is
    /// closed. Try again shortly.
    Busy,
    /// The peer is neither the daemon's user nor root; the connection is closed.
    PermissionDenied,
    /// The op cannot be carried out now (the daemon is stopping).
    Unavailable,
    /// The new configuration was refused; `message` says why, `generation` is the one kept.
    ReloadRejected,
    /// A code this build does not know (sent by a newer daemon).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// True when the server closes the connection after replying with this code.
    pub fn closes_connection(self) -> bool {
        matches!(self, ErrorCode::TooLarge | ErrorCode::Timeout | ErrorCode::Busy | ErrorCode::PermissionDenied)
    }
}

/// What `status` returns: the running daemon as its runtime sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResult {
    /// The service name.
    pub name: String,
    /// The daemon's version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Where it is in its lifecycle.
    pub state: DaemonState,
    /// True once `init` succeeded and readiness was announced.
    pub ready: bool,
    /// Seconds from start to ready; `null` before ready.
    pub ready_after_seconds: Option<f64>,
    /// Seconds since the runtime started (monotonic clock).
    pub uptime_seconds: f64,
    /// When the runtime started, in seconds since the Unix epoch.
    pub started_at: u64,
    /// The daemon's health.
    pub health: HealthReport,
    /// The configuration generation in effect: 1 at start, one more per accepted reload.
    pub config_generation: u64,
    /// The latest reload attempt; `null` when there was none.
    pub last_reload: Option<LastReload>,
    /// The metrics summary (`requests_total`, `errors_total`, ...), as the runtime's metrics
    /// module reports it; fields may be added.
    pub metrics: Map<String, Value>,
    /// The daemon's locked memory; `null` when none is locked (or the target cannot tell).
    #[serde(default)]
    pub locked_memory: Option<LockedMemory>,
}

/// Memory the daemon holds locked, read from `/proc` when `status` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedMemory {
    /// Bytes pinned: resident in locked mappings (the figure duende reports as locked memory).
    pub pinned_bytes: u64,
    /// `VmLck`: the locked address space, touched or not, what `RLIMIT_MEMLOCK` is charged for.
    pub vm_lck_bytes: u64,
}

/// Where the daemon is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonState {
    /// `init` has not finished.
    Starting,
    /// Ready and not stopping.
    Running,
    /// A shutdown has been requested.
    Stopping,
}

impl DaemonState {
    /// The state's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            DaemonState::Starting => "starting",
            DaemonState::Running => "running",
            DaemonState::Stopping => "stopping",
        }
    }
}

/// The daemon's health as `status` reports it: the worse of what the daemon reported and what
/// its checks found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Healthy, degraded or unhealthy.
    pub state: HealthLevel,
    /// 0 (barely) ... 5 (perfectly) when healthy; 0 otherwise.
    pub score: u8,
    /// What is wrong when degraded or unhealthy; `null` when healthy.
    pub reason: Option<String>,
    /// The latest outcome of each named health check, in the order they were declared.
    #[serde(default)]
    pub checks: Vec<CheckReport>,
}

/// The latest outcome of one named health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// Its health as it counts now.
    pub state: HealthLevel,
    /// Its score (0 when not healthy).
    pub score: u8,
    /// What it found wrong; `null` when healthy.
    pub reason: Option<String>,
    /// Failures in a row.
    pub failures: u32,
}

/// The three health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthLevel {
    /// Working.
    Healthy,
    /// Working, with a problem worth knowing about.
    Degraded,
    /// Not working.
    Unhealthy,
}

impl HealthLevel {
    /// The level's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            HealthLevel::Healthy => "healthy",
            HealthLevel::Degraded => "degraded",
            HealthLevel::Unhealthy => "unhealthy",
        }
    }
}

/// The latest reload attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReload {
    /// Whether the new configuration was taken.
    pub outcome: ReloadOutcome,
    /// The configuration generation in effect after it.
    pub generation: u64,
    /// Why it was rejected; `null` when accepted.
    pub reason: Option<String>,
    /// Reloads attempted since start.
    pub attempts: u64,
    /// Reloads accepted since start.
    pub accepted: u64,
}

/// Whether a reload took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReloadOutcome {
    /// The new configuration is in effect.
    Accepted,
    /// The new configuration was refused; the previous one stays.
    Rejected,
}

/// What `reload` returns when the new configuration was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadResult {
    /// The configuration generation now in effect.
    pub generation: u64,
}

/// What `stop` returns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StopResult {
    /// The process that is stopping.
    pub pid: u32,
    /// True when a shutdown was already under way (this request changed nothing).
    pub already_stopping: bool,
    /// How long the daemon may take to stop before it is ended with exit status 75.
    pub shutdown_timeout_seconds: f64,
}

/// Reads one request line (without its newline). Every way a line can fail to be a request of
/// a supported version has its own [`ErrorCode`] and a message that says what to send instead.
/// The length limit is the reader's business: see [`MAX_REQUEST_BYTES`].
pub fn parse_request(line: &[u8]) -> Result<Request, ErrorReply> {
    let example = r#"{"v":1,"op":"status"}"#;
    if line.trim_ascii().is_empty() {
        return Err(ErrorReply::new(
            ErrorCode::Malformed,
            format!("empty request; send one JSON object per line, such as {example}"),
        ));
    }
    let value: Value = serde_json::from_slice(line).map_err(|err| {
        ErrorReply::new(ErrorCode::Malformed, format!("the request is not JSON ({err}); send a line such as {example}"))
    })?;
    let Value::Object(fields) = value else {
        return Err(ErrorReply::new(
            ErrorCode::InvalidRequest,
            format!("a request is a JSON object such as {example}, not {}", kind(&value)),
        ));
    };
    match fields.get("v") {
        None => {
            return Err(ErrorReply::new(
                ErrorCode::InvalidRequest,
                format!("the request has no `v` (the protocol version); this daemon speaks {}", versions()),
            ));
        }
        Some(Value::Number(number)) if number.is_u64() || number.is_i64() => {
            let supported = number.as_u64().is_some_and(|v| SUPPORTED_VERSIONS.iter().any(|&s| u64::from(s) == v));
            if !supported {
                return Err(ErrorReply {
                    supported_versions: Some(SUPPORTED_VERSIONS.to_vec()),
                    ..ErrorReply::new(
                        ErrorCode::UnsupportedVersion,
                        format!("protocol version {number} is not supported; this daemon speaks {}", versions()),
                    )
                });
            }
        }
        Some(other) => {
            return Err(ErrorReply::new(
                ErrorCode::InvalidRequest,
                format!("`v` must be a whole number (the protocol version, {}), not {}", versions(), kind(other)),
            ));
        }
    }
    match fields.get("op") {
        None => {
            return Err(ErrorReply::new(
                ErrorCode::InvalidRequest,
                format!("the request has no `op`; expected one of {}", op_names()),
            ));
        }
        Some(Value::String(name)) => {
            if !Op::ALL.iter().any(|op| op.name() == name) {
                let shown: String = name.chars().take(64).collect();
                return Err(ErrorReply::new(
                    ErrorCode::UnknownOp,
                    format!("unknown op `{}`; expected one of {}", shown.escape_debug(), op_names()),
                ));
            }
        }
        Some(other) => {
            return Err(ErrorReply::new(
                ErrorCode::InvalidRequest,
                format!("`op` must be a string, one of {}, not {}", op_names(), kind(other)),
            ));
        }
    }
    if let Some(unknown) = fields.keys().find(|key| !matches!(key.as_str(), "v" | "op")) {
        let shown: String = unknown.chars().take(64).collect();
        return Err(ErrorReply::new(
            ErrorCode::InvalidRequest,
            format!("unknown field `{}`; a version {VERSION} request has only `v` and `op`", shown.escape_debug()),
        ));
    }
    // The typed request is the definition; the checks above only name what is wrong.
    serde_json::from_value(Value::Object(fields))
        .map_err(|err| ErrorReply::new(ErrorCode::InvalidRequest, format!("not a valid request: {err}")))
}

/// What a daemon tells its host unasked, where the control channel is its standard input and
/// output (a WASI module on WOS): the sd_notify messages of that platform, as JSON.
/// `{"v":1,"event":"ready","status":"running"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The protocol version.
    pub v: u32,
    /// What happened.
    pub event: NoticeEvent,
    /// The daemon's status line, when the event has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// With `reloaded`: whether the new configuration was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
}

impl Notice {
    /// A notice of `event` with an optional status line.
    pub fn new(event: NoticeEvent, status: Option<&str>) -> Notice {
        Notice { v: VERSION, event, status: status.map(str::to_owned), accepted: None }
    }
}

/// The events a [`Notice`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeEvent {
    /// `init` succeeded: the daemon serves (sd_notify's `READY=1`).
    Ready,
    /// A configuration reload began (`RELOADING=1`).
    Reloading,
    /// A reload is over, taken or refused (`accepted`); the daemon serves again.
    Reloaded,
    /// A graceful shutdown began (`STOPPING=1`).
    Stopping,
    /// A new status line (`STATUS=`): the daemon's health, why `init` failed.
    Status,
    /// The daemon is alive (`WATCHDOG=1`).
    Watchdog,
}

/// A notice as one line, newline included.
pub fn encode_notice(notice: &Notice) -> Vec<u8> {
    // A notice holds only strings, booleans and numbers: it always serialises.
    let mut line = serde_json::to_vec(notice).unwrap_or_else(|_| br#"{"v":1,"event":"status"}"#.to_vec());
    line.push(b'\n');
    line
}

/// A reply as one line, newline included.
pub fn encode<T: Serialize>(response: &Response<T>) -> Vec<u8> {
    match serde_json::to_vec(response) {
        Ok(mut line) => {
            line.push(b'\n');
            line
        }
        // Only a failing `Serialize` impl gets here; none of the protocol's types has one.
        Err(err) => {
            let failure: Response<()> =
                Response::failure(ErrorReply::new(ErrorCode::Unavailable, format!("cannot encode the reply: {err}")));
            let mut line = serde_json::to_vec(&failure).unwrap_or_default();
            line.push(b'\n');
            line
        }
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(number) => format!("the number {number}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn versions() -> String {
    let list: Vec<String> = SUPPORTED_VERSIONS.iter().map(u32::to_string).collect();
    format!("version {}", list.join(", "))
}

fn op_names() -> String {
    let names: Vec<String> = Op::ALL.iter().map(|op| format!("`{}`", op.name())).collect();
    names.join(", ")
}
