//! What a binary needs to run, read from its ELF headers: the dynamic loader (`PT_INTERP`), the
//! libraries it names (`DT_NEEDED`, with `DT_RUNPATH`/`DT_RPATH`), and those libraries' own,
//! found the way the loader finds them. A static binary needs nothing. No tool (`ldd`) is run:
//! `ldd` executes the binary's loader, and its output is meant for people.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the ELF headers of one file say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elf {
    /// The OCI architecture (`amd64`, `arm64`, ...), from `e_machine`.
    pub architecture: &'static str,
    /// The dynamic loader's path, when the binary has one.
    pub interpreter: Option<String>,
    /// The libraries it names, in order.
    pub needed: Vec<String>,
    /// Its `DT_RUNPATH` (or `DT_RPATH`) directories, unexpanded.
    pub runpath: Vec<String>,
}

/// Why a file's headers could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotElf(String);

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// Little-endian or big-endian, 32 or 64 bits.
struct Reader<'a> {
    bytes: &'a [u8],
    wide: bool,
    little: bool,
}

impl Reader<'_> {
    fn uint(&self, at: u64, len: usize) -> Result<u64, NotElf> {
        let at = usize::try_from(at).map_err(|_| NotElf("offset out of range".to_owned()))?;
        let slice = self
            .bytes
            .get(at..at.saturating_add(len))
            .ok_or_else(|| NotElf(format!("truncated: {len} bytes at offset {at} are past the end")))?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if self.little { slice[len - 1 - i] } else { slice[i] };
            value = value << 8 | u64::from(byte);
        }
        Ok(value)
    }

    fn u16(&self, at: u64) -> Result<u64, NotElf> {
        self.uint(at, 2)
    }

    fn u32(&self, at: u64) -> Result<u64, NotElf> {
        self.uint(at, 4)
    }

    /// A 32- or 64-bit word.
    fn word(&self, at: u64) -> Result<u64, NotElf> {
        self.uint(at, if self.wide { 8 } else { 4 })
    }

    fn c_string(&self, at: u64) -> Result<String, NotElf> {
        let start = usize::try_from(at).map_err(|_| NotElf("offset out of range".to_owned()))?;
        let rest = self.bytes.get(start..).ok_or_else(|| NotElf(format!("string offset {at} is past the end")))?;
        let end = rest.iter().position(|b| *b == 0).ok_or_else(|| NotElf("unterminated string".to_owned()))?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

/// A program header.
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// A reader of the ELF file `bytes`, after its identification bytes.
fn reader(bytes: &[u8]) -> Result<Reader<'_>, NotElf> {
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err(NotElf("not an ELF file (no `\\x7fELF` magic)".to_owned()));
    }
    let wide = match bytes.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(NotElf("unknown ELF class".to_owned())),
    };
    let little = match bytes.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return Err(NotElf("unknown ELF byte order".to_owned())),
    };
    Ok(Reader { bytes, wide, little })
}

/// The contents of the section called `name` (such as a kernel module's `.modinfo`), `None` when
/// the file has no such section. Sections are what relocatable objects (`.ko`) are made of; they
/// have no program headers for [`parse`] to read.
pub fn section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, NotElf> {
    let r = reader(bytes)?;
    let (shoff, shentsize, shnum, shstrndx) = if r.wide {
        (r.word(40)?, r.u16(58)?, r.u16(60)?, r.u16(62)?)
    } else {
        (r.word(32)?, r.u16(46)?, r.u16(48)?, r.u16(50)?)
    };
    // (name offset, file offset, size) of section `index`.
    let header = |index: u64| -> Result<(u64, u64, u64), NotElf> {
        let at = shoff.saturating_add(index.saturating_mul(shentsize));
        if r.wide {
            Ok((r.u32(at)?, r.word(at + 24)?, r.word(at + 32)?))
        } else {
            Ok((r.u32(at)?, r.word(at + 16)?, r.word(at + 20)?))
        }
    };
    if shoff == 0 || shstrndx >= shnum {
        return Ok(None);
    }
    let (_, names, _) = header(shstrndx)?;
    for index in 0..shnum {
        let (name_at, offset, size) = header(index)?;
        if r.c_string(names.saturating_add(name_at))? == name {
            let range = usize::try_from(offset).ok().zip(usize::try_from(offset.saturating_add(size)).ok());
            let contents = range.and_then(|(start, end)| bytes.get(start..end));
            return contents.map(Some).ok_or_else(|| NotElf(format!("section {name} is past the end of the file")));
        }
    }
    Ok(None)
}

