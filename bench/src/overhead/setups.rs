//! What watches the workloads: nothing, the floor, ferret (default or every corpus rule), auditd
//! with rules on the same syscalls, or a bpftrace script tracing the same syscalls.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Off,
    Floor,
    Ferret,
    FerretCorpus,
    Auditd,
    Bpftrace,
    /// ferret with flow records off: what the flow machinery costs (not in ALL: `--setups noflows`).
    FerretNoFlows,
}

pub const ALL: [Setup; 6] =
    [Setup::Off, Setup::Floor, Setup::Ferret, Setup::FerretCorpus, Setup::Auditd, Setup::Bpftrace];

impl Setup {
    pub fn name(self) -> &'static str {
        match self {
            Setup::Off => "no sensor",
            Setup::Floor => "floor (count-only eBPF)",
            Setup::Ferret => "ferret, default rules",
            Setup::FerretCorpus => "ferret, all corpus rules",
            Setup::Auditd => "auditd, same syscalls",
            Setup::Bpftrace => "bpftrace, same syscalls",
            Setup::FerretNoFlows => "ferret, flow records off",
        }
    }
}

/// The syscalls ferret watches (its table), plus execve/execveat (which it sees at
/// sched_process_exec): the set auditd and bpftrace are given.
pub fn watched_syscalls() -> Vec<&'static str> {
    let mut v: Vec<&str> = ferret_bpf::loader::SYSCALL_HOOKS.iter().map(|(_, name, _)| *name).collect();
    v.extend(["execve", "execveat"]);
    v.sort_unstable();
    v.dedup();
    v
}

/// Rule paths of the corpus setup.
pub fn corpus_rules() -> Vec<PathBuf> {
    let c = PathBuf::from("../shared/corpora");
    vec![c.join("falco"), c.join("sigma_linux")]
}

/// A started ferret with its output file.
pub struct Ferret {
    pub child: Child,
    pub out: PathBuf,
}

/// Starts `ferret run` writing to a file in `dir` (with `config`, TOML, when given); returns once
/// its programs are attached.
pub fn start_ferret(
    bin: &Path,
    rules: &[PathBuf],
    events: bool,
    dir: &Path,
    tag: &str,
    config: Option<&str>,
) -> Result<Ferret> {
    let out = dir.join(format!("ferret-{tag}.jsonl"));
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--quiet", "--output"]).arg(&out);
    if let Some(toml) = config {
        let path = dir.join(format!("ferret-{tag}.toml"));
        std::fs::write(&path, toml).context("writing the setup's configuration")?;
        cmd.arg("--config").arg(path);
    }
    for r in rules {
        cmd.arg("--rules").arg(r);
    }
    if events {
        cmd.arg("--events");
    }
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().context("spawn ferret")?;
    wait_running(&mut child)?;
    Ok(Ferret { child, out })
}

/// Waits until a ferret spawned with a piped stderr says its programs are attached.
pub fn wait_running(child: &mut Child) -> Result<()> {
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
    Ok(())
}

/// Stops ferret; returns its final stats record.
pub fn stop_ferret(mut r: Ferret) -> Result<serde_json::Value> {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(r.child.id() as i32, libc::SIGINT) };
    r.child.wait()?;
    let text = std::fs::read_to_string(&r.out).unwrap_or_default();
    let _ = std::fs::remove_file(&r.out);
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["kind"] == "stats" && v["last"] == true)
        .context("no final stats record")
}

/// The sum over record kinds of a per-kind counter of a stats record (`received`, `kernel_dropped`).
pub fn total(stats: &serde_json::Value, key: &str) -> u64 {
    stats[key].as_object().map(|m| m.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0)
}

/// Resident set (VmRSS, VmHWM) in KiB and CPU seconds of a process.
pub fn proc_usage(pid: u32) -> (u64, u64, f64) {
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
    // After the comm: utime and stime are fields 14 and 15 (1-based in proc(5)).
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok())).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (kib("VmRSS:"), kib("VmHWM:"), ticks as f64 / hz)
}

/// What a ferret run cost and delivered.
#[derive(Debug, Clone)]
pub struct Usage {
    pub setup: Setup,
    pub cpu_s: f64,
    pub peak_rss_kib: u64,
    pub secs: f64,
    pub received: u64,
    pub dropped: u64,
}

/// One setup, running.
pub struct Active {
    setup: Setup,
    floor: Option<ferret_bpf::floor::Floor>,
    ferret: Option<Ferret>,
    child: Option<Child>,
    dir: PathBuf,
    started: Instant,
}

fn run_quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

/// The audit rules: one always,exit rule per syscall auditctl knows (returns how many).
fn audit_rules(syscalls: &[&str]) -> Result<usize> {
    run_quiet(Command::new("auditctl").arg("-D"));
    run_quiet(Command::new("auditctl").args(["-b", "8192"]));
    let mut n = 0;
    for s in syscalls {
        if run_quiet(Command::new("auditctl").args(["-a", "always,exit", "-F", "arch=b64", "-S", s])) {
            n += 1;
        }
    }
    if n == 0 {
        bail!("auditctl accepted no rule");
    }
    Ok(n)
}

