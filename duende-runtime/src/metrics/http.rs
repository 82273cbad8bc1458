//! The little HTTP/1.x the scrape endpoint speaks: find the end of a request head, route it, and
//! write a complete response. Pure functions over bytes, so every answer is unit-tested; the
//! exporter does the I/O and the deadlines.
//!
//! Two paths: `/metrics`, and `/healthz` for probes such as a Kubernetes kubelet's: `200 ok` while
//! the daemon serves (ready, not stopping, not unhealthy; degraded still serves), `503` with the
//! reason otherwise.

/// Largest request head accepted; a longer one is answered 431 and the connection closed.
pub(super) const MAX_HEAD: usize = 8 * 1024;

/// The content type of the Prometheus text exposition format.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// `GET /metrics` (`head`: `HEAD /metrics`, the same without a body).
    Metrics {
        /// Answer with headers only.
        head: bool,
    },
    /// `GET /healthz` (`head`: `HEAD /healthz`).
    Health {
        /// Answer with headers only.
        head: bool,
    },
    /// Anything else: this status, with a one-line text body saying what to do instead.
    Refuse(Status),
}

/// A status the endpoint answers with besides 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// 400: not an HTTP/1.x request line.
    BadRequest,
    /// 404: a path other than `/metrics` and `/healthz`.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 408: the request head did not arrive in time.
    RequestTimeout,
    /// 431: the request head is larger than [`MAX_HEAD`].
    HeadTooLarge,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Status::BadRequest => "bad request: expected an HTTP/1.x request such as `GET /metrics HTTP/1.1`\n",
            Status::NotFound => "not found: the metrics are at /metrics, the health at /healthz\n",
            Status::MethodNotAllowed => "method not allowed: use GET (or HEAD) /metrics or /healthz\n",
            Status::RequestTimeout => "request timeout: the request head did not arrive in time\n",
            Status::HeadTooLarge => "request head too large: at most 8 KiB\n",
        }
    }
}

/// The length of the request head in `buffer` (through its blank line), once it is complete.
pub(super) fn head_end(buffer: &[u8]) -> Option<usize> {
    let crlf = buffer.windows(4).position(|window| window == b"\r\n\r\n").map(|at| at + 4);
    let lf = buffer.windows(2).position(|window| window == b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Routes a complete request head by its request line.
pub(super) fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&byte| byte == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else { return Route::Refuse(Status::BadRequest) };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Refuse(Status::BadRequest);
    };
    let token = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_alphabetic());
    if !token(method) || !target.starts_with('/') || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Route::Refuse(Status::BadRequest);
    }
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics { head: false },
        ("HEAD", "/metrics") => Route::Metrics { head: true },
        ("GET", "/healthz") => Route::Health { head: false },
        ("HEAD", "/healthz") => Route::Health { head: true },
        ("GET" | "HEAD", _) => Route::Refuse(Status::NotFound),
        _ => Route::Refuse(Status::MethodNotAllowed),
    }
}

/// A whole `200 OK` response carrying the metrics; the connection closes after it.
pub(super) fn metrics_response(body: &str, head_only: bool) -> Vec<u8> {
    response("200 OK", CONTENT_TYPE, &[], body.as_bytes(), head_only)
}

/// A whole `/healthz` response: `200 ok` when the daemon serves, `503` with the reason why not.
pub(super) fn health_response(serving: &Result<(), String>, head_only: bool) -> Vec<u8> {
    let content_type = "text/plain; charset=utf-8";
    match serving {
        Ok(()) => response("200 OK", content_type, &[], b"ok\n", head_only),
        Err(reason) => {
            response("503 Service Unavailable", content_type, &[], format!("{reason}\n").as_bytes(), head_only)
        }
    }
}

/// A whole response refusing a request; the connection closes after it.
pub(super) fn refusal(status: Status) -> Vec<u8> {
    let extra: &[(&str, &str)] = if status == Status::MethodNotAllowed { &[("Allow", "GET, HEAD")] } else { &[] };
    response(status.line(), "text/plain; charset=utf-8", extra, status.body().as_bytes(), false)
}

fn response(status: &str, content_type: &str, extra: &[(&str, &str)], body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b""), None);
    }

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"), Route::Metrics { head: false });
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics { head: false });
        assert_eq!(route(b"HEAD /metrics HTTP/1.1\r\n\r\n"), Route::Metrics { head: true });
        assert_eq!(route(b"GET /healthz HTTP/1.1\r\n\r\n"), Route::Health { head: false });
        assert_eq!(route(b"HEAD /healthz?verbose HTTP/1.0\r\n\r\n"), Route::Health { head: true });
        assert_eq!(route(b"POST /healthz HTTP/1.1\r\n\r\n"), Route::Refuse(Status::MethodNotAllowed));
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Refuse(Status::NotFound));
        assert_eq!(route(b"GET /metrics/x HTTP/1.1\r\n\r\n"), Route::Refuse(Status::NotFound));
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::Refuse(Status::MethodNotAllowed));
        assert_eq!(route(b"DELETE /metrics HTTP/1.1\r\n\r\n"), Route::Refuse(Status::MethodNotAllowed));
    }

    #[test]
    fn health_answers_200_while_serving_and_503_with_the_reason_otherwise() {
        let ok = String::from_utf8(health_response(&Ok(()), false)).unwrap();
        assert!(
            ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\nok\n")
        );
        let down = String::from_utf8(health_response(&Err("unhealthy: disk: gone".into()), false)).unwrap();
        assert!(down.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{down}");
        assert!(down.ends_with("\r\n\r\nunhealthy: disk: gone\n"), "{down}");
        let head = String::from_utf8(health_response(&Err("stopping".into()), true)).unwrap();
        assert!(head.starts_with("HTTP/1.1 503 ") && head.ends_with("Content-Length: 9\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn anything_that_is_not_an_http1_request_line_is_a_bad_request() {
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET /metrics\r\n\r\n",
            b"GET /metrics HTTP/2.0\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n\r\n",
            b"G\xffT /metrics HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
        ] {
            assert_eq!(route(bad), Route::Refuse(Status::BadRequest), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn responses_are_complete_and_close_the_connection() {
        let ok = String::from_utf8(metrics_response("a 1\n", false)).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 4\r\nConnection: close\r\n\r\na 1\n"), "{ok}");
        let head = String::from_utf8(metrics_response("a 1\n", true)).unwrap();
        assert!(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"), "{head}");
        let refused = String::from_utf8(refusal(Status::MethodNotAllowed)).unwrap();
        assert!(refused.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && refused.contains("Allow: GET, HEAD\r\n"));
        let missing = String::from_utf8(refusal(Status::NotFound)).unwrap();
        let body = "not found: the metrics are at /metrics, the health at /healthz\n";
        assert!(missing.ends_with(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())));
    }
}
