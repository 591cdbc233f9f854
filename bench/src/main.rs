//! `make bench`: workload cost with no sensor, with the floor (count-only
//! programs on ferret's hooks) and with ferret, measured in one run,
//! interleaved and repeated; reported as ratios (median, min, max), never as
//! absolute pass/fail times. See bench/README.md.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// Rounds; each runs every configuration once, in rotated order.
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
    /// Target exec rate of the loss check (execs per second).
    #[arg(long, default_value_t = 2000)]
    loss_rate: u64,
    /// Seconds of the loss check.
    #[arg(long, default_value_t = 5)]
    loss_secs: u64,
    /// Where to write the markdown report.
    #[arg(long, default_value = "bench/results/latest.md")]
    report: PathBuf,
    /// The ferret binary.
    #[arg(long, default_value = "target/release/ferret")]
    ferret: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    Off,
    Floor,
    Ferret,
    FerretEvents,
}

const SETUPS: [Setup; 4] = [Setup::Off, Setup::Floor, Setup::Ferret, Setup::FerretEvents];

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Off => "no sensor",
            Setup::Floor => "floor (count-only)",
            Setup::Ferret => "ferret (findings only)",
            Setup::FerretEvents => "ferret --events",
        }
    }
}

/// A running ferret with its output file.
struct Running {
    child: Child,
    out: PathBuf,
}

fn start_ferret(bin: &Path, events: bool, dir: &Path) -> Result<Running> {
    let out = dir.join(format!("ferret-{}.jsonl", if events { "events" } else { "findings" }));
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--quiet", "--output"]).arg(&out);
    if events {
        cmd.arg("--events");
    }
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().context("spawn ferret")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("ferret: running") => break,
            Some(Ok(_)) => {}
            _ => bail!("ferret did not start"),
        }
    }
    // Keep draining stderr so the summary at exit never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Running { child, out })
}

/// Resident set (VmRSS, VmHWM) in KiB and CPU seconds of a process.
fn proc_usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // After the comm: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok())).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (kib("VmRSS:"), kib("VmHWM:"), ticks as f64 / hz)
}

/// Stops ferret; returns its final stats record.
fn stop_ferret(mut r: Running) -> Result<serde_json::Value> {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(r.child.id() as i32, libc::SIGINT) };
    r.child.wait()?;
    let text = std::fs::read_to_string(&r.out).unwrap_or_default();
    let last = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["kind"] == "stats" && v["last"] == true)
        .context("no final stats record")?;
    Ok(last)
}

fn exec_loop(n: usize) -> Result<Duration> {
    let t = Instant::now();
    for _ in 0..n {
        let st = Command::new("/bin/true").status()?;
        if !st.success() {
            bail!("/bin/true failed");
        }
    }
    Ok(t.elapsed())
}

fn open_loop(n: usize, path: &Path) -> Result<Duration> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: a valid C string; the fd is closed right away.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            bail!("open failed");
        }
        // SAFETY: fd was just opened.
        unsafe { libc::close(fd) };
    }
    Ok(t.elapsed())
}

/// Connects to a loopback listener and accepts, n times.
fn connect_loop(n: usize, listener: &std::net::TcpListener) -> Result<Duration> {
    let addr = listener.local_addr()?;
    let t = Instant::now();
    for _ in 0..n {
        let c = std::net::TcpStream::connect(addr)?;
        let (s, _) = listener.accept()?;
        drop(c);
        drop(s);
    }
    Ok(t.elapsed())
}

/// A DNS query for `bench.ferret.test A`, id 0x4242, recursion desired.
const QUERY: &[u8] = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05bench\x06ferret\x04test\x00\x00\x01\x00\x01";

/// Sends n queries to the local server, one at a time, each awaiting its answer.
fn dns_loop(n: usize, server: std::net::SocketAddr) -> Result<Duration> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 512];
    let t = Instant::now();
    for _ in 0..n {
        sock.send(QUERY)?;
        sock.recv(&mut buf)?;
    }
    Ok(t.elapsed())
}

/// dnsmasq answering bench.ferret.test on 127.0.0.90, for the DNS loop.
struct DnsServer(Child);

