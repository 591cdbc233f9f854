//! `make bench`: what ferret costs the workloads it watches, against no sensor, the floor
//! (count-only programs on ferret's hooks), auditd and bpftrace on the same syscalls; measured in
//! one run, interleaved and repeated, reported as ratios (median, min, max), never as absolute
//! pass/fail times. Also detection latency, a stress run, replay throughput and a chart.
//! See bench/README.md.

mod chart;
mod overhead {
    pub mod extras;
    pub mod paired;
    pub mod setups;
    pub mod workloads;
}

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

use overhead::extras;
use overhead::setups::{self, Active, Setup, Usage};
use overhead::workloads::{self, Sizes, Workload};

#[derive(Parser, Debug)]
struct Args {
    /// Rounds; each runs every setup once, in rotated order.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// fork+exec of /bin/true per measurement.
    #[arg(long, default_value_t = 1000)]
    execs: usize,
    /// open+close pairs per measurement.
    #[arg(long, default_value_t = 200_000)]
    opens: usize,
    /// TCP connect+accept+close on loopback per measurement.
    #[arg(long, default_value_t = 10_000)]
    connects: usize,
    /// DNS queries (UDP, answered by a local dnsmasq) per measurement.
    #[arg(long, default_value_t = 3000)]
    queries: usize,
    /// redis-benchmark requests per test (PING_INLINE and SET) per measurement.
    #[arg(long, default_value_t = 50_000)]
    redis_requests: usize,
    /// Setups to run (names: off, floor, ferret, corpus, auditd, bpftrace; and noflows, ferret with
    /// flow records off, only when named); default all but noflows.
    #[arg(long, value_delimiter = ',')]
    setups: Vec<String>,
    /// Rounds of the paired A/B of the open and connect loops (no sensor, floor, ferret, seconds
    /// apart); 0 skips it.
    #[arg(long, default_value_t = 20)]
    paired_rounds: usize,
    /// Findings timed for the detection latency.
    #[arg(long, default_value_t = 200)]
    latency_triggers: usize,
    /// Seconds of the stress-ng storm (0 skips it).
    #[arg(long, default_value_t = 60)]
    stress_secs: u64,
    /// Events replayed for the throughput figure (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    replay_events: usize,
    /// Target exec rate of the loss check (execs per second).
    #[arg(long, default_value_t = 2000)]
    loss_rate: u64,
    /// Seconds of the loss check.
    #[arg(long, default_value_t = 5)]
    loss_secs: u64,
    /// Where to write the markdown report.
    #[arg(long, default_value = "bench/results/latest.md")]
    report: PathBuf,
    /// Where to draw the chart.
    #[arg(long, default_value = "bench/results/overhead.png")]
    chart: PathBuf,
    /// The ferret binary.
    #[arg(long, default_value = "target/release/ferret")]
    ferret: PathBuf,
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    let med = if s.is_empty() { f64::NAN } else { s[s.len() / 2] };
    (med, s.first().copied().unwrap_or(f64::NAN), s.last().copied().unwrap_or(f64::NAN))
}

fn setup_named(n: &str) -> Option<Setup> {
    Some(match n {
        "off" => Setup::Off,
        "floor" => Setup::Floor,
        "ferret" => Setup::Ferret,
        "corpus" => Setup::FerretCorpus,
        "auditd" => Setup::Auditd,
        "bpftrace" => Setup::Bpftrace,
        "noflows" => Setup::FerretNoFlows,
        _ => return None,
    })
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    format!("Linux {}, {cpus} CPUs ({model}), {mem} of memory", kernel.trim())
}

