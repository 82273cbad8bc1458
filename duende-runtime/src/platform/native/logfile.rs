//! The supervisor's log: the daemon's standard output and error, line by line, plus the
//! supervisor's own `supervisor: ...` lines, in `NAME.log`, rotated by size.
//!
//! Rotation renames (`NAME.log.2` → `NAME.log.3`, `NAME.log.1` → `NAME.log.2`, `NAME.log` →
//! `NAME.log.1`) and opens a fresh `NAME.log`; nothing is copied or truncated, so a reader that
//! holds the old file keeps a whole file. Rotation happens between lines: a line is never split
//! across two files (a single line longer than the limit is written whole). `files` counts every
//! file kept, the current one included.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A log file that rotates itself.
#[derive(Debug)]
pub struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    files: u32,
}

impl RotatingLog {
    /// Opens (appending to) `path`, creating it (mode 0640) and its directory (mode 0750).
    pub fn open(path: &Path, max_bytes: u64, files: u32) -> io::Result<RotatingLog> {
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o750).create(dir)?;
        }
        let file = open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog { path: path.to_path_buf(), file, size, max_bytes, files: files.max(1) })
    }

    /// Appends `line` (a newline is added), rotating first when it would not fit.
    pub fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        let mut whole = Vec::with_capacity(line.len() + 1);
        whole.extend_from_slice(line);
        whole.push(b'\n');
        self.file.write_all(&whole)?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| numbered(&self.path, n);
        if self.files == 1 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(numbered(self.files - 1));
            for n in (1..self.files - 1).rev() {
                match fs::rename(numbered(n), numbered(n + 1)) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                    _ => {}
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

/// `path` with `.n` appended.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The rotated files of `path` that exist (`NAME.log.1`, `NAME.log.2`, ...), newest first.
pub fn rotated(path: &Path) -> Vec<PathBuf> {
    (1..).map(|n| numbered(path, n)).take_while(|p| p.exists()).collect()
}

/// The last `lines` lines (all when `None`) of the log at `path` across its rotated files,
/// oldest first. A log that does not exist yet has no lines.
pub fn tail(path: &Path, lines: Option<usize>) -> io::Result<Vec<String>> {
    let mut files = rotated(path);
    files.reverse();
    files.push(path.to_path_buf());
    let mut kept: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for file in files {
        let file = match File::open(&file) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for line in BufReader::new(file).split(b'\n') {
            kept.push_back(String::from_utf8_lossy(&line?).into_owned());
            if lines.is_some_and(|n| kept.len() > n) {
                kept.pop_front();
            }
        }
    }
    Ok(kept.into())
}

/// The last 20 lines of the log at `path` (called `shown` in messages), for failure messages; a
/// note saying why there are none otherwise.
pub fn last_lines(path: &Path, shown: &Path) -> Result<String, String> {
    match tail(path, Some(20)) {
        Ok(lines) if !lines.is_empty() => Ok(lines.join("\n")),
        Ok(_) => Err(format!("({} is empty)", shown.display())),
        Err(err) => Err(format!("(cannot read {}: {err})", shown.display())),
    }
}

/// What `logs` shows of the log at `path`: the last `lines` (all when `None`), then, with
/// `follow`, every new line as it comes.
pub fn show(path: &Path, lines: Option<usize>, follow: bool, out: &mut dyn Write) -> io::Result<()> {
    for line in tail(path, lines)? {
        writeln!(out, "{line}")?;
    }
    if follow {
        self::follow(path, out, &|| false)?;
    }
    Ok(())
}

/// Writes what is appended to the log at `path` from its current end on, following it across
/// rotations, until `stop` says so or `out` fails. Looks every 200 ms: this is the `logs -f`
/// reader, never the supervisor.
pub fn follow(path: &Path, out: &mut dyn Write, stop: &dyn Fn() -> bool) -> io::Result<()> {
    let mut file = File::open(path)?;
    let mut inode = file.metadata()?.ino();
    file.seek(SeekFrom::End(0))?;
    let mut buffer = vec![0u8; 64 * 1024];
    while !stop() {
        let read = file.read(&mut buffer)?;
        if read > 0 {
            out.write_all(&buffer[..read])?;
            out.flush()?;
            continue;
        }
        // At the end: has the file been rotated away under us?
        if let Ok(meta) = fs::metadata(path)
            && meta.ino() != inode
        {
            // What was appended to the old file before it was renamed comes first.
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                out.write_all(&buffer[..read])?;
            }
            file = File::open(path)?;
            inode = file.metadata()?.ino();
            continue;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_renames_keeps_whole_lines_and_drops_the_oldest() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("logs/demo.log");
        let mut log = RotatingLog::open(&path, 20, 3)?;
        for n in 0..10 {
            log.line(format!("line {n:02} ......").as_bytes())?; // 16 bytes with the newline
        }
        assert_eq!(fs::read_to_string(&path)?, "line 09 ......\n");
        assert_eq!(fs::read_to_string(numbered(&path, 1))?, "line 08 ......\n");
        assert_eq!(fs::read_to_string(numbered(&path, 2))?, "line 07 ......\n");
        assert!(!numbered(&path, 3).exists(), "three files in all");
        assert_eq!(rotated(&path), [numbered(&path, 1), numbered(&path, 2)]);
        assert_eq!(tail(&path, None)?, ["line 07 ......", "line 08 ......", "line 09 ......"]);
        assert_eq!(tail(&path, Some(2))?, ["line 08 ......", "line 09 ......"]);
        let mode = fs::metadata(&path)?.mode() & 0o777;
        assert_eq!(mode, 0o640);
        Ok(())
    }

    #[test]
    fn a_long_line_is_written_whole_and_one_file_means_no_rotated_ones() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("demo.log");
        let mut log = RotatingLog::open(&path, 10, 1)?;
        log.line(b"a line far longer than ten bytes")?;
        log.line(b"next")?;
        assert_eq!(fs::read_to_string(&path)?, "next\n");
        assert!(rotated(&path).is_empty());
        // Reopening appends.
        let mut log = RotatingLog::open(&path, 100, 1)?;
        log.line(b"more")?;
        assert_eq!(tail(&path, None)?, ["next", "more"]);
        assert!(tail(&dir.path().join("absent.log"), Some(5))?.is_empty());
        Ok(())
    }

    #[test]
    fn follow_sees_new_lines_across_a_rotation() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("demo.log");
        let mut log = RotatingLog::open(&path, 12, 2)?;
        log.line(b"before")?;
        let follower = {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let started = std::time::Instant::now();
                let stop = || started.elapsed() > Duration::from_millis(1500);
                follow(&path, &mut out, &stop).map(|()| String::from_utf8_lossy(&out).into_owned())
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        log.line(b"first")?;
        std::thread::sleep(Duration::from_millis(300));
        log.line(b"second!")?; // rotates
        let seen = follower.join().map_err(|_| io::Error::other("follower panicked"))??;
        assert_eq!(seen, "first\nsecond!\n", "nothing from before it started, everything after");
        Ok(())
    }
}
