use std::io::Cursor;

use super::*;

fn split_all(input: &[u8], chunk: usize) -> (String, Vec<String>) {
    /// Hands out `chunk` bytes at a time, as a pipe may.
    struct Trickle(Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }
    let mut out = Vec::new();
    let mut records = Vec::new();
    split(Trickle(Cursor::new(input.to_vec()), chunk), &mut out, |line| {
        records.push(String::from_utf8_lossy(line).into_owned());
    });
    (String::from_utf8_lossy(&out).into_owned(), records)
}

#[test]
fn output_and_channel_lines_part_at_the_record_separator_whatever_the_chunks() {
    let input = b"greeting is hello\n\x1e{\"v\":1,\"event\":\"ready\",\"status\":\"running\"}\nhalf a li\x1e{\"v\":1,\"ok\":true}\nrest\n\x1e{\"v\":1,\"event\":\"stopping\"}";
    for chunk in [1, 2, 3, 7, 4096] {
        let (out, records) = split_all(input, chunk);
        assert_eq!(out, "greeting is hello\nhalf a li\nrest\n", "chunk {chunk}");
        assert_eq!(
            records,
            [r#"{"v":1,"event":"ready","status":"running"}"#, r#"{"v":1,"ok":true}"#, r#"{"v":1,"event":"stopping"}"#],
            "chunk {chunk}"
        );
    }
}

#[test]
fn lines_are_notices_or_replies() {
    let ready = classify(br#"{"v":1,"event":"reloaded","status":"running","accepted":false}"#).unwrap();
    assert_eq!(
        ready,
        Record::Notice(Notice {
            v: 1,
            event: NoticeEvent::Reloaded,
            status: Some("running".into()),
            accepted: Some(false)
        })
    );
    assert_eq!(
        classify(b"{\"v\":1,\"ok\":true,\"result\":{\"generation\":2}}\r").unwrap(),
        Record::Reply(b"{\"v\":1,\"ok\":true,\"result\":{\"generation\":2}}\n".to_vec())
    );
    assert!(classify(b"not json").unwrap_err().contains("not JSON"));
    assert!(classify(br#"{"v":1,"event":"exploded"}"#).unwrap_err().contains("unknown notice"));
}

#[test]
fn notices_become_the_sd_notify_messages_of_the_native_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let notifier = Notifier::from_socket_var(path.to_str()).unwrap();
    let said = |notice: Notice| {
        relay(&notifier, &notice);
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let notice = |event, status: Option<&str>| Notice::new(event, status);
    assert_eq!(said(notice(NoticeEvent::Ready, Some("running"))), "READY=1\nSTATUS=running");
    assert!(said(notice(NoticeEvent::Reloading, None)).starts_with("RELOADING=1\nMONOTONIC_USEC="));
    let rejected = Notice { accepted: Some(false), ..notice(NoticeEvent::Reloaded, Some("kept generation 1")) };
    assert_eq!(said(rejected), "READY=1\nSTATUS=kept generation 1\nX_DUENDE_RELOAD=rejected");
    assert_eq!(said(notice(NoticeEvent::Stopping, Some("stopping"))), "STOPPING=1\nSTATUS=stopping");
    assert_eq!(said(notice(NoticeEvent::Status, Some("init failed"))), "STATUS=init failed");
    assert_eq!(said(notice(NoticeEvent::Watchdog, None)), "WATCHDOG=1");
}

/// A channel whose "module" is `cat`-like: a thread that answers each request line with `reply`
/// after `delay`.
fn channel_with(delay: Duration) -> (Arc<Channel>, std::process::Child) {
    let mut child = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let (sender, replies) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            thread::sleep(delay);
            let line = line.unwrap();
            let _ = sender.send(format!("{{\"echo\":{line}}}\n").into_bytes());
        }
    });
    (Arc::new(Channel::new(stdin, replies)), child)
}

#[test]
fn each_request_gets_its_own_reply_even_after_one_gave_up() {
    let (channel, mut child) = channel_with(Duration::from_millis(300));
    let late = String::from_utf8(channel.ask(br#"{"n":1}"#, Duration::from_millis(50))).unwrap();
    assert!(late.contains(r#""code":"timeout""#), "{late}");
    // The late reply to n=1 arrives first and is dropped: n=2 gets its own.
    let second = String::from_utf8(channel.ask(br#"{"n":2}"#, Duration::from_secs(5))).unwrap();
    assert_eq!(second, "{\"echo\":{\"n\":2}}\n");
    channel.close();
    let closed = String::from_utf8(channel.ask(br#"{"n":3}"#, Duration::from_secs(1))).unwrap();
    assert!(closed.contains(r#""code":"unavailable""#), "{closed}");
    child.wait().unwrap();
}