fn main() -> Result<()> {
    let args = Args::parse();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the benchmark loads eBPF programs and runs auditd: run it as root (make bench)");
    }
    if !args.ferret.exists() {
        bail!("{} not built (make bench builds it)", args.ferret.display());
    }
    let chosen: Vec<Setup> = if args.setups.is_empty() {
        setups::ALL.to_vec()
    } else {
        let mut v = vec![Setup::Off];
        for n in &args.setups {
            match setup_named(n) {
                Some(s) if !v.contains(&s) => v.push(s),
                Some(_) => {}
                None => bail!("unknown setup {n:?} (off, floor, ferret, corpus, auditd, bpftrace, noflows)"),
            }
        }
        v
    };
    let dir = tempfile::tempdir()?;
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, b"not sensitive")?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let (_dns, dns_addr) = workloads::dns_server()?;
    let _redis = workloads::redis_server()?;
    let krate = workloads::build_crate(dir.path())?;
    // Warm caches (the first build fetches nothing but fills the page cache).
    workloads::build(&krate)?;
    let sizes = Sizes {
        execs: args.execs,
        opens: args.opens,
        connects: args.connects,
        queries: args.queries,
        redis_requests: args.redis_requests,
    };

    // ns per operation, per setup and workload, one per round; and the ratios to no sensor.
    let nw = workloads::ALL.len();
    let mut ns = vec![vec![Vec::new(); nw]; chosen.len()];
    let mut ratio = vec![vec![Vec::new(); nw]; chosen.len()];
    let mut usage: Vec<Usage> = Vec::new();
    for round in 0..args.rounds {
        let mut order: Vec<usize> = (0..chosen.len()).collect();
        order.rotate_left(round % chosen.len());
        let mut this = vec![vec![f64::NAN; nw]; chosen.len()];
        for &i in &order {
            let setup = chosen[i];
            let active = Active::start(setup, &args.ferret, dir.path())?;
            let (ping, set) = workloads::redis_benchmark(sizes.redis_requests)?;
            let row = [
                workloads::exec_loop(sizes.execs)?,
                workloads::open_loop(sizes.opens, &plain)?,
                workloads::connect_loop(sizes.connects, &listener)?,
                workloads::dns_loop(sizes.queries, dns_addr)?,
                ping,
                set,
                workloads::build(&krate)?,
            ];
            if let Some(u) = active.stop()? {
                usage.push(u);
            }
            eprintln!(
                "round {} {:<26} {}",
                round + 1,
                setup.name(),
                workloads::ALL
                    .iter()
                    .zip(row)
                    .map(|(w, v)| format!("{} {:.0}", w.name(), v))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
            this[i] = row.to_vec();
        }
        for (i, per) in this.iter().enumerate() {
            for w in 0..nw {
                ns[i][w].push(per[w]);
                ratio[i][w].push(per[w] / this[0][w]);
            }
        }
    }

    let mut r = String::new();
    r.push_str(&format!(
        "{}. {} rounds, setups interleaved in rotated order. Per measurement: {} fork+exec of /bin/true; {} open+close of a plain file (read-only); {} TCP connect+accept+close on loopback; {} DNS queries to a local dnsmasq, 16 in flight; redis-benchmark -n {} PING_INLINE and SET against a local redis-server; one clean release build of a small crate.\n\n",
        machine(),
        args.rounds,
        sizes.execs,
        sizes.opens,
        sizes.connects,
        sizes.queries,
        sizes.redis_requests
    ));
    r.push_str("Time per operation relative to no sensor, median (min-max) over the rounds:\n\n| workload |");
    for s in &chosen[1..] {
        r.push_str(&format!(" {} |", s.name()));
    }
    r.push_str("\n|---|");
    r.push_str(&"---|".repeat(chosen.len() - 1));
    r.push('\n');
    for (w, wl) in workloads::ALL.iter().enumerate() {
        r.push_str(&format!("| {} |", wl.name()));
        for per in &ratio[1..] {
            let (m, lo, hi) = stats(&per[w]);
            r.push_str(&format!(" {m:.3} ({lo:.2}-{hi:.2}) |"));
        }
        r.push('\n');
    }
    r.push_str("\nMedian time per operation (ns; the build: ms):\n\n| workload |");
    for s in &chosen {
        r.push_str(&format!(" {} |", s.name()));
    }
    r.push_str("\n|---|");
    r.push_str(&"---|".repeat(chosen.len()));
    r.push('\n');
    for (w, wl) in workloads::ALL.iter().enumerate() {
        r.push_str(&format!("| {} |", wl.name()));
        for per in &ns {
            let m = stats(&per[w]).0;
            if *wl == Workload::Build {
                r.push_str(&format!(" {:.0} |", m / 1e6));
            } else {
                r.push_str(&format!(" {m:.0} |"));
            }
        }
        r.push('\n');
    }
    // Added cost against the floor's and auditd's, per workload.
    let idx = |s: Setup| chosen.iter().position(|c| *c == s);
    let added = |i: usize, w: usize| stats(&ratio[i][w]).0 - 1.0;
    r.push('\n');
    for (w, wl) in workloads::ALL.iter().enumerate() {
        let mut parts = Vec::new();
        for s in &chosen[1..] {
            if let Some(i) = idx(*s) {
                parts.push(format!("{} {:+.1}%", s.name(), added(i, w) * 100.0));
            }
        }
        let mut line = format!("- {}: {}", wl.name(), parts.join(", "));
        if let (Some(fl), Some(fe)) = (idx(Setup::Floor), idx(Setup::Ferret)) {
            if added(fl, w) > 0.02 {
                line.push_str(&format!("; ferret's added cost is {:.2}x the floor's", added(fe, w) / added(fl, w)));
            }
        }
        if let (Some(au), Some(fe)) = (idx(Setup::Auditd), idx(Setup::Ferret)) {
            if added(fe, w) > 0.005 {
                line.push_str(&format!("; auditd's is {:.1}x ferret's", added(au, w) / added(fe, w)));
            }
        }
        line.push('\n');
        r.push_str(&line);
    }

    if !usage.is_empty() {
        r.push_str("\nferret during the rounds (median over its runs):\n\n| setup | CPU s per run | peak RSS (MiB) | events/s received from the kernel | kernel drops (all runs) |\n|---|---|---|---|---|\n");
        for s in [Setup::Ferret, Setup::FerretCorpus, Setup::FerretNoFlows] {
            let runs: Vec<&Usage> = usage.iter().filter(|u| u.setup == s).collect();
            if runs.is_empty() {
                continue;
            }
            let cpu: Vec<f64> = runs.iter().map(|u| u.cpu_s).collect();
            let rss = runs.iter().map(|u| u.peak_rss_kib).max().unwrap_or(0);
            let rate: Vec<f64> = runs.iter().map(|u| u.received as f64 / u.secs.max(1e-9)).collect();
            let drops: u64 = runs.iter().map(|u| u.dropped).sum();
            r.push_str(&format!(
                "| {} | {:.2} | {:.1} | {:.0} | {} |\n",
                s.name(),
                stats(&cpu).0,
                rss as f64 / 1024.0,
                stats(&rate).0,
                drops
            ));
        }
    }

    let groups: Vec<chart::Group> = workloads::ALL
        .iter()
        .enumerate()
        .map(|(w, wl)| chart::Group {
            workload: wl.name().to_string(),
            ratios: (1..chosen.len()).map(|i| stats(&ratio[i][w])).collect(),
        })
        .collect();
    let names: Vec<&str> = chosen[1..].iter().map(|s| s.name()).collect();
    if let Some(parent) = args.chart.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match chart::draw(&args.chart, "Workload slowdown vs no sensor (median, min-max)", &names, &groups) {
        Ok(()) => r.push_str(&format!("\nChart: `{}`.\n", args.chart.display())),
        Err(e) => r.push_str(&format!("\nChart not drawn: {e:#}\n")),
    }

    if args.paired_rounds > 0 {
        eprintln!("paired A/B of the open and connect loops...");
        let loops = overhead::paired::Loops {
            opens: sizes.opens,
            connects: sizes.connects,
            plain: &plain,
            listener: &listener,
        };
        r.push_str(&overhead::paired::run(&args.ferret, dir.path(), args.paired_rounds, &loops)?);
    }
    if args.latency_triggers > 0 {
        eprintln!("detection latency...");
        r.push_str("\nDetection latency, syscall to finding read from ferret's output (default rules; a copy of /bin/true named xmrig run every 20 ms):\n\n| triggered | findings | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n");
        r.push_str(&extras::detection_latency(
            &args.ferret,
            dir.path(),
            args.latency_triggers,
            Duration::from_millis(20),
        )?);
    }
    if args.stress_secs > 0 {
        eprintln!("stress-ng storm for {} s...", args.stress_secs);
        r.push_str("\nStress: `stress-ng --exec 2 --open 2` with ferret (default rules) running:\n\n| time | storm | ferret received | kernel drops | ferret up at the end | RSS first / peak / last | ferret CPU |\n|---|---|---|---|---|---|---|\n");
        r.push_str(&extras::stress(&args.ferret, dir.path(), args.stress_secs)?);
    }
    if args.replay_events > 0 {
        eprintln!("replay throughput...");
        r.push_str("\nReplay throughput, `ferret replay` of a recorded mixed workload repeated, one thread. Raw: the kernel's records through decoding, enrichment (offline), rules, threat lists, DGA and aggregation, as live; JSON: the enriched events through JSON decoding and detection:\n\n| input | events | wall | CPU | events per CPU second |\n|---|---|---|---|---|\n");
        r.push_str(&extras::replay_throughput(&args.ferret, dir.path(), args.replay_events, &plain)?);
    }
    r.push('\n');
    r.push_str(&extras::idle(&args.ferret, dir.path())?);
    r.push_str(&format!(
        "\nLoss check, ferret --events, {} execs/s for {} s (two spawning threads):\n\n| spawned | delivered | dropped | memory | CPU |\n|---|---|---|---|---|\n",
        args.loss_rate, args.loss_secs
    ));
    r.push_str(&extras::loss_check(&args.ferret, dir.path(), args.loss_rate, args.loss_secs)?);

    print!("{r}");
    if let Some(parent) = args.report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(&args.report)?.write_all(r.as_bytes())?;
    eprintln!("report written to {}", args.report.display());
    Ok(())
}
