//! When the daemon is ready, and again a moment later ([`AFTER_READY`]), it hands back to the
//! kernel the pages of its own binary that only starting up needed: parsing the command line,
//! reading and validating the configuration, setting up logging, the control channel and the
//! runtime. An idle daemon then holds the code it runs, not the code it ran once.
//!
//! The pages are the binary's own read-only mappings (its code and constant data), which map the
//! file: `madvise(MADV_DONTNEED)` only removes them from this process's page tables. The file's
//! pages stay in the page cache, shared with every other process, so code that runs again comes
//! back with a minor fault, without I/O. Nothing a daemon wrote is touched: a mapping that holds
//! any page of its own (`Anonymous` in smaps, such as the relocated read-only data, or text a
//! debugger patched) is left whole, and so is locked memory (`resources.lock_memory`: what is
//! locked stays resident, which is what locking is for). While the whole process is locked there
//! is nothing to hand back, so the trim does not run at all: reading the maps would only grow the
//! locked heap, at a moment that depends on timing.
//!
//! This is what the kernel would do by itself under memory pressure; doing it at once makes an
//! idle daemon's resident set what it uses. `resources.trim_after_ready = false` keeps the pages.
//! One cost, for people who trace: a uprobe placed on the binary before the trim is lost for this
//! process (its breakpoint lives in a private copy of the page); place uprobes after the daemon is
//! ready, or turn the trim off.

/// How long after READY the second trim runs. The first, at READY, keeps a daemon that is stopped
/// at once (a restart) from exiting with every page starting up mapped: the kernel unmaps them all
/// at exit, before the service manager hears of it, and an untrimmed `01_counter` holds 7.5 MB
/// there, 4.4 MB of it its binary's code (the hand-written equivalent holds 4 MB). The tail of
/// starting up (the first round of `run`, the tasks started at READY) maps some back; by this
/// delay it is over, and the second trim hands that back too. Measured with `perf` tracepoints
/// (medians of 10 stops 20 ms after READY, several rounds): the kernel's teardown after the last
/// thread ends took 300–440 µs with one trim 250 ms after READY and 160–300 µs with these two; the
/// hand-written equivalent's took 160–285 µs.
pub const AFTER_READY: std::time::Duration = std::time::Duration::from_millis(250);

/// What a trim handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trimmed {
    /// Mappings of the binary that were trimmed.
    pub mappings: usize,
    /// Resident bytes they held before the trim.
    pub bytes: u64,
}

/// One mapping of the binary that may be trimmed: its address range and resident bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trimmable {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
    /// Resident bytes (smaps `Rss`).
    pub resident: u64,
}

/// The mappings in `smaps` (the text of `/proc/self/smaps`) of the file `exe` that can be trimmed:
/// private, not writable, resident, with no page of the process's own (`Anonymous: 0`) and none
/// locked (`Locked: 0`).
pub fn trimmable(smaps: &str, exe: &str) -> Vec<Trimmable> {
    let mut found = Vec::new();
    let mut current: Option<(Trimmable, bool)> = None;
    let mut finish = |entry: Option<(Trimmable, bool)>| {
        if let Some((mapping, true)) = entry
            && mapping.resident > 0
        {
            found.push(mapping);
        }
    };
    for line in smaps.lines() {
        if let Some(Header { range, perms, path }) = mapping_header(line) {
            finish(current.take());
            let ours = path == exe && perms.ends_with('p') && !perms.contains('w');
            current = range.map(|(start, end)| (Trimmable { start, end, resident: 0 }, ours));
            continue;
        }
        let Some((mapping, keep)) = current.as_mut() else { continue };
        let Some((key, kib)) = field(line) else { continue };
        match key {
            "Rss" => mapping.resident = kib * 1024,
            "Anonymous" | "Locked" if kib > 0 => *keep = false,
            _ => {}
        }
    }
    finish(current);
    found
}

/// A mapping's first line in smaps.
struct Header<'a> {
    /// Its address range, when it parses.
    range: Option<(usize, usize)>,
    perms: &'a str,
    path: &'a str,
}

/// `line` as a mapping's first line (`start-end perms offset dev inode path`), when it is one.
fn mapping_header(line: &str) -> Option<Header<'_>> {
    let mut words = line.splitn(6, ' ');
    let (start, end) = words.next()?.split_once('-')?;
    // A field line (`Rss:   4 kB`) has no dash-joined hex range first.
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let perms = words.next()?;
    let (_offset, _dev, _inode) = (words.next()?, words.next()?, words.next()?);
    let path = words.next().unwrap_or("").trim_start();
    let range = usize::from_str_radix(start, 16).ok().zip(usize::from_str_radix(end, 16).ok());
    Some(Header { range, perms, path })
}

