//! The host's configuration file, handed to the guest over vsock (host port [`CONFIG_PORT`]).
//!
//! The configuration of a pepita daemon is the file installed on the host (`--config PATH` of the
//! runner, the file the operator edits), not the copy baked into the initramfs: the guest's init
//! fetches it before it starts the daemon, and again before it passes a `reload` on to the
//! daemon, so `reload` after an edit on the host and a VM booted again after a crash both see
//! the host's current file. The initramfs's copy is what the guest falls back to when the host
//! cannot be asked at boot.
//!
//! The runner listens on the unix socket `<uds-path>_1026` (a guest connecting to CID 2, port
//! 1026) and answers each connection with one answer, then closes it. An answer is a header line,
//! then, for a file, its bytes:
//!
//! ```text
//! FILE 123\n<123 bytes>   the file's current contents (at most MAX_CONFIG_BYTES)
//! NONE\n                  the runner has no configuration file (started without --config)
//! ERROR <message>\n       the file cannot be handed over; the message says why, on one line
//! ```
//!
//! The guest reads nothing after the answer; the header is at most [`MAX_HEADER`] bytes.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The vsock port the host answers the guest's requests for the configuration file on.
pub const CONFIG_PORT: u32 = 1026;

/// The largest configuration file handed to a guest (its root file system is its memory).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The longest header line, newline included.
pub const MAX_HEADER: usize = 1024;

/// How long the host may take to write an answer out.
const WRITE_PATIENCE: Duration = Duration::from_secs(5);

/// What the host answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The configuration file's current bytes.
    File(Vec<u8>),
    /// The daemon has no configuration file on the host.
    None,
    /// The file cannot be handed over: why.
    Error(String),
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The stream failed or timed out.
    #[error("reading the host's answer failed: {0}")]
    Io(#[from] io::Error),
    /// The header is not an answer.
    #[error(
        "the host's answer {0:?} is not `FILE <bytes>`, `NONE` or `ERROR <message>`; is the runner of this version?"
    )]
    Header(String),
    /// The host offers more than a guest takes.
    #[error("the host offers {0} bytes of configuration, more than the {MAX_CONFIG_BYTES} a guest takes")]
    TooLarge(u64),
    /// The stream ended inside the file.
    #[error("the host's answer ended after {got} of the file's {expected} bytes")]
    Short {
        /// The size the header announced.
        expected: u64,
        /// The bytes that came.
        got: u64,
    },
}

/// The answer's bytes on the wire. An error message is put on one line (and shortened to fit
/// the header).
pub fn encode(answer: &Answer) -> Vec<u8> {
    match answer {
        Answer::File(bytes) => {
            let mut out = format!("FILE {}\n", bytes.len()).into_bytes();
            out.extend_from_slice(bytes);
            out
        }
        Answer::None => b"NONE\n".to_vec(),
        Answer::Error(message) => {
            let mut line: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            let room = MAX_HEADER - "ERROR \n".len();
            if line.len() > room {
                let mut end = room;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
            }
            format!("ERROR {line}\n").into_bytes()
        }
    }
}

