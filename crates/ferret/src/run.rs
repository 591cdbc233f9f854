//! `ferret run` and `ferret record`: the live pipeline.
//!
//! Two threads, one direction. The reader thread polls the ring buffer,
//! decodes each record and enriches it (process table, lineage); it never
//! waits on disk, so the kernel side stays drained. The writer thread waits
//! (bounded) for executable hashes, then detects and writes the outputs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use ferret_bpf::decode::{KIND_DNS, KIND_EXEC, KIND_EXIT, KIND_FLOW, KIND_FORK, KIND_MAX, KIND_SYSCALL};
use ferret_bpf::{probe, KernelCounters, Sensor, SensorOptions};
use ferret_enrich::host::{host_info, now_rfc3339, Clock};
use ferret_enrich::{Enriched, Enricher};
use ferret_event::{Record, Stats};
use ferret_rules::RuleSet;

use crate::config::Config;
use crate::output::Outputs;

/// Exit code when ferret cannot run on this host (not root, no BTF...).
pub const EXIT_CANNOT_RUN: u8 = 2;

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: Config,
    pub duration: Option<Duration>,
    /// Also write every kernel record, as delivered, to this raw recording (`record --raw`).
    pub raw: Option<std::path::PathBuf>,
}

enum Msg {
    Event(Box<Enriched>),
    Stats(Box<Stats>),
}

/// Counters kept by the pipeline itself.
#[derive(Debug, Default)]
struct PipelineCounters {
    received: [AtomicU64; KIND_MAX as usize],
    decode_errors: AtomicU64,
    events_emitted: AtomicU64,
    findings_emitted: AtomicU64,
    output_errors: AtomicU64,
}

fn kind_name(kind: u32) -> &'static str {
    match kind {
        k if k == KIND_EXEC => "exec",
        k if k == KIND_FORK => "fork",
        k if k == KIND_EXIT => "exit",
        k if k == KIND_SYSCALL => "syscall",
        k if k == KIND_DNS => "dns",
        k if k == KIND_FLOW => "flow",
        _ => "other",
    }
}

fn stats_record(
    started: Instant,
    last: bool,
    pc: &PipelineCounters,
    kc: &KernelCounters,
    enricher: &Enricher,
) -> Stats {
    let mut received = BTreeMap::new();
    let mut kernel_dropped = BTreeMap::new();
    for kind in 1..KIND_MAX {
        received.insert(kind_name(kind).to_string(), pc.received[kind as usize].load(Ordering::Relaxed));
        kernel_dropped.insert(kind_name(kind).to_string(), kc.dropped(kind));
    }
    let cpus = kc.dropped_per_cpu.first().map(Vec::len).unwrap_or(0);
    let per_cpu = (0..cpus).map(|c| kc.dropped_per_cpu.iter().map(|k| k.get(c).copied().unwrap_or(0)).sum()).collect();
    let table = enricher.table().stats();
    let hs = enricher.hasher().stats();
    let mut other = BTreeMap::new();
    other.insert("scratch_miss".to_string(), kc.scratch_miss);
    other.insert("exec_entry_miss".to_string(), kc.exec_entry_miss);
    other.insert("open_filtered".to_string(), kc.open_filtered);
    other.insert("deduped".to_string(), kc.deduped);
    other.insert("flow_table_full".to_string(), kc.flow_table_full);
    other.insert("tcp_table_full".to_string(), kc.tcp_table_full);
    Stats {
        time: now_rfc3339(),
        uptime_secs: started.elapsed().as_secs_f64(),
        last,
        received,
        kernel_dropped,
        kernel_dropped_per_cpu: per_cpu,
        decode_errors: pc.decode_errors.load(Ordering::Relaxed),
        events_emitted: pc.events_emitted.load(Ordering::Relaxed),
        findings_emitted: pc.findings_emitted.load(Ordering::Relaxed),
        process_table: table.len as u64,
        process_table_evicted: table.evicted_by_cap,
        hash_cache_hits: hs.cache_hits.load(Ordering::Relaxed),
        hash_computed: hs.computed.load(Ordering::Relaxed),
        kernel_other: other,
        extra: BTreeMap::new(),
    }
}