/// A field line (`Rss:   1234 kB`): its key and value in KiB.
fn field(line: &str) -> Option<(&str, u64)> {
    let (key, rest) = line.split_once(':')?;
    let kib = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some((key, kib))
}

/// Trims this process's binary (see the module documentation).
#[cfg(target_os = "linux")]
pub fn trim_startup_pages() -> std::io::Result<Trimmed> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut trimmed = Trimmed::default();
    for mapping in trimmable(&smaps, &exe.to_string_lossy()) {
        // SAFETY: the range is a whole mapping of this process, read-only and private, holding
        // only pages of the file (no anonymous page, so nothing of the process's own is lost);
        // MADV_DONTNEED drops them from the page tables and the next access maps the same bytes
        // from the file again. No reference into the range changes meaning.
        let rc = unsafe {
            libc::madvise(mapping.start as *mut libc::c_void, mapping.end - mapping.start, libc::MADV_DONTNEED)
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        trimmed.mappings += 1;
        trimmed.bytes += mapping.resident;
    }
    Ok(trimmed)
}

/// Nothing to trim where smaps does not exist.
#[cfg(not(target_os = "linux"))]
pub fn trim_startup_pages() -> std::io::Result<Trimmed> {
    Ok(Trimmed::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/usr/local/bin/demo";

    /// A mapping's smaps entry: header, then the fields the trim reads among others.
    fn entry(range: &str, perms: &str, path: &str, rss: u64, anonymous: u64, locked: u64) -> String {
        format!(
            "{range} {perms} 00000000 fe:01 1234                       {path}\nSize:               64 kB\nRss:  \
             {rss} kB\nPss:                {rss} kB\nAnonymous:          {anonymous} kB\nLocked:             \
             {locked} kB\nVmFlags: rd ex mr mw me\n"
        )
    }

    #[test]
    fn only_the_binarys_clean_read_only_private_mappings_are_trimmed() {
        let smaps = [
            entry("55a000000000-55a000010000", "r--p", EXE, 40, 0, 0),
            entry("55a000010000-55a000400000", "r-xp", EXE, 2548, 0, 0),
            // Relocated read-only data: pages of the process's own, kept.
            entry("55a000400000-55a000415000", "r--p", EXE, 84, 84, 0),
            entry("55a000415000-55a000417000", "rw-p", EXE, 8, 8, 0),
            // Another file's code, a shared mapping and an anonymous one: not ours to trim.
            entry("7fa210800000-7fa210980000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1068, 0, 0),
            entry("7fa210a00000-7fa210a10000", "r--s", EXE, 16, 0, 0),
            entry("7fa210b00000-7fa210b21000", "rw-p", "", 4, 4, 0),
            // Not resident: nothing to hand back.
            entry("55a000420000-55a000430000", "r--p", EXE, 0, 0, 0),
        ]
        .concat();
        assert_eq!(
            trimmable(&smaps, EXE),
            [
                Trimmable { start: 0x55a0_0000_0000, end: 0x55a0_0001_0000, resident: 40 * 1024 },
                Trimmable { start: 0x55a0_0001_0000, end: 0x55a0_0040_0000, resident: 2548 * 1024 },
            ]
        );
    }

    #[test]
    fn locked_memory_and_a_patched_page_keep_the_whole_mapping() {
        let locked = entry("55a000010000-55a000400000", "r-xp", EXE, 2548, 0, 2548);
        assert_eq!(trimmable(&locked, EXE), []);
        // A debugger's breakpoint (or a uprobe) is a private copy of a page of code.
        let patched = entry("55a000010000-55a000400000", "r-xp", EXE, 2548, 4, 0);
        assert_eq!(trimmable(&patched, EXE), []);
        let clean = entry("55a000010000-55a000400000", "r-xp", EXE, 2548, 0, 0);
        assert_eq!(trimmable(&clean, EXE).len(), 1, "the same mapping, clean, is trimmed");
    }

    #[test]
    fn a_binary_replaced_on_disk_is_matched_by_the_name_the_kernel_gives_it() {
        // /proc/self/exe and the mapping both read "PATH (deleted)" once the file is replaced.
        let deleted = format!("{EXE} (deleted)");
        let smaps = entry("55a000010000-55a000400000", "r-xp", &deleted, 100, 0, 0);
        assert_eq!(trimmable(&smaps, &deleted).len(), 1);
        assert_eq!(trimmable(&smaps, EXE), [], "a different file");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn trimming_this_process_hands_back_its_code_and_the_process_runs_on() {
        let trimmed = trim_startup_pages().expect("trim");
        assert!(trimmed.mappings >= 1 && trimmed.bytes > 0, "{trimmed:?}");
        // The code runs again from the page cache.
        let sum: u64 = (1..=10u64).map(|n| n * n).sum();
        assert_eq!(sum, 385);
    }
}