/// auditd writing to a log in `dir` (removed at stop), with the rules loaded.
fn start_auditd(dir: &Path) -> Result<Child> {
    let conf = dir.join("auditd.conf");
    std::fs::write(
        &conf,
        format!(
            "log_file = {}\nlog_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 1000\nmax_log_file_action = ROTATE\nnum_logs = 2\nspace_left = 100\nspace_left_action = IGNORE\nadmin_space_left = 50\nadmin_space_left_action = IGNORE\ndisk_full_action = IGNORE\ndisk_error_action = IGNORE\n",
            dir.join("audit.log").display()
        ),
    )?;
    // auditd refuses a configuration file others can write.
    std::fs::set_permissions(&conf, std::os::unix::fs::PermissionsExt::from_mode(0o640))?;
    let child = Command::new("auditd")
        .args(["-n", "-c"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting auditd (make bench installs auditd)")?;
    // The kernel sends records to the one registered daemon: make sure it is this one.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = Command::new("auditctl").arg("-s").output().context("auditctl -s")?;
        let text = String::from_utf8_lossy(&status.stdout);
        if text.lines().any(|l| l.trim() == format!("pid {}", child.id())) {
            break;
        }
        if Instant::now() > deadline {
            bail!("auditd did not register with the kernel: {text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    audit_rules(&watched_syscalls())?;
    if !run_quiet(Command::new("auditctl").args(["-e", "1"])) {
        bail!("auditctl -e 1 failed");
    }
    Ok(child)
}

fn stop_auditd(mut child: Child, dir: &Path) {
    run_quiet(Command::new("auditctl").arg("-D"));
    run_quiet(Command::new("auditctl").args(["-e", "0"]));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    for f in ["audit.log", "audit.log.1", "audit.log.2"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

/// A bpftrace script printing each watched syscall's exit (and the path of opens and execs) to a
/// file: what a one-liner user of bpftrace would run for the same coverage.
fn bpftrace_script(syscalls: &[&str]) -> String {
    let events = Path::new("/sys/kernel/tracing/events/syscalls");
    let mut s = String::new();
    for sc in syscalls {
        if !events.join(format!("sys_exit_{sc}")).exists() {
            continue;
        }
        s.push_str(&format!(
            "tracepoint:syscalls:sys_exit_{sc} {{ printf(\"{sc} %d %d %s %d\\n\", pid, tid, comm, args->ret); }}\n"
        ));
    }
    for sc in ["openat", "execve"] {
        if events.join(format!("sys_enter_{sc}")).exists() {
            s.push_str(&format!(
                "tracepoint:syscalls:sys_enter_{sc} {{ printf(\"{sc} %d %s\\n\", pid, str(args->filename)); }}\n"
            ));
        }
    }
    s
}

fn start_bpftrace(dir: &Path) -> Result<Child> {
    let script = dir.join("trace.bt");
    std::fs::write(&script, bpftrace_script(&watched_syscalls()))?;
    let out = dir.join("bpftrace.out");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new("bpftrace")
        .arg("-o")
        .arg(&out)
        .arg(&script)
        .env("BPFTRACE_STRLEN", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting bpftrace (make bench installs bpftrace)")?;
    // It says "Attaching N probes..." in its output once ready.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::fs::read_to_string(&out).is_ok_and(|t| t.contains("Attaching")) {
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!("bpftrace exited ({st})");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("bpftrace did not attach in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(child)
}

impl Active {
    pub fn start(setup: Setup, ferret_bin: &Path, dir: &Path) -> Result<Active> {
        let mut a =
            Active { setup, floor: None, ferret: None, child: None, dir: dir.to_path_buf(), started: Instant::now() };
        match setup {
            Setup::Off => {}
            Setup::Floor => a.floor = Some(ferret_bpf::floor::Floor::start()?),
            Setup::Ferret => a.ferret = Some(start_ferret(ferret_bin, &[], false, dir, "default", None)?),
            Setup::FerretCorpus => {
                a.ferret = Some(start_ferret(ferret_bin, &corpus_rules(), false, dir, "corpus", None)?)
            }
            Setup::FerretNoFlows => {
                let toml = "[flows]\nenabled = false\n";
                a.ferret = Some(start_ferret(ferret_bin, &[], false, dir, "noflows", Some(toml))?)
            }
            Setup::Auditd => a.child = Some(start_auditd(dir)?),
            Setup::Bpftrace => a.child = Some(start_bpftrace(dir)?),
        }
        // Let start-up work (ferret's /proc seeding, hashing) settle before measuring.
        std::thread::sleep(Duration::from_millis(300));
        a.started = Instant::now();
        Ok(a)
    }

    /// Stops the setup; for ferret, what it cost and delivered.
    pub fn stop(self) -> Result<Option<Usage>> {
        let secs = self.started.elapsed().as_secs_f64();
        drop(self.floor);
        if let Some(mut c) = self.child {
            match self.setup {
                Setup::Auditd => stop_auditd(c, &self.dir),
                _ => {
                    // SAFETY: kill(2) on our own child.
                    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
                    let _ = c.wait();
                    let _ = std::fs::remove_file(self.dir.join("bpftrace.out"));
                }
            }
        }
        let Some(f) = self.ferret else { return Ok(None) };
        let (_, hwm, cpu) = proc_usage(f.child.id());
        let last = stop_ferret(f)?;
        Ok(Some(Usage {
            setup: self.setup,
            cpu_s: cpu,
            peak_rss_kib: hwm,
            secs,
            received: total(&last, "received"),
            dropped: total(&last, "kernel_dropped"),
        }))
    }
}
