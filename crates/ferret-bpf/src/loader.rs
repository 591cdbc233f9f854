//! Loads and attaches the process programs, drains the ring buffer, and reads
//! the kernel-side loss counters.

use std::mem::MaybeUninit;
use std::time::Duration;

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, RingBuffer, RingBufferBuilder};

use crate::decode::KIND_MAX;
use crate::skel::process::{ProcessSkel, ProcessSkelBuilder};
use crate::skel::process::types::counter_index;

/// What the kernel side is told before it is loaded.
#[derive(Debug, Clone)]
pub struct SensorOptions {
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_buffer_bytes: u32,
    /// Report new threads as well as new processes.
    pub report_threads: bool,
    /// Bytes pending in the ring before the reader is woken (0: every
    /// record). Below it, records wait for the reader's next poll tick.
    pub wakeup_bytes: u32,
}

impl Default for SensorOptions {
    fn default() -> Self {
        Self { ring_buffer_bytes: 16 * 1024 * 1024, report_threads: true, wakeup_bytes: 64 * 1024 }
    }
}

/// The loaded and attached kernel side. Dropping it detaches every program.
pub struct Sensor {
    skel: ProcessSkel<'static>,
}

impl std::fmt::Debug for Sensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sensor").finish_non_exhaustive()
    }
}

/// Kernel-side counters, summed over CPUs unless said otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Records lost because the ring buffer was full, per record kind
    /// (index = kind), and per CPU within each kind.
    pub dropped_per_cpu: Vec<Vec<u64>>,
    /// Per-CPU scratch memory unavailable (should stay 0).
    pub scratch_miss: u64,
    /// A failed exec whose entry record was missing (the LRU evicted it).
    pub exec_entry_miss: u64,
}

impl KernelCounters {
    /// Drops of one record kind, summed over CPUs.
    pub fn dropped(&self, kind: u32) -> u64 {
        self.dropped_per_cpu.get(kind as usize).map(|v| v.iter().sum()).unwrap_or(0)
    }
    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_per_cpu.iter().flatten().sum()
    }
}

impl Sensor {
    /// Opens, configures, loads (the verifier runs here) and attaches.
    pub fn start(opts: &SensorOptions) -> Result<Sensor> {
        // The skeleton borrows its object storage for as long as it lives;
        // the sensor lives until the process ends, so the few bytes of
        // storage are leaked on purpose.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = ProcessSkelBuilder::default().open(storage).context("opening the eBPF object")?;

        let cpus = libbpf_rs::num_possible_cpus().context("counting possible CPUs")?;
        open.maps.exec_scratch.set_max_entries(cpus as u32).context("sizing exec_scratch")?;
        open.maps.events.set_max_entries(opts.ring_buffer_bytes).context("sizing the ring buffer")?;
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.report_threads = opts.report_threads;
            ro.self_tgid = std::process::id();
            ro.wakeup_bytes = opts.wakeup_bytes;
        }
        let mut skel = open.load().context("loading the eBPF programs (verifier)")?;
        skel.attach().context("attaching the eBPF programs")?;
        Ok(Sensor { skel })
    }

    /// Builds a ring-buffer reader that hands every raw record to `on_record`.
    /// `on_record` returns `false` to stop the current poll early.
    pub fn ring_buffer<'a, F>(&'a self, mut on_record: F) -> Result<RingBuffer<'a>>
    where
        F: FnMut(&[u8]) -> bool + 'a,
    {
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&self.skel.maps.events, move |data: &[u8]| if on_record(data) { 0 } else { 1 })
            .context("adding the ring buffer")?;
        builder.build().context("building the ring buffer reader")
    }

    /// Reads the per-CPU counters.
    pub fn counters(&self) -> Result<KernelCounters> {
        let map = &self.skel.maps.counters;
        let read = |idx: u32| -> Result<Vec<u64>> {
            let per_cpu = map
                .lookup_percpu(&idx.to_ne_bytes(), MapFlags::ANY)
                .with_context(|| format!("reading counter {idx}"))?
                .unwrap_or_default();
            Ok(per_cpu
                .iter()
                .map(|b| b.get(..8).and_then(|s| s.try_into().ok()).map(u64::from_ne_bytes).unwrap_or(0))
                .collect())
        };
        let mut out = KernelCounters::default();
        for kind in 0..KIND_MAX {
            out.dropped_per_cpu.push(read(kind)?);
        }
        out.scratch_miss = read(counter_index::COUNTER_SCRATCH_MISS.0)?.iter().sum();
        out.exec_entry_miss = read(counter_index::COUNTER_EXEC_ENTRY_MISS.0)?.iter().sum();
        Ok(out)
    }

    /// Names of the attached programs, for logs and `doctor`.
    pub fn program_names(&self) -> Vec<String> {
        self.skel
            .object()
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect()
    }
}

/// Polls `rb` until `keep_going` says stop; returns the first poll error.
/// Every `tick` it also reads what arrived without a wakeup (see
/// `SensorOptions::wakeup_bytes`), so a record waits at most one tick.
pub fn poll_until(rb: &RingBuffer<'_>, tick: Duration, mut keep_going: impl FnMut() -> bool) -> Result<()> {
    while keep_going() {
        match rb.poll(tick) {
            Ok(()) => {}
            Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("polling the ring buffer"),
        }
        match rb.consume() {
            Ok(()) => {}
            Err(e) if e.kind() == libbpf_rs::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the ring buffer"),
        }
    }
    // Drain what is left so nothing already delivered is lost at shutdown.
    let _ = rb.consume();
    Ok(())
}

/// Routes libbpf's warnings (verifier failures among them) to stderr and
/// drops its informational chatter.
pub fn log_libbpf_warnings() {
    libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, |_, msg: String| eprint!("libbpf: {msg}"))));
}
