//! The guest's console on the host: QEMU's standard output, copied line by line to the runner's
//! own standard output, which is wherever the host's manager keeps the daemon's output (the
//! journal, the supervisor's rotated log file). The serial console is a terminal to the guest,
//! so its lines end in `\r\n` and the daemon colours its log; both are taken out on the way
//! (journald stores a line holding control characters as a binary blob, and `logs` should show
//! what a daemon on the host would have written).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::thread;

/// The longest console line passed on whole; longer ones are split at this length.
const MAX_LINE: usize = 16 * 1024;

/// Copies `from` to `to` on a thread of its own, line by line and [`clean`], until `from` ends;
/// `None` (said on standard error) when the thread cannot start.
pub(super) fn copy(
    from: impl Read + Send + 'static,
    to: impl Write + Send + 'static,
) -> Option<thread::JoinHandle<()>> {
    let copier = move || {
        let mut reader = BufReader::new(from);
        let mut to = to;
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    let mut cleaned = clean(&line);
                    cleaned.push(b'\n');
                    if to.write_all(&cleaned).and_then(|()| to.flush()).is_err() {
                        // Nobody reads the runner's output: keep draining QEMU's, so it never
                        // blocks on a full pipe.
                        let _ = io::copy(&mut reader, &mut io::sink());
                        return;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    };
    thread::Builder::new()
        .name("console".into())
        .spawn(copier)
        .map_err(|err| eprintln!("cannot start the runner's console thread ({err}); the guest's console is not shown"))
        .ok()
}

/// `line` without its line ending, carriage returns, terminal escape sequences (CSI `ESC [ ...
/// final`, and any other `ESC x` pair) and other control characters but tabs.
pub(super) fn clean(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter().copied();
    while let Some(byte) = bytes.next() {
        match byte {
            0x1b => {
                // CSI: parameters and intermediates up to a final byte in 0x40..=0x7e.
                if bytes.next() == Some(b'[') {
                    let _ = bytes.by_ref().find(|next| (0x40..=0x7e).contains(next));
                }
            }
            b'\t' => out.push(byte),
            0x00..=0x1f | 0x7f => {}
            _ => out.push(byte),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn line_endings_colours_and_control_characters_go() {
        assert_eq!(clean(b"probe: ready\r\n"), b"probe: ready");
        assert_eq!(
            clean(b"\x1b[2m2026-12-04T16:00:00Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mduende\x1b[0m: ready\r\n"),
            b"2026-12-04T16:00:00Z  INFO duende: ready"
        );
        assert_eq!(clean(b"a\tb\x07c\x1b7d\x7f\n"), b"a\tbcd");
        assert_eq!(clean("héllo ✓\r\n".as_bytes()), "héllo ✓".as_bytes());
        assert_eq!(clean(b"\x1b["), b"", "an escape cut off at the end of a line");
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_copied_cleaned_and_a_long_one_is_split() {
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("one\r\n\x1b[1mtwo\x1b[0m\r\n{long}\nlast without a newline");
        let out = Shared::default();
        copy(io::Cursor::new(input.into_bytes()), out.clone()).unwrap().join().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..2], ["one", "two"]);
        assert_eq!(lines[2].len(), MAX_LINE);
        assert_eq!(lines[3], "xxxxxxxxxx");
        assert_eq!(lines[4], "last without a newline");
        assert_eq!(lines.len(), 5);
    }

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn with_nobody_reading_the_console_is_still_drained() {
        let input = io::Cursor::new(vec![b'y'; 1 << 20]);
        let shared = Arc::new(Mutex::new(input));
        struct Reader(Arc<Mutex<io::Cursor<Vec<u8>>>>);
        impl Read for Reader {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.lock().unwrap().read(buf)
            }
        }
        copy(Reader(shared.clone()), Closed).unwrap().join().unwrap();
        assert_eq!(shared.lock().unwrap().position(), 1 << 20, "everything was read");
    }
}
