//! A deterministic cpio writer in the "new ASCII" format (`070701`, what `cpio -H newc` writes and
//! the only format the kernel unpacks into an initramfs): entries sorted by path, every parent
//! directory present, owner root, modification time 0, inode numbers given in archive order, and
//! the `TRAILER!!!` entry last. Identical inputs give identical bytes.
//!
//! Each entry is a 110-byte header of thirteen 8-digit hex fields, the NUL-terminated name padded
//! to a multiple of 4 bytes (header included), then the data padded to a multiple of 4. Regular
//! files have one link each, so the kernel never treats two entries as hard links of one file.

use std::collections::BTreeMap;

use crate::platform::container::tar::insert_with_parents;

/// The modification time of every entry: the Unix epoch, as reproducible builds pin it.
pub const MTIME: u32 = 0;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

/// One entry's content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    CharDevice { mode: u32, major: u32, minor: u32 },
}

/// A cpio archive being assembled; [`Cpio::finish`] writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpio {
    entries: BTreeMap<String, Entry>,
}

/// A path or a file the archive cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot put `{0}` in a cpio archive: {1}")]
pub struct BadEntry(pub String, pub &'static str);

impl Cpio {
    /// An empty archive.
    pub fn new() -> Cpio {
        Cpio::default()
    }

    /// Adds a directory (and its missing parents, mode 0755).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), BadEntry> {
        self.insert(path, Entry::Dir { mode: mode & 0o7777 })
    }

    /// Adds a file (and its missing parent directories, mode 0755); a later file at the same path
    /// replaces it.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<(), BadEntry> {
        if u32::try_from(data.len()).is_err() {
            return Err(BadEntry(path.to_owned(), "newc sizes are 32 bits: it is 4 GiB or larger"));
        }
        self.insert(path, Entry::File { mode: mode & 0o7777, data })
    }

    /// Adds a character device node (and its missing parent directories).
    pub fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<(), BadEntry> {
        self.insert(path, Entry::CharDevice { mode: mode & 0o7777, major, minor })
    }

    fn insert(&mut self, path: &str, entry: Entry) -> Result<(), BadEntry> {
        insert_with_parents(&mut self.entries, path, entry, Entry::Dir { mode: 0o755 })
            .map_err(|reason| BadEntry(path.to_owned(), reason))
    }

    /// Every path with its kind and mode, `d 0755 /etc/`, `f 0644 /etc/x.toml (12 bytes)` or
    /// `c 0600 /dev/console (5:1)`, in archive order: what `--dry-run` shows.
    pub fn listing(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(path, entry)| match entry {
                Entry::Dir { mode } => format!("d {mode:04o} /{path}/"),
                Entry::File { mode, data } => format!("f {mode:04o} /{path} ({} bytes)", data.len()),
                Entry::CharDevice { mode, major, minor } => format!("c {mode:04o} /{path} ({major}:{minor})"),
            })
            .collect()
    }

    /// The archive's bytes.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, (path, entry)) in self.entries.iter().enumerate() {
            let ino = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let (mode, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match entry {
                Entry::Dir { mode } => (S_IFDIR | mode, 2, &[], (0, 0)),
                Entry::File { mode, data } => (S_IFREG | mode, 1, data, (0, 0)),
                Entry::CharDevice { mode, major, minor } => (S_IFCHR | mode, 1, &[], (*major, *minor)),
            };
            record(&mut out, Header { ino, mode, nlink, rdev }, path, data);
        }
        record(&mut out, Header { ino: 0, mode: 0, nlink: 1, rdev: (0, 0) }, "TRAILER!!!", &[]);
        out
    }
}

/// The header fields that differ between entries.
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
}