/// Reads the headers of the ELF file `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Elf, NotElf> {
    let r = reader(bytes)?;
    let wide = r.wide;
    let machine = r.u16(18)?;
    let architecture = match machine {
        62 => "amd64",
        183 => "arm64",
        3 => "386",
        40 => "arm",
        243 => "riscv64",
        21 => "ppc64le",
        22 => "s390x",
        other => return Err(NotElf(format!("unsupported machine type {other}"))),
    };
    let (phoff, phentsize, phnum) =
        if wide { (r.word(32)?, r.u16(54)?, r.u16(56)?) } else { (r.word(28)?, r.u16(42)?, r.u16(44)?) };
    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let segment = if wide {
            Segment {
                kind: r.u32(at)? as u32,
                offset: r.word(at + 8)?,
                vaddr: r.word(at + 16)?,
                filesz: r.word(at + 32)?,
            }
        } else {
            Segment {
                kind: r.u32(at)? as u32,
                offset: r.word(at + 4)?,
                vaddr: r.word(at + 8)?,
                filesz: r.word(at + 16)?,
            }
        };
        segments.push(segment);
    }
    let mut elf = Elf { architecture, ..Elf::default() };
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        elf.interpreter = Some(r.c_string(interp.offset)?);
    }
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else { return Ok(elf) };
    let entry = if wide { 16 } else { 8 };
    let mut tags = Vec::new();
    let mut strtab = None;
    for i in 0..dynamic.filesz / entry {
        let at = dynamic.offset + i * entry;
        let (tag, value) = (r.word(at)?, r.word(at + entry / 2)?);
        match tag {
            0 => break,
            DT_STRTAB => strtab = Some(value),
            DT_NEEDED | DT_RPATH | DT_RUNPATH => tags.push((tag, value)),
            _ => {}
        }
    }
    if tags.is_empty() {
        return Ok(elf);
    }
    // DT_STRTAB is an address: find the loaded segment holding it to get its file offset.
    let strtab = strtab.ok_or_else(|| NotElf("dynamic section without a string table".to_owned()))?;
    let table = segments
        .iter()
        .find(|s| s.kind == PT_LOAD && (s.vaddr..s.vaddr + s.filesz).contains(&strtab))
        .map(|s| strtab - s.vaddr + s.offset)
        .ok_or_else(|| NotElf("the string table is outside every loaded segment".to_owned()))?;
    let mut rpath = Vec::new();
    for (tag, offset) in tags {
        let text = r.c_string(table + offset)?;
        match tag {
            DT_NEEDED => elf.needed.push(text),
            DT_RUNPATH => elf.runpath = text.split(':').map(str::to_owned).collect(),
            _ => rpath = text.split(':').map(str::to_owned).collect(),
        }
    }
    if elf.runpath.is_empty() {
        elf.runpath = rpath;
    }
    Ok(elf)
}

/// The multiarch directory name Debian-style systems keep libraries under.
fn triplet(architecture: &str) -> &'static str {
    match architecture {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "386" => "i386-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "ppc64le" => "powerpc64le-linux-gnu",
        _ => "s390x-linux-gnu",
    }
}