/// The writer thread: finishes events and writes them.
fn writer(
    rx: Receiver<Msg>,
    mut outputs: Outputs,
    emit_events: bool,
    hash_wait: Duration,
    pc: Arc<PipelineCounters>,
    mut detect: crate::findings::Detect,
) {
    let write = |outputs: &mut Outputs, rec: &Record| {
        if let Err(e) = outputs.write(rec) {
            // Reported once; the count is in the summary.
            if pc.output_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("ferret: output error: {e:#}");
            }
        }
    };
    for msg in rx {
        let rec = match msg {
            Msg::Event(e) => {
                let ev = e.finish(hash_wait);
                for f in detect.event(&ev) {
                    pc.findings_emitted.fetch_add(1, Ordering::Relaxed);
                    write(&mut outputs, &Record::Finding(Box::new(f)));
                }
                if !emit_events {
                    continue;
                }
                pc.events_emitted.fetch_add(1, Ordering::Relaxed);
                Record::Event(Box::new(ev))
            }
            Msg::Stats(s) => {
                // Before the last record: the findings whose repeats are still being counted.
                if s.last {
                    for f in detect.drain() {
                        write(&mut outputs, &Record::Finding(Box::new(f)));
                    }
                }
                Record::Stats(s)
            }
        };
        write(&mut outputs, &rec);
    }
}

/// Checks the host; prints one line and returns the exit code if ferret cannot run.
pub fn preflight() -> Option<ExitCode> {
    let mut facts = probe::host_facts();
    if facts.privileges.is_ok() && !facts.tracefs.is_ok() {
        for e in probe::mount_pseudo_filesystems() {
            eprintln!("ferret: {e}");
        }
        facts = probe::host_facts();
    }
    if let Some(why) = probe::missing_requirement(&facts) {
        eprintln!("ferret: cannot run here: {why}");
        return Some(ExitCode::from(EXIT_CANNOT_RUN));
    }
    None
}