impl DnsServer {
    fn start() -> Result<DnsServer> {
        let child = Command::new("dnsmasq")
            .args(["--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", "--port=53"])
            .args(["--listen-address=127.0.0.90", "--address=/bench.ferret.test/127.0.0.91"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dnsmasq (make bench installs dnsmasq-base)")?;
        std::thread::sleep(Duration::from_millis(500));
        Ok(DnsServer(child))
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default, Clone)]
struct Samples {
    exec_ns: Vec<f64>,
    open_ns: Vec<f64>,
    connect_ns: Vec<f64>,
    dns_ns: Vec<f64>,
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let med = if s.is_empty() { f64::NAN } else { s[s.len() / 2] };
    (med, s.first().copied().unwrap_or(f64::NAN), s.last().copied().unwrap_or(f64::NAN))
}

/// Paced exec storm with ferret --events: were all execs delivered?
fn loss_check(args: &Args, dir: &Path) -> Result<String> {
    let r = start_ferret(&args.ferret, true, dir)?;
    std::thread::sleep(Duration::from_millis(500));
    let total = args.loss_rate * args.loss_secs;
    let per_thread = total / 2;
    let period = Duration::from_secs_f64(2.0 / args.loss_rate as f64);
    let t = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || -> u64 {
                let start = Instant::now();
                let mut done = 0;
                for i in 0..per_thread {
                    let due = start + period * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    if Command::new("/bin/true").status().is_ok() {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let spawned: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let pid = r.child.id();
    let (rss, hwm, cpu) = proc_usage(pid);
    let last = stop_ferret(r)?;
    let received = last["received"]["exec"].as_u64().unwrap_or(0);
    let dropped: u64 = ["exec", "fork", "exit"].iter().map(|k| last["kernel_dropped"][k].as_u64().unwrap_or(0)).sum();
    Ok(format!(
        "| {} execs in {:.1} s ({:.0}/s achieved) | {} exec records received | {} records dropped in the kernel | RSS {} KiB (peak {} KiB) | ferret CPU {:.2} s |\n",
        spawned,
        secs,
        spawned as f64 / secs,
        received,
        dropped,
        rss,
        hwm,
        cpu
    ))
}

fn main() -> Result<()> {
    let args = Args::parse();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the benchmark loads eBPF programs: run it as root (make bench)");
    }
    if !args.ferret.exists() {
        bail!("{} not built (make bench builds it)", args.ferret.display());
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, b"not sensitive")?;

    let mut samples: Vec<Samples> = vec![Samples::default(); SETUPS.len()];
    let mut ratios_exec: Vec<Vec<f64>> = vec![Vec::new(); SETUPS.len()];
    let mut ratios_open: Vec<Vec<f64>> = vec![Vec::new(); SETUPS.len()];
    let mut ratios_connect: Vec<Vec<f64>> = vec![Vec::new(); SETUPS.len()];
    let mut ratios_dns: Vec<Vec<f64>> = vec![Vec::new(); SETUPS.len()];
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let _dns = DnsServer::start()?;
    let dns_server: std::net::SocketAddr = "127.0.0.90:53".parse()?;
    let mut usage = Vec::new();
    for round in 0..args.rounds {
        let mut order: Vec<usize> = (0..SETUPS.len()).collect();
        order.rotate_left(round % SETUPS.len());
        let mut round_exec = vec![f64::NAN; SETUPS.len()];
        let mut round_open = vec![f64::NAN; SETUPS.len()];
        let mut round_connect = vec![f64::NAN; SETUPS.len()];
        let mut round_dns = vec![f64::NAN; SETUPS.len()];
        for &i in &order {
            let setup = SETUPS[i];
            let (floor, ferret) = match setup {
                Setup::Off => (None, None),
                Setup::Floor => (Some(ferret_bpf::floor::Floor::start()?), None),
                Setup::Ferret => (None, Some(start_ferret(&args.ferret, false, dir.path())?)),
                Setup::FerretEvents => (None, Some(start_ferret(&args.ferret, true, dir.path())?)),
            };
            std::thread::sleep(Duration::from_millis(300));
            let e = exec_loop(args.execs)?.as_nanos() as f64 / args.execs as f64;
            let o = open_loop(args.opens, &file)?.as_nanos() as f64 / args.opens as f64;
            let c = connect_loop(args.connects, &listener)?.as_nanos() as f64 / args.connects as f64;
            let q = dns_loop(args.queries, dns_server)?.as_nanos() as f64 / args.queries as f64;
            samples[i].dns_ns.push(q);
            round_dns[i] = q;
            samples[i].exec_ns.push(e);
            samples[i].open_ns.push(o);
            samples[i].connect_ns.push(c);
            round_exec[i] = e;
            round_open[i] = o;
            round_connect[i] = c;
            drop(floor);
            if let Some(r) = ferret {
                let (rss, hwm, cpu) = proc_usage(r.child.id());
                let last = stop_ferret(r)?;
                usage.push((setup, rss, hwm, cpu, last));
            }
            eprintln!(
                "round {} {:<24} exec {:>9.0} ns  open {:>6.0} ns  connect {:>7.0} ns",
                round + 1,
                setup.name(),
                e,
                o,
                c
            );
        }
        for i in 0..SETUPS.len() {
            ratios_exec[i].push(round_exec[i] / round_exec[0]);
            ratios_open[i].push(round_open[i] / round_open[0]);
            ratios_connect[i].push(round_connect[i] / round_connect[0]);
            ratios_dns[i].push(round_dns[i] / round_dns[0]);
        }
    }

    let mut report = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    report.push_str(&format!(
        "Kernel {}, {} CPUs; {} rounds, interleaved; exec loop = {} x fork+exec /bin/true, open loop = {} x open+close of a plain file (read-only), connect loop = {} x TCP connect+accept+close on loopback.\n\n",
        kernel.trim(),
        cpus,
        args.rounds,
        args.execs,
        args.opens,
        args.connects
    ));
    report.push_str("| setup | exec ns/op (median) | exec ratio vs none: median (min-max) | open ns/op (median) | open ratio vs none: median (min-max) |\n|---|---|---|---|---|\n");
    for (i, s) in SETUPS.iter().enumerate() {
        let (em, _, _) = stats(&samples[i].exec_ns);
        let (om, _, _) = stats(&samples[i].open_ns);
        let (rm, rmin, rmax) = stats(&ratios_exec[i]);
        let (qm, qmin, qmax) = stats(&ratios_open[i]);
        report.push_str(&format!(
            "| {} | {:.0} | {:.3} ({:.3}-{:.3}) | {:.0} | {:.3} ({:.3}-{:.3}) |\n",
            s.name(),
            em,
            rm,
            rmin,
            rmax,
            om,
            qm,
            qmin,
            qmax
        ));
    }
    report.push_str("\n| setup | connect ns/op (median) | connect ratio vs none: median (min-max) | DNS query ns/op (median) | DNS ratio vs none: median (min-max) |\n|---|---|---|---|---|\n");
    for (i, s) in SETUPS.iter().enumerate() {
        let (cm, _, _) = stats(&samples[i].connect_ns);
        let (rm, rmin, rmax) = stats(&ratios_connect[i]);
        let (dm, _, _) = stats(&samples[i].dns_ns);
        let (qm, qmin, qmax) = stats(&ratios_dns[i]);
        report.push_str(&format!(
            "| {} | {:.0} | {:.3} ({:.3}-{:.3}) | {:.0} | {:.3} ({:.3}-{:.3}) |\n",
            s.name(),
            cm,
            rm,
            rmin,
            rmax,
            dm,
            qm,
            qmin,
            qmax
        ));
    }
    let added = |r: &Vec<Vec<f64>>, i: usize| stats(&r[i]).0 - 1.0;
    for (name, r) in
        [("exec", &ratios_exec), ("open", &ratios_open), ("connect", &ratios_connect), ("dns", &ratios_dns)]
    {
        report.push_str(&format!(
            "\n{name}: floor adds {:+.1}%, ferret {:+.1}%, ferret --events {:+.1}%",
            added(r, 1) * 100.0,
            added(r, 2) * 100.0,
            added(r, 3) * 100.0
        ));
        if added(r, 1) > 0.02 {
            report.push_str(&format!("; ferret's added cost is {:.2}x the floor's", added(r, 2) / added(r, 1)));
        }
        report.push('.');
    }
    report.push('\n');
    report.push_str("\n| ferret run | RSS at stop (KiB) | peak RSS (KiB) | CPU s | exec records | kernel drops |\n|---|---|---|---|---|---|\n");
    for (setup, rss, hwm, cpu, last) in &usage {
        let dropped: u64 =
            ["exec", "fork", "exit"].iter().map(|k| last["kernel_dropped"][k].as_u64().unwrap_or(0)).sum();
        report.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} |\n",
            setup.name(),
            rss,
            hwm,
            cpu,
            last["received"]["exec"],
            dropped
        ));
    }
    // Idle footprint: start-up (program loading and verification, /proc
    // seeding) is counted apart from the idle time after it.
    {
        let r = start_ferret(&args.ferret, false, dir.path())?;
        let (_, _, start_cpu) = proc_usage(r.child.id());
        std::thread::sleep(Duration::from_secs(10));
        let (rss, hwm, cpu) = proc_usage(r.child.id());
        stop_ferret(r)?;
        report.push_str(&format!(
            "\nStart-up: {start_cpu:.2} CPU s. Then idle for 10 s: {:.2} CPU s, RSS {rss} KiB (peak {hwm} KiB).\n",
            cpu - start_cpu
        ));
    }
    report.push_str(&format!(
        "\nLoss check, ferret --events, {} execs/s for {} s (two spawning threads):\n\n",
        args.loss_rate, args.loss_secs
    ));
    report.push_str("| spawned | delivered | dropped | memory | CPU |\n|---|---|---|---|---|\n");
    report.push_str(&loss_check(&args, dir.path())?);

    print!("{report}");
    if let Some(parent) = args.report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(&args.report)?.write_all(report.as_bytes())?;
    eprintln!("report written to {}", args.report.display());
    Ok(())
}