/// The directories the loader searches without `/etc/ld.so.cache` (as in an image).
pub fn builtin_dirs(architecture: &str) -> Vec<PathBuf> {
    let triplet = triplet(architecture);
    [
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib64".into(),
        "/usr/lib64".into(),
        "/lib".into(),
        "/usr/lib".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// The directories of `libraries` the loader does not search by itself (found on the host through
/// `/etc/ld.so.conf`), sorted: where there is no `ld.so.cache` (an image, an initramfs),
/// `LD_LIBRARY_PATH` must name them.
pub fn unsearched_dirs<'a>(libraries: impl IntoIterator<Item = &'a PathBuf>, architecture: &str) -> Vec<String> {
    let builtin = builtin_dirs(architecture);
    let mut extra: Vec<String> = libraries
        .into_iter()
        .filter_map(|path| path.parent())
        .filter(|dir| !builtin.iter().any(|b| b == dir))
        .map(|dir| dir.to_string_lossy().into_owned())
        .collect();
    extra.sort();
    extra.dedup();
    extra
}

/// The directories the loader searches when the binary says nothing: the ones in
/// `/etc/ld.so.conf` (and what it includes), then the built-in ones.
pub fn default_dirs(
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
    list: &dyn Fn(&Path) -> Vec<PathBuf>,
    architecture: &str,
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    ld_so_conf(Path::new("/etc/ld.so.conf"), read, list, &mut dirs, 0);
    dirs.extend(builtin_dirs(architecture));
    let mut seen = Vec::new();
    dirs.retain(|dir| {
        let fresh = !seen.contains(dir);
        seen.push(dir.clone());
        fresh
    });
    dirs
}

fn ld_so_conf(
    file: &Path,
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
    list: &dyn Fn(&Path) -> Vec<PathBuf>,
    dirs: &mut Vec<PathBuf>,
    depth: u32,
) {
    let Some(text) = read(file).filter(|_| depth < 8) else { return };
    for line in String::from_utf8_lossy(&text).lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include").map(str::trim) {
            // Only the `DIR/*.conf` form every distribution uses.
            let Some(dir) = pattern.strip_suffix("/*.conf") else { continue };
            let mut files: Vec<PathBuf> =
                list(Path::new(dir)).into_iter().filter(|f| f.extension().is_some_and(|e| e == "conf")).collect();
            files.sort();
            for included in files {
                ld_so_conf(&included, read, list, dirs, depth + 1);
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
}

/// Everything a binary needs besides itself: path in the image → path to read it from.
pub type Needs = BTreeMap<PathBuf, PathBuf>;

/// The loader and every library `binary` (at `origin`) needs, transitively, found with `exists`
/// in `search` (after each object's own run path). A library that cannot be found is an error
/// naming it: an image without it would not start.
pub fn needs(
    binary: &Elf,
    origin: &Path,
    search: &[PathBuf],
    exists: &dyn Fn(&Path) -> bool,
    read: &dyn Fn(&Path) -> Option<Vec<u8>>,
) -> Result<Needs, NotElf> {
    let mut needs = Needs::new();
    if let Some(interpreter) = &binary.interpreter {
        let path = PathBuf::from(interpreter);
        if !exists(&path) {
            return Err(NotElf(format!("its dynamic loader {interpreter} is not on this host")));
        }
        needs.insert(path.clone(), path);
    }
    let mut queue: Vec<(Elf, PathBuf)> = vec![(binary.clone(), origin.to_path_buf())];
    let mut found: Vec<String> = Vec::new();
    while let Some((object, at)) = queue.pop() {
        let dir = at.parent().unwrap_or(Path::new("/")).to_path_buf();
        let own: Vec<PathBuf> = object
            .runpath
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                PathBuf::from(p.replace("$ORIGIN", &dir.to_string_lossy()).replace("${ORIGIN}", &dir.to_string_lossy()))
            })
            .collect();
        for name in &object.needed {
            if found.contains(name) {
                continue;
            }
            let candidates: Vec<PathBuf> = if name.contains('/') {
                vec![PathBuf::from(name)]
            } else {
                own.iter().chain(search).map(|dir| dir.join(name)).collect()
            };
            let Some(path) = candidates.into_iter().find(|path| exists(path)) else {
                return Err(NotElf(format!(
                    "it needs the library {name}, which is not in any of {}",
                    own.iter().chain(search).map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                )));
            };
            found.push(name.clone());
            let bytes = read(&path).ok_or_else(|| NotElf(format!("cannot read {}", path.display())))?;
            let library = parse(&bytes).map_err(|err| NotElf(format!("{}: {err}", path.display())))?;
            needs.insert(path.clone(), path.clone());
            queue.push((library, path));
        }
    }
    Ok(needs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_names_its_loader_and_libc() {
        let Ok(bytes) = std::fs::read("/proc/self/exe") else { return };
        let elf = parse(&bytes).unwrap();
        assert_eq!(elf.architecture, if cfg!(target_arch = "x86_64") { "amd64" } else { elf.architecture });
        if cfg!(target_env = "gnu") && cfg!(not(target_feature = "crt-static")) {
            assert!(elf.interpreter.as_deref().is_some_and(|i| i.contains("ld-linux")), "{elf:?}");
            assert!(elf.needed.iter().any(|n| n.starts_with("libc.so")), "{elf:?}");
            let search = default_dirs(&|p| std::fs::read(p).ok(), &list, elf.architecture);
            let needs = needs(&elf, Path::new("/proc/self/exe"), &search, &|p| p.is_file(), &|p| std::fs::read(p).ok())
                .unwrap();
            assert!(needs.keys().any(|p| p.ends_with("libc.so.6")), "{needs:?}");
            assert!(needs.keys().any(|p| Some(p.to_string_lossy().as_ref()) == elf.interpreter.as_deref()));
        }
    }

    #[test]
    fn sections_are_found_by_name() {
        let Ok(bytes) = std::fs::read("/proc/self/exe") else { return };
        let text = section(&bytes, ".text").unwrap().unwrap();
        assert!(text.len() > 1000);
        assert_eq!(section(&bytes, ".no-such-section").unwrap(), None);
        if let Some(interpreter) = parse(&bytes).unwrap().interpreter {
            let interp = section(&bytes, ".interp").unwrap().unwrap();
            assert_eq!(interp, format!("{interpreter}\0").as_bytes());
        }
        assert!(section(b"#!/bin/sh\n", ".text").unwrap_err().0.contains("magic"));
    }

    fn list(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    }

    #[test]
    fn what_is_not_elf_is_refused_with_the_reason() {
        assert!(parse(b"#!/bin/sh\n").unwrap_err().0.contains("magic"));
        let mut truncated = b"\x7fELF\x02\x01\x01".to_vec();
        truncated.resize(20, 0);
        truncated[18] = 62;
        assert!(parse(&truncated).unwrap_err().0.contains("truncated"));
    }

    #[test]
    fn a_missing_library_is_named() {
        let elf =
            Elf { architecture: "amd64", interpreter: None, needed: vec!["libnope.so.1".into()], runpath: vec![] };
        let err = needs(&elf, Path::new("/x/bin"), &[PathBuf::from("/lib")], &|_| false, &|_| None).unwrap_err();
        assert!(err.0.contains("libnope.so.1") && err.0.contains("/lib"), "{err}");
    }

    #[test]
    fn ld_so_conf_includes_are_followed_in_order() {
        let files: BTreeMap<PathBuf, &str> = [
            (PathBuf::from("/etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n/opt/first # comment\n"),
            (PathBuf::from("/etc/ld.so.conf.d/b.conf"), "/usr/local/lib\n"),
            (PathBuf::from("/etc/ld.so.conf.d/a.conf"), "/usr/lib/x86_64-linux-gnu/libfakeroot\n"),
        ]
        .into_iter()
        .collect();
        let read = |p: &Path| files.get(p).map(|t| t.as_bytes().to_vec());
        let list = |d: &Path| files.keys().filter(|f| f.parent() == Some(d)).cloned().collect();
        let dirs = default_dirs(&read, &list, "amd64");
        let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        assert_eq!(
            shown[..5],
            [
                "/usr/lib/x86_64-linux-gnu/libfakeroot",
                "/usr/local/lib",
                "/opt/first",
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu"
            ]
        );
    }
}