pub fn run(opts: RunOptions) -> Result<ExitCode> {
    if let Some(code) = preflight() {
        return Ok(code);
    }
    let cfg = &opts.config;
    let rules = crate::findings::load_rules(cfg.rules.defaults, &cfg.rules.paths)?;
    let outputs = Outputs::open(cfg.output.stdout, &cfg.output.files)?;

    // libbpf's warnings are useful (verifier failures), its info chatter is not.
    ferret_bpf::loader::log_libbpf_warnings();

    // Before anything is attached: a SIGINT from now on means a clean stop.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)).context("installing the signal handler")?;
    }

    // Before any thread starts: the pipeline's threads (reader, writer, hashing) inherit it.
    // SAFETY: setpriority on this thread (a tid is a PRIO_PROCESS target on Linux).
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, cfg.kernel.pipeline_nice) } != 0 {
        eprintln!(
            "ferret: kernel.pipeline_nice {} not applied: {}",
            cfg.kernel.pipeline_nice,
            std::io::Error::last_os_error()
        );
    }
    let host = host_info();
    let clock = Clock::now();
    let raw = match &opts.raw {
        Some(p) => Some(RefCell::new(crate::raw::Writer::create(
            p,
            &crate::raw::Header { boot_epoch_ns: clock.boot_epoch_ns().to_string(), host: host.clone() },
        )?)),
        None => None,
    };
    let mut enricher = Enricher::new(cfg.enrich_options(), host, clock);
    if cfg.containers.metadata {
        enricher = enricher.with_runtime(ferret_enrich::runtime::RuntimeMetadata::start(
            cfg.containers.runtime_socket.as_deref(),
            cfg.containers.containerd_socket.as_deref(),
            Duration::from_millis(cfg.containers.lookup_timeout_ms),
        ));
    }
    // Attach first, then seed: a process that starts in between is seen by
    // both, which the table tolerates; the other order would miss it.
    let sensor = match Sensor::start(&SensorOptions {
        ring_buffer_bytes: cfg.kernel.ring_buffer_mib * 1024 * 1024,
        report_threads: cfg.process.report_threads,
        wakeup_bytes: cfg.kernel.wakeup_bytes,
        dedup_window_ms: cfg.kernel.dedup_window_ms,
        dns_ports: cfg.dns.ports.clone(),
        flows: cfg.flows.enabled.then(|| ferret_bpf::FlowOptions {
            active: Duration::from_secs(cfg.flows.active_secs),
            udp_max: cfg.flows.udp_max,
            tcp_max: cfg.flows.tcp_max,
            batch_wait: Duration::from_millis(cfg.kernel.poll_ms),
        }),
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferret: cannot start the kernel side: {e:#}");
            return Ok(ExitCode::from(EXIT_CANNOT_RUN));
        }
    };
    let (interest_paths, interest_names) = open_interest(cfg, &rules);
    if let Err(e) = sensor.set_open_interest(&interest_paths, &interest_names) {
        eprintln!("ferret: {e:#}");
        return Ok(ExitCode::from(1));
    }
    if let Some(why) = sensor.dns_off() {
        eprintln!("ferret: DNS capture off: {why}");
    }
    if let Some(why) = sensor.flows_off() {
        eprintln!("ferret: flow records off: {why}");
    }
    let seeded = enricher.seed();
    eprintln!(
        "ferret: running; {} programs, {} syscalls watched, {} processes seeded from /proc{}",
        sensor.program_names().len(),
        ferret_bpf::loader::SYSCALL_HOOKS.len(),
        seeded,
        if cfg.output.events { ", emitting all events" } else { "" }
    );

    let pc = Arc::new(PipelineCounters::default());
    let (tx, rx): (Sender<Msg>, Receiver<Msg>) = bounded(65_536);
    let detect = crate::findings::Detect::from_config(rules, cfg, true)?;
    let writer_thread = {
        let pc = pc.clone();
        let emit = cfg.output.events;
        let wait = Duration::from_millis(cfg.process.hash_wait_ms);
        thread::Builder::new()
            .name("ferret-writer".into())
            .spawn(move || writer(rx, outputs, emit, wait, pc, detect))?
    };

    let started = Instant::now();
    let enricher = RefCell::new(enricher);
    {
        let tx_events = tx.clone();
        let pc_cb = pc.clone();
        let enricher_cb = &enricher;
        let raw_cb = raw.as_ref();
        let raw_errors = std::cell::Cell::new(0u64);
        let raw_errors = &raw_errors;
        // Every record, from the ring buffer or from the UDP flow table.
        let handle = move |data: &[u8]| {
            if let Some(w) = raw_cb {
                if let Err(e) = w.borrow_mut().write(data) {
                    if raw_errors.replace(raw_errors.get() + 1) == 0 {
                        eprintln!("ferret: raw recording: {e:#}");
                    }
                }
            }
            match ferret_bpf::decode(data) {
                Ok(rec) => {
                    pc_cb.received[rec.kind() as usize].fetch_add(1, Ordering::Relaxed);
                    let ev = enricher_cb.borrow_mut().enrich(rec);
                    let _ = tx_events.send(Msg::Event(Box::new(ev)));
                }
                Err(_) => {
                    pc_cb.decode_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        let handle = &handle;
        let rb = sensor.ring_buffer(move |data| {
            handle(data);
            true
        })?;
        let udp_idle = Duration::from_secs(cfg.flows.udp_idle_secs);
        let flow_active = Duration::from_secs(cfg.flows.active_secs);
        let mut udp_reported = std::collections::HashMap::new();
        let mut next_udp_scan = Instant::now() + Duration::from_secs(1);

        let interval = (cfg.stats.interval_secs > 0).then(|| Duration::from_secs(cfg.stats.interval_secs));
        let mut next_stats = interval.map(|i| Instant::now() + i);
        let tick = Duration::from_millis(cfg.kernel.poll_ms);
        ferret_bpf::loader::poll_until(&rb, tick, sensor.close_batch_wait(), || {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            if opts.duration.is_some_and(|d| started.elapsed() >= d) {
                return false;
            }
            if cfg.flows.enabled && Instant::now() >= next_udp_scan {
                next_udp_scan = Instant::now() + Duration::from_secs(1);
                let now = Clock::boot_now_ns();
                for rec in sensor.scan_udp_flows(now, udp_idle, flow_active, false, &mut udp_reported) {
                    handle(&rec);
                }
            }
            if let (Some(at), Some(every)) = (next_stats, interval) {
                if Instant::now() >= at {
                    next_stats = Some(at + every);
                    if let Ok(kc) = sensor.counters() {
                        let s = stats_record(started, false, &pc, &kc, &enricher.borrow());
                        let _ = tx.send(Msg::Stats(Box::new(s)));
                    }
                }
            }
            true
        })?;
        // Conversations still going are reported as they stand.
        if cfg.flows.enabled {
            for rec in sensor.scan_udp_flows(Clock::boot_now_ns(), udp_idle, flow_active, true, &mut udp_reported) {
                handle(&rec);
            }
        }
    }

    if let Some(w) = raw {
        w.into_inner().finish().context("finishing the raw recording")?;
    }
    let kc = sensor.counters().unwrap_or_default();
    drop(sensor); // detach before the final flush: nothing new arrives now
    let last = stats_record(started, true, &pc, &kc, &enricher.borrow());
    let _ = tx.send(Msg::Stats(Box::new(last.clone())));
    drop(tx);
    let _ = writer_thread.join();
    print_summary(&last, pc.output_errors.load(Ordering::Relaxed));
    Ok(ExitCode::SUCCESS)
}

/// The configuration's interest set plus what the rules need (see `ferret_rules::interest`).
fn open_interest(cfg: &crate::config::Config, rules: &RuleSet) -> (Vec<String>, Vec<String>) {
    let need = rules.open_interest();
    let mut paths: Vec<String> = cfg.files.interest_paths.clone();
    let mut names: Vec<String> = cfg.files.interest_names.clone();
    for p in need.paths {
        // The kernel's key holds 254 bytes; a longer rule path is covered by its directory.
        let p = if p.len() > 253 {
            let mut cut = 200;
            while !p.is_char_boundary(cut) {
                cut -= 1;
            }
            match p[..cut].rsplit_once('/') {
                Some((d, _)) => format!("{d}/"),
                None => continue,
            }
        } else {
            p
        };
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    for n in need.names {
        if n.len() <= ferret_rules::interest::MAX_NAME && !names.contains(&n) {
            names.push(n);
        }
    }
    if !need.unbounded.is_empty() {
        eprintln!(
            "ferret: {} rules could match read-only opens of any file; the kernel reports only the interest set (files.interest_*, and the paths other rules name): {}",
            need.unbounded.len(),
            need.unbounded.join(", ")
        );
    }
    (paths, names)
}

fn print_summary(s: &Stats, output_errors: u64) {
    let join = |m: &BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
    eprintln!("ferret: stopped after {:.1}s", s.uptime_secs);
    eprintln!("ferret:   received from kernel: {}", join(&s.received));
    eprintln!(
        "ferret:   lost in kernel (ring buffer full): {} (per CPU: {:?})",
        join(&s.kernel_dropped),
        s.kernel_dropped_per_cpu
    );
    eprintln!(
        "ferret:   decode errors: {}  events emitted: {}  findings: {}  output errors: {}",
        s.decode_errors, s.events_emitted, s.findings_emitted, output_errors
    );
    eprintln!(
        "ferret:   process table: {} (evicted by cap: {})  hashes: {} computed, {} cache hits",
        s.process_table, s.process_table_evicted, s.hash_computed, s.hash_cache_hits
    );
}
