//! CPU time, resident memory and open file descriptors of a process, from
//! `/proc/<pid>/stat`, `/proc/<pid>/status` and `/proc/<pid>/fd`.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// One reading.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    pub at: Instant,
    /// User + system CPU time so far.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub rss: u64,
    /// Open file descriptors (0 when `/proc/<pid>/fd` cannot be read).
    pub fds: u64,
}

/// Reads the process now; `None` when it is gone.
pub fn read(pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Reading {
        at: Instant::now(),
        cpu: cpu_time(&stat)?,
        rss: rss_bytes(&status)?,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0),
    })
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15, after the `(comm)`).
pub fn cpu_time(stat: &str) -> Option<Duration> {
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / CLK_TCK))
}

/// `VmRSS` of a `/proc/<pid>/status` text, in bytes.
pub fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU use between two readings, in cores (1.0 = one core busy).
pub fn cores(a: &Reading, b: &Reading) -> f64 {
    let wall = b.at.saturating_duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    b.cpu.saturating_sub(a.cpu).as_secs_f64() / wall
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat =
            "1234 (shoal hub) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_time(stat), Some(Duration::from_secs(3)));
        let status = "Name:\tshoal-hub\nVmRSS:\t  20480 kB\nThreads:\t9\n";
        assert_eq!(rss_bytes(status), Some(20 * 1024 * 1024));
        let me = read(std::process::id()).expect("own process");
        assert!(me.rss > 0);
        assert!(me.fds > 0, "at least stdin/stdout/stderr");
    }
}