/// Reads one answer from `stream` (nothing after it).
pub fn read_answer<R: Read>(stream: &mut R) -> Result<Answer, FetchError> {
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while header.last() != Some(&b'\n') {
        if header.len() >= MAX_HEADER {
            return Err(FetchError::Header(String::from_utf8_lossy(&header).into_owned()));
        }
        match stream.read(&mut byte) {
            Ok(0) => return Err(FetchError::Header(String::from_utf8_lossy(&header).into_owned())),
            Ok(_) => header.push(byte[0]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    let text = String::from_utf8_lossy(&header[..header.len() - 1]).into_owned();
    if text == "NONE" {
        return Ok(Answer::None);
    }
    if let Some(message) = text.strip_prefix("ERROR ") {
        return Ok(Answer::Error(message.to_owned()));
    }
    let size = text.strip_prefix("FILE ").and_then(|size| size.parse::<u64>().ok());
    let Some(size) = size else { return Err(FetchError::Header(text)) };
    if size > MAX_CONFIG_BYTES {
        return Err(FetchError::TooLarge(size));
    }
    let mut bytes = Vec::new();
    stream.take(size).read_to_end(&mut bytes)?;
    let got = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if got < size {
        return Err(FetchError::Short { expected: size, got });
    }
    Ok(Answer::File(bytes))
}

/// What the host answers now for the configuration file `config` (`None`: the runner was started
/// without one).
pub fn answer_for(config: Option<&Path>) -> Answer {
    let Some(path) = config else { return Answer::None };
    let read = std::fs::File::open(path).and_then(|file| {
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    match read {
        Ok(bytes) if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_CONFIG_BYTES => Answer::Error(format!(
            "the configuration file {} is larger than the {MAX_CONFIG_BYTES} bytes a guest takes; make it smaller",
            path.display()
        )),
        Ok(bytes) => Answer::File(bytes),
        Err(err) => Answer::Error(format!(
            "cannot read the configuration file {} on the host: {err}; put it back, or reinstall with `--config`",
            path.display()
        )),
    }
}

/// Answers every connection on `listener` with the current state of `config`, one connection at
/// a time (an answer is small, and a reader that does not take it within 5 s is dropped).
pub fn serve(listener: &UnixListener, config: Option<PathBuf>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_write_timeout(Some(WRITE_PATIENCE));
        let _ = stream.write_all(&encode(&answer_for(config.as_deref())));
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::os::unix::net::UnixStream;

    use super::*;

    fn round_trip(answer: &Answer) -> Answer {
        read_answer(&mut Cursor::new(encode(answer))).unwrap()
    }

    #[test]
    fn every_answer_reads_back_as_it_was_written() {
        for answer in [
            Answer::File(b"[app]\nlabel = \"two\"\n".to_vec()),
            Answer::File(Vec::new()),
            Answer::File(vec![0, b'\n', 0xff, b'\n']),
            Answer::None,
            Answer::Error("cannot read /etc/probe/probe.toml: permission denied".into()),
        ] {
            assert_eq!(round_trip(&answer), answer);
        }
    }

    #[test]
    fn nothing_after_the_answer_is_read() {
        let mut wire = encode(&Answer::File(b"abc".to_vec()));
        wire.extend_from_slice(b"NONE\n");
        let mut stream = Cursor::new(wire);
        assert_eq!(read_answer(&mut stream).unwrap(), Answer::File(b"abc".to_vec()));
        assert_eq!(read_answer(&mut stream).unwrap(), Answer::None);
    }

    #[test]
    fn an_error_message_is_put_on_one_short_line() {
        let long = format!("first line\nsecond {}", "é".repeat(2000));
        let wire = encode(&Answer::Error(long));
        assert!(wire.len() <= MAX_HEADER, "{} bytes", wire.len());
        assert_eq!(wire.iter().filter(|b| **b == b'\n').count(), 1);
        let Answer::Error(message) = read_answer(&mut Cursor::new(wire)).unwrap() else { panic!("not an error") };
        assert!(message.starts_with("first line second é"), "{message}");
    }

    #[test]
    fn a_short_file_an_oversized_one_and_a_foreign_header_are_errors() {
        let err = read_answer(&mut Cursor::new(b"FILE 10\nabc".to_vec())).unwrap_err();
        assert!(matches!(err, FetchError::Short { expected: 10, got: 3 }), "{err}");
        let err = read_answer(&mut Cursor::new(format!("FILE {}\n", MAX_CONFIG_BYTES + 1).into_bytes())).unwrap_err();
        assert!(matches!(err, FetchError::TooLarge(_)), "{err}");
        for wire in [&b"OK 1026\n"[..], b"FILE -1\n", b"FILE", b"", &[b'x'; MAX_HEADER + 10]] {
            let err = read_answer(&mut Cursor::new(wire.to_vec())).unwrap_err();
            assert!(matches!(err, FetchError::Header(_)), "{wire:?}: {err}");
        }
    }

    #[test]
    fn the_host_answers_with_the_file_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        assert_eq!(answer_for(None), Answer::None);
        let Answer::Error(missing) = answer_for(Some(&path)) else { panic!("a missing file is an error") };
        assert!(missing.contains("probe.toml") && missing.contains("cannot read"), "{missing}");
        std::fs::write(&path, "[app]\nlabel = \"one\"\n").unwrap();
        assert_eq!(answer_for(Some(&path)), Answer::File(b"[app]\nlabel = \"one\"\n".to_vec()));
        std::fs::write(&path, vec![b'#'; usize::try_from(MAX_CONFIG_BYTES).unwrap() + 1]).unwrap();
        let Answer::Error(large) = answer_for(Some(&path)) else { panic!("an oversized file is an error") };
        assert!(large.contains("larger than"), "{large}");
    }

    #[test]
    fn the_listener_answers_each_connection_with_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, socket) = (dir.path().join("probe.toml"), dir.path().join("vm.vsock_1026"));
        std::fs::write(&path, "one").unwrap();
        let listener = UnixListener::bind(&socket).unwrap();
        let served = path.clone();
        std::thread::spawn(move || serve(&listener, Some(served)));
        let ask = || read_answer(&mut UnixStream::connect(&socket).unwrap()).unwrap();
        assert_eq!(ask(), Answer::File(b"one".to_vec()));
        std::fs::write(&path, "two").unwrap();
        assert_eq!(ask(), Answer::File(b"two".to_vec()));
    }
}