/// Appends one entry: header, name, data, each padded to 4 bytes.
fn record(out: &mut Vec<u8>, header: Header, name: &str, data: &[u8]) {
    let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let namesize = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
    let fields = [
        header.ino,
        header.mode,
        0, // uid
        0, // gid
        header.nlink,
        MTIME,
        size,
        0, // devmajor
        0, // devminor
        header.rdev.0,
        header.rdev.1,
        namesize,
        0, // check: unused by 070701
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cpio {
        let mut cpio = Cpio::new();
        cpio.file("/pepita/argv", 0o644, b"demo\0run\0".to_vec()).unwrap();
        cpio.file("/init", 0o755, b"binary".to_vec()).unwrap();
        cpio.dir("/tmp", 0o1777).unwrap();
        cpio.char_device("/dev/console", 0o600, 5, 1).unwrap();
        cpio
    }

    #[test]
    fn identical_inputs_give_identical_bytes_whatever_the_order() {
        let mut other = Cpio::new();
        other.char_device("dev/console", 0o600, 5, 1).unwrap();
        other.dir("tmp/", 0o1777).unwrap();
        other.file("init", 0o755, b"binary".to_vec()).unwrap();
        other.file("./pepita/argv", 0o644, b"demo\0run\0".to_vec()).unwrap();
        assert_eq!(sample().finish(), other.finish());
        assert_eq!(
            sample().listing(),
            [
                "d 0755 /dev/",
                "c 0600 /dev/console (5:1)",
                "f 0755 /init (6 bytes)",
                "d 0755 /pepita/",
                "f 0644 /pepita/argv (9 bytes)",
                "d 1777 /tmp/",
            ]
        );
    }

    #[test]
    fn the_bytes_are_newc_headers_padded_to_four_and_a_trailer() {
        let mut cpio = Cpio::new();
        cpio.file("/a", 0o644, b"hello".to_vec()).unwrap();
        let bytes = cpio.finish();
        // magic, ino, mode (0100644), uid, gid, nlink, mtime, size, dev major and minor, rdev
        // major and minor, name size (with its NUL), check.
        let first = [
            "070701", "00000001", "000081a4", "00000000", "00000000", "00000001", "00000000", "00000005", "00000000",
            "00000000", "00000000", "00000000", "00000002", "00000000",
        ]
        .concat();
        assert_eq!(&bytes[..110], first.as_bytes());
        // 110 + "a\0" = 112 (already aligned), then "hello" padded to 8.
        assert_eq!(&bytes[110..112], b"a\0");
        assert_eq!(&bytes[112..120], b"hello\0\0\0");
        assert_eq!(&bytes[120..126], b"070701");
        assert_eq!(&bytes[120 + 110..120 + 121], b"TRAILER!!!\0");
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(bytes.len(), 120 + 124, "the trailer's name pads 121 bytes to 124");
    }

    #[test]
    fn the_system_cpio_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("initramfs.cpio");
        std::fs::write(&archive, sample().finish()).unwrap();
        let Ok(file) = std::fs::File::open(&archive) else { return };
        let Ok(listed) = std::process::Command::new("cpio").args(["-t", "-v", "--quiet"]).stdin(file).output() else {
            // No `cpio` on this machine: scripts/test installs it.
            return;
        };
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        let text = String::from_utf8_lossy(&listed.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        let names: Vec<&str> = lines.iter().filter_map(|l| l.split_whitespace().last()).collect();
        assert_eq!(names, ["dev", "dev/console", "init", "pepita", "pepita/argv", "tmp"], "{text}");
        assert!(lines[1].starts_with("crw-------   1 root     root       5,   1 Jan  1  1970"), "{text}");
        assert!(lines[2].starts_with("-rwxr-xr-x   1 root     root            6 Jan  1  1970"), "{text}");
        assert!(lines[5].starts_with("drwxrwxrwt   2 root     root            0 Jan  1  1970"), "{text}");
    }

    #[test]
    fn the_system_cpio_extracts_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let mut cpio = Cpio::new();
        let odd = vec![0xA5; 1001];
        cpio.file("/lib/x86_64-linux-gnu/libodd.so", 0o755, odd.clone()).unwrap();
        cpio.file("/etc/demo/demo.toml", 0o644, b"x = 1\n".to_vec()).unwrap();
        let archive = dir.path().join("a.cpio");
        std::fs::write(&archive, cpio.finish()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let Ok(file) = std::fs::File::open(&archive) else { return };
        let Ok(done) = std::process::Command::new("cpio")
            .args(["-i", "-d", "--quiet", "--no-absolute-filenames"])
            .current_dir(&out)
            .stdin(file)
            .status()
        else {
            return;
        };
        assert!(done.success());
        assert_eq!(std::fs::read(out.join("lib/x86_64-linux-gnu/libodd.so")).unwrap(), odd);
        assert_eq!(std::fs::read(out.join("etc/demo/demo.toml")).unwrap(), b"x = 1\n");
    }

    #[test]
    fn paths_that_escape_are_refused() {
        for bad in ["", "/", "/etc/../x", "a//b", "./.", "a/\0"] {
            let err = Cpio::new().file(bad, 0o644, Vec::new()).unwrap_err();
            assert!(err.to_string().starts_with("cannot put"), "{err}");
        }
    }
}
