//! A deterministic tar writer (POSIX ustar): entries sorted by path, every parent directory
//! present, owner root, one pinned modification time. Identical inputs give identical bytes,
//! which is what makes an image's digest a function of its contents.

use std::collections::BTreeMap;

/// The modification time of every entry: the Unix epoch, as reproducible builds pin it.
pub const MTIME: u64 = 0;

/// One entry's content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
}

/// A tar archive being assembled; [`Tar::finish`] writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tar {
    entries: BTreeMap<String, Entry>,
}

/// A path the archive cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot put `{0}` in a tar archive: {1}")]
pub struct BadPath(pub String, pub &'static str);

impl Tar {
    /// An empty archive.
    pub fn new() -> Tar {
        Tar::default()
    }

    /// Adds a directory (and its missing parents, mode 0755).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), BadPath> {
        self.insert(path, Entry::Dir { mode })
    }

    /// Adds a file (and its missing parent directories, mode 0755); a later file at the same path
    /// replaces it.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<(), BadPath> {
        self.insert(path, Entry::File { mode, data })
    }

    fn insert(&mut self, path: &str, entry: Entry) -> Result<(), BadPath> {
        insert_with_parents(&mut self.entries, path, entry, Entry::Dir { mode: 0o755 })
            .map_err(|reason| BadPath(path.to_owned(), reason))
    }

    /// Every path with its kind and mode, `d 0755 etc` or `f 0644 etc/x.toml (12 bytes)`, in
    /// archive order: what `--dry-run` shows.
    pub fn listing(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(path, entry)| match entry {
                Entry::Dir { mode } => format!("d {mode:04o} /{path}/"),
                Entry::File { mode, data } => format!("f {mode:04o} /{path} ({} bytes)", data.len()),
            })
            .collect()
    }

    /// The archive's bytes.
    pub fn finish(&self) -> Result<Vec<u8>, BadPath> {
        let mut out = Vec::new();
        for (path, entry) in &self.entries {
            let (name, kind, mode, data): (String, u8, u32, &[u8]) = match entry {
                Entry::Dir { mode } => (format!("{path}/"), b'5', *mode, &[]),
                Entry::File { mode, data } => (path.clone(), b'0', *mode, data),
            };
            out.extend_from_slice(&header(&name, kind, mode, data.len() as u64)?);
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(512), 0);
        }
        out.resize(out.len() + 1024, 0);
        Ok(out)
    }
}

/// Puts `entry` at `path` (made relative; refused with `.`, `..`, empty parts or NUL) in the
/// sorted `entries` of an archive, adding each missing parent directory as `parent`; a later
/// entry at the same path replaces it.
pub fn insert_with_parents<E: Clone>(
    entries: &mut BTreeMap<String, E>,
    path: &str,
    entry: E,
    parent: E,
) -> Result<(), &'static str> {
    let path = archive_path(path)?;
    let mut end = 0;
    while let Some(slash) = path[end..].find('/') {
        end += slash;
        entries.entry(path[..end].to_owned()).or_insert_with(|| parent.clone());
        end += 1;
    }
    entries.insert(path, entry);
    Ok(())
}

/// `path` as archives name their entries (tar here, cpio in an initramfs): without leading `/`
/// or `./`, refusing `..`, empty components and NUL bytes (the reason is the error).
fn archive_path(path: &str) -> Result<String, &'static str> {
    let trimmed = path.trim_start_matches('/').trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err("it must be a plain absolute path");
    }
    if trimmed.bytes().any(|b| b == 0) {
        return Err("it contains a NUL byte");
    }
    Ok(trimmed.to_owned())
}

/// One ustar header block.
fn header(name: &str, kind: u8, mode: u32, size: u64) -> Result<[u8; 512], BadPath> {
    let mut block = [0u8; 512];
    let (prefix, name_part) = split_name(name)?;
    block[..name_part.len()].copy_from_slice(name_part.as_bytes());
    octal(&mut block[100..108], u64::from(mode));
    octal(&mut block[108..116], 0);
    octal(&mut block[116..124], 0);
    octal(&mut block[124..136], size);
    octal(&mut block[136..148], MTIME);
    block[156] = kind;
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(text.as_bytes());
    Ok(block)
}

/// Splits a long name into ustar's 155-byte prefix and 100-byte name at a `/`.
fn split_name(name: &str) -> Result<(&str, &str), BadPath> {
    if name.len() <= 100 {
        return Ok(("", name));
    }
    let body = name.trim_end_matches('/');
    for (at, _) in body.match_indices('/') {
        let (prefix, rest) = (&name[..at], &name[at + 1..]);
        if prefix.len() <= 155 && rest.len() <= 100 {
            return Ok((prefix, rest));
        }
    }
    Err(BadPath(name.to_owned(), "it is longer than ustar allows (155 + 100 bytes split at a `/`)"))
}

/// `value` as zero-padded octal filling `field` but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_inputs_give_identical_bytes_whatever_the_order() {
        let mut a = Tar::new();
        a.file("/usr/local/bin/demo", 0o755, b"binary".to_vec()).unwrap();
        a.dir("/tmp", 0o1777).unwrap();
        let mut b = Tar::new();
        b.dir("tmp", 0o1777).unwrap();
        b.file("usr/local/bin/demo", 0o755, b"binary".to_vec()).unwrap();
        assert_eq!(a.finish().unwrap(), b.finish().unwrap());
        assert_eq!(
            a.listing(),
            [
                "d 1777 /tmp/",
                "d 0755 /usr/",
                "d 0755 /usr/local/",
                "d 0755 /usr/local/bin/",
                "f 0755 /usr/local/bin/demo (6 bytes)"
            ]
        );
    }

    #[test]
    fn the_system_tar_reads_it_back() {
        let mut tar = Tar::new();
        let long = format!("/opt/{}/{}/{}", "d".repeat(90), "e".repeat(20), "f".repeat(90));
        tar.file("/etc/demo/demo.toml", 0o644, b"x = 1\n".to_vec()).unwrap();
        tar.file(&long, 0o600, vec![7; 1000]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar");
        std::fs::write(&archive, tar.finish().unwrap()).unwrap();
        let Ok(listed) = std::process::Command::new("tar").args(["-tvf"]).arg(&archive).output() else { return };
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(text.contains("-rw-r--r-- 0/0               6 1970-01-01 00:00 etc/demo/demo.toml"), "{text}");
        assert!(text.contains(&long[1..]), "{text}");
        assert!(text.contains("-rw------- 0/0            1000"), "{text}");
    }

    #[test]
    fn paths_that_escape_are_refused() {
        for bad in ["", "/", "/etc/../x", "a//b", "./.", "a/\0"] {
            assert!(Tar::new().file(bad, 0o644, Vec::new()).is_err(), "{bad:?}");
        }
        let too_long = format!("/{}", "x".repeat(200));
        let mut tar = Tar::new();
        tar.file(&too_long, 0o644, Vec::new()).unwrap();
        assert!(tar.finish().unwrap_err().1.contains("longer"));
    }
}
