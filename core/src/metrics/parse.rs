//! Pure parsers for the `/proc` text formats the metrics module reads.
//!
//! Owns: turning the text of `/proc/PID/stat`, `/proc/PID/smaps(_rollup)` and
//! `/proc/PID/cmdline` into numbers and strings. Does not own: opening files or
//! deciding what a missing file means (that is [`super::process`]).

use super::MetricsError;

/// The fields of `/proc/PID/stat` this crate uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatInfo {
    /// Process id (field 1).
    pub pid: u32,
    /// Executable name as the kernel keeps it (field 2, max 15 bytes, may hold spaces or parens).
    pub comm: String,
    /// One-letter state (field 3): `R`, `S`, `D`, `Z`, `T`, ...
    pub state: char,
    /// Parent process id (field 4).
    pub ppid: u32,
    /// Process group id (field 5).
    pub pgid: u32,
    /// Kernel `PF_*` flags (field 9); used to recognise kernel threads.
    pub flags: u64,
    /// User-mode CPU time in clock ticks (field 14).
    pub utime: u64,
    /// Kernel-mode CPU time in clock ticks (field 15).
    pub stime: u64,
    /// Number of threads (field 20).
    pub num_threads: u64,
    /// Start time in clock ticks after boot (field 22).
    pub start_time: u64,
    /// Virtual memory size in bytes (field 23).
    pub vsize_bytes: u64,
    /// Resident set size in pages (field 24).
    pub rss_pages: u64,
}

/// `PF_KTHREAD`: set in the stat flags of kernel threads, which have no memory map.
const PF_KTHREAD: u64 = 0x0020_0000;

