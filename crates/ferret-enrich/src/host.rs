//! Host context and the clock that turns kernel timestamps into wall time.

use std::fs;

use ferret_event::Host;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Reads hostname, boot id and kernel release.
pub fn host_info() -> Host {
    let read = |p: &str| fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
    Host {
        hostname: read("/proc/sys/kernel/hostname"),
        boot_id: read("/proc/sys/kernel/random/boot_id"),
        kernel: read("/proc/sys/kernel/osrelease"),
    }
}

fn clock_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Converts CLOCK_BOOTTIME nanoseconds (what the kernel stamps) to UTC.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Wall-clock time of boot, in ns since the epoch.
    boot_epoch_ns: i128,
}

impl Clock {
    /// Measures the offset between the wall clock and the boot clock now.
    pub fn now() -> Clock {
        let boot = clock_ns(libc::CLOCK_BOOTTIME);
        let real = clock_ns(libc::CLOCK_REALTIME);
        Clock { boot_epoch_ns: real - boot }
    }

    /// Wall-clock time of boot, in ns since the epoch (what a raw recording keeps).
    pub fn boot_epoch_ns(&self) -> i128 {
        self.boot_epoch_ns
    }

    /// A clock with a fixed boot time (tests, and replays of raw recordings).
    pub fn with_boot_epoch_ns(boot_epoch_ns: i128) -> Clock {
        Clock { boot_epoch_ns }
    }

    /// RFC 3339 (nanoseconds, UTC) of a boot-clock timestamp.
    pub fn rfc3339(&self, boot_ns: u64) -> String {
        rfc3339_epoch_ns(self.boot_epoch_ns + i128::from(boot_ns))
    }

    /// Current boot-clock time.
    pub fn boot_now_ns() -> u64 {
        clock_ns(libc::CLOCK_BOOTTIME).max(0) as u64
    }
}

/// RFC 3339 of nanoseconds since the epoch.
pub fn rfc3339_epoch_ns(ns: i128) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// Current wall time, RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339_epoch_ns(clock_ns(libc::CLOCK_REALTIME))
}

/// Clock ticks per second, as /proc reports process start times.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nanoseconds() {
        let c = Clock::with_boot_epoch_ns(1_700_000_000_000_000_000);
        assert_eq!(c.rfc3339(123_456_789), "2023-11-14T22:13:20.123456789Z");
    }
}