impl StatInfo {
    /// Whether this is a kernel thread (no cmdline, no smaps worth reading).
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0 || self.pid == 2 || self.ppid == 2
    }

    /// Whether the process has exited but not been reaped (or is being torn down).
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/PID/stat`.
///
/// The command name sits between the first `(` and the *last* `)`, because it may
/// itself contain spaces and parentheses (`(my (odd) name)`).
pub fn parse_stat(text: &str) -> Result<StatInfo, MetricsError> {
    let malformed = |detail: &str| MetricsError::Malformed {
        what: "stat",
        detail: format!("{detail}: {:?}", truncate_for_error(text)),
    };
    let open = text.find('(').ok_or_else(|| malformed("no '('"))?;
    let close = text.rfind(')').ok_or_else(|| malformed("no ')'"))?;
    if close < open {
        return Err(malformed("')' before '('"));
    }
    let pid: u32 = text[..open]
        .trim()
        .parse()
        .map_err(|_| malformed("bad pid"))?;
    let comm = text[open + 1..close].to_string();
    // Fields after the comm, numbered from 0 = field 3 (state).
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    if rest.len() < 22 {
        return Err(malformed("too few fields"));
    }
    let num = |idx: usize, name: &str| -> Result<u64, MetricsError> {
        rest[idx]
            .parse::<u64>()
            .map_err(|_| malformed(&format!("bad {name}")))
    };
    let small = |idx: usize, name: &str| -> Result<u32, MetricsError> {
        // ppid/pgrp are `%d`; a negative value would be a kernel bug, treat as malformed.
        rest[idx]
            .parse::<u32>()
            .map_err(|_| malformed(&format!("bad {name}")))
    };
    let state = rest[0]
        .chars()
        .next()
        .ok_or_else(|| malformed("no state"))?;
    Ok(StatInfo {
        pid,
        comm,
        state,
        ppid: small(1, "ppid")?,
        pgid: small(2, "pgrp")?,
        flags: num(6, "flags")?,
        utime: num(11, "utime")?,
        stime: num(12, "stime")?,
        num_threads: num(17, "num_threads")?,
        start_time: num(19, "starttime")?,
        vsize_bytes: num(20, "vsize")?,
        rss_pages: num(21, "rss")?,
    })
}

/// Memory totals summed over every mapping in an smaps text, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmapsTotals {
    /// Sum of `Private_Dirty:`: memory only this process can have written.
    pub private_dirty_kb: u64,
    /// Sum of `Pss:` (proportional set size).
    pub pss_kb: u64,
    /// Sum of `Swap:`.
    pub swap_kb: u64,
    /// Sum of `Rss:`.
    pub rss_kb: u64,
    /// How many `Private_Dirty:` lines were seen (0 for an empty file).
    pub entries: u32,
}

/// Parses `/proc/PID/smaps_rollup` or `/proc/PID/smaps` text.
///
/// Both formats are `Key:   <n> kB` lines; the rollup has one block, smaps one per
/// mapping, so summing works for either. Keys are matched exactly, so `Pss_Dirty:` or
/// `SwapPss:` never count as `Pss:` or `Swap:`. Unknown or odd lines are ignored,
/// because the kernel adds fields over time.
pub fn parse_smaps(text: &str) -> SmapsTotals {
    let mut totals = SmapsTotals::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "Private_Dirty" => {
                totals.entries += 1;
                &mut totals.private_dirty_kb
            }
            "Pss" => &mut totals.pss_kb,
            "Swap" => &mut totals.swap_kb,
            "Rss" => &mut totals.rss_kb,
            _ => continue,
        };
        let number = value.split_ascii_whitespace().next().unwrap_or("");
        if let Ok(kb) = number.parse::<u64>() {
            *slot = slot.saturating_add(kb);
        }
    }
    totals
}

/// Splits `/proc/PID/cmdline` bytes into arguments.
///
/// Arguments are NUL-separated with a trailing NUL. Processes that rewrite their
/// title (Passenger-style `Passenger core`) often leave one long argument without
/// NULs, or trailing NUL padding; empty trailing pieces are dropped.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let mut args: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
        .collect();
    while args.last().is_some_and(|a| a.is_empty()) {
        args.pop();
    }
    args
}

fn truncate_for_error(text: &str) -> &str {
    match text.char_indices().nth(120) {
        Some((idx, _)) => &text[..idx],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_ODD_COMM: &str = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1200 0 3 0 \
        57 13 0 0 20 0 3 0 987654 123457536 2048 18446744073709551615 1 1 0 0 0 0 0 4096 \
        16384 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let s = parse_stat(STAT_ODD_COMM).expect("invariant: literal is well formed");
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "my (odd) name");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgid, 4242);
        assert_eq!(s.utime, 57);
        assert_eq!(s.stime, 13);
        assert_eq!(s.num_threads, 3);
        assert_eq!(s.start_time, 987_654);
        assert_eq!(s.vsize_bytes, 123_457_536);
        assert_eq!(s.rss_pages, 2048);
        assert!(!s.is_kernel_thread());
        assert!(!s.is_dead());
    }

    #[test]
    fn stat_of_kernel_thread_and_zombie() {
        let k = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0 \
                 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0";
        assert!(parse_stat(k)
            .expect("invariant: literal")
            .is_kernel_thread());
        let z = "77 (sh) Z 10 77 77 0 -1 4227084 0 0 0 0 1 1 0 0 20 0 1 0 500 0 0 \
                 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        assert!(parse_stat(z).expect("invariant: literal").is_dead());
    }

    #[test]
    fn stat_malformed_is_an_error_not_a_panic() {
        for bad in [
            "",
            "12",
            "12 (x",
            "12 (x) S 1",
            "x (y) S 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2",
        ] {
            assert!(
                matches!(parse_stat(bad), Err(MetricsError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    const ROLLUP: &str = "\
55f1c0a3e000-7ffd6b5f9000 ---p 00000000 00:00 0                          [rollup]
Rss:               11764 kB
Pss:                8163 kB
Pss_Dirty:          6100 kB
Pss_Anon:           6000 kB
Pss_File:           2163 kB
Pss_Shmem:             0 kB
Shared_Clean:       3412 kB
Shared_Dirty:        188 kB
Private_Clean:      2064 kB
Private_Dirty:      6100 kB
Referenced:        11764 kB
Anonymous:          6000 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
Swap:                 12 kB
SwapPss:              12 kB
Locked:                0 kB
";

    #[test]
    fn smaps_rollup_exact_keys_only() {
        let t = parse_smaps(ROLLUP);
        assert_eq!(t.private_dirty_kb, 6100);
        assert_eq!(
            t.pss_kb, 8163,
            "Pss_* and SwapPss must not be summed into Pss"
        );
        assert_eq!(t.swap_kb, 12);
        assert_eq!(t.rss_kb, 11764);
        assert_eq!(t.entries, 1);
    }

    const SMAPS: &str = "\
5581d1a00000-5581d1a28000 r--p 00000000 08:01 1311   /usr/bin/python3.11
Size:                160 kB
KernelPageSize:        4 kB
Rss:                 160 kB
Pss:                  80 kB
Private_Clean:         0 kB
Private_Dirty:         4 kB
Swap:                  0 kB
SwapPss:               0 kB
VmFlags: rd mr mw me dw sd
7f0c5c000000-7f0c5c021000 rw-p 00000000 00:00 0
Size:                132 kB
Rss:                 100 kB
Pss:                 100 kB
Private_Dirty:       100 kB
Swap:                 32 kB
THPeligible:    0
VmFlags: rd wr mr mw me nr sd
7ffd6b5d8000-7ffd6b5f9000 rw-p 00000000 00:00 0                          [stack]
Rss:                  24 kB
Pss:                  24 kB
Private_Dirty:        24 kB
Swap:                  0 kB
";

    #[test]
    fn full_smaps_is_summed_over_mappings() {
        let t = parse_smaps(SMAPS);
        assert_eq!(t.private_dirty_kb, 128);
        assert_eq!(t.pss_kb, 204);
        assert_eq!(t.swap_kb, 32);
        assert_eq!(t.rss_kb, 284);
        assert_eq!(t.entries, 3);
    }

    #[test]
    fn empty_or_garbage_smaps_is_zero() {
        assert_eq!(parse_smaps(""), SmapsTotals::default());
        let t = parse_smaps("Private_Dirty: lots kB\nnonsense\n");
        assert_eq!(t.private_dirty_kb, 0);
    }

    #[test]
    fn cmdline_splitting() {
        assert_eq!(
            parse_cmdline(b"python3\0app.py\0--port\x000\0"),
            ["python3", "app.py", "--port", "0"]
        );
        assert_eq!(parse_cmdline(b"Passenger core\0\0\0"), ["Passenger core"]);
        assert!(parse_cmdline(b"").is_empty());
    }
}
