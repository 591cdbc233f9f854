//! The measurements beside the overhead table: detection latency, the stress run, replay
//! throughput, the idle footprint and the paced loss check.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::setups::{corpus_rules, proc_usage, start_ferret, stop_ferret, total, wait_running};
use super::workloads;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn unix_ns(rfc3339: &str) -> Option<i128> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// Syscall to finding: runs a copy of /bin/true named `xmrig` `n` times, `gap` apart, with ferret
/// (default rules) writing findings to a pipe; each finding's latency is the time it was read
/// minus its event's kernel time. Returns the markdown lines.
pub fn detection_latency(bin: &Path, dir: &Path, n: usize, gap: Duration) -> Result<String> {
    let miner = dir.join("xmrig");
    std::fs::copy("/bin/true", &miner)?;
    let mut child = Command::new(bin)
        .args(["run"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn ferret")?;
    wait_running(&mut child)?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let read_at = now_ns();
            if !line.contains("Crypto miner executed") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if v["kind"] != "finding" {
                continue;
            }
            if let Some(t) = v["time"].as_str().and_then(unix_ns) {
                let _ = tx.send((read_at - t) as f64 / 1e6);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..n {
        Command::new(&miner).status()?;
        std::thread::sleep(gap);
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < n && Instant::now() < deadline {
        if let Ok(ms) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(ms);
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    got.sort_by(|a, b| a.total_cmp(b));
    Ok(format!(
        "| {n} | {} | {:.1} | {:.1} | {:.1} |\n",
        got.len(),
        percentile(&got, 0.5),
        percentile(&got, 0.99),
        got.last().copied().unwrap_or(f64::NAN)
    ))
}

/// stress-ng's exec and open storm for `secs` with ferret (default rules) running: is ferret up
/// at the end, how did its memory move, what did it receive and drop. Returns the markdown lines.
pub fn stress(bin: &Path, dir: &Path, secs: u64) -> Result<String> {
    let f = start_ferret(bin, &[], false, dir, "stress", None)?;
    let pid = f.child.id();
    // stress-ng's exec stressor refuses to run as root: the storm runs as nobody.
    let mut storm = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "stress-ng"])
        .args(["--exec", "2", "--open", "2", "--timeout", &format!("{secs}s"), "--metrics-brief"])
        .current_dir("/tmp")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting stress-ng (make bench installs stress-ng)")?;
    let start = Instant::now();
    let mut rss = Vec::new();
    while storm.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(proc_usage(pid).0);
    }
    let out = storm.wait_with_output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let bogo = |stressor: &str| -> u64 {
        text.lines()
            .filter(|l| l.contains(&format!("] {stressor} ")) || l.contains(&format!(" {stressor} ")))
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != stressor).nth(1).and_then(|v| v.parse().ok()))
            .next()
            .unwrap_or(0)
    };
    let elapsed = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let mut f = f;
    let alive = f.child.try_wait()?.is_none();
    let (_, hwm, cpu) = proc_usage(pid);
    let last = stop_ferret(f)?;
    let dropped = total(&last, "kernel_dropped");
    let received = total(&last, "received");
    let first = rss.first().copied().unwrap_or(0);
    let last_rss = rss.last().copied().unwrap_or(0);
    Ok(format!(
        "| {:.0} s | {} execs, {} opens (stress-ng bogo ops) | {} exec records, {} records in all ({:.0}/s) | {} | {} | {} / {} / {} KiB | {:.1} s ({:.0}% of one core) |\n",
        elapsed,
        bogo("exec"),
        bogo("open"),
        last["received"]["exec"],
        received,
        received as f64 / elapsed,
        dropped,
        if alive { "yes" } else { "NO" },
        first,
        hwm,
        last_rss,
        cpu,
        cpu / elapsed * 100.0
    ))
}

/// Wall and CPU seconds of a child until it exits.
fn timed(cmd: &mut Command) -> Result<(f64, f64)> {
    let t = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let mut status = 0;
    // SAFETY: rusage is plain data filled by wait4 for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    if r < 0 {
        bail!("wait4 failed");
    }
    let cpu = ru.ru_utime.tv_sec as f64
        + ru.ru_utime.tv_usec as f64 / 1e6
        + ru.ru_stime.tv_sec as f64
        + ru.ru_stime.tv_usec as f64 / 1e6;
    Ok((t.elapsed().as_secs_f64(), cpu))
}

/// Records a mixed workload with `ferret record --raw`, repeats its kernel records to at least
/// `events` and times `ferret replay --raw` over them (decode, enrichment, rules, detectors) with
/// the default and with every corpus rule; then the same events as JSON (`ferret replay` of what
/// the raw replay emitted), to show what JSON decoding costs. Returns markdown rows.
pub fn replay_throughput(bin: &Path, dir: &Path, events: usize, plain: &Path) -> Result<String> {
    let rec = dir.join("recording.raw");
    let _ = std::fs::remove_file(&rec);
    let mut recorder = Command::new(bin)
        .args(["record", "--raw", "--duration", "8", "--output"])
        .arg(&rec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(2));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    workloads::exec_loop(300)?;
    workloads::open_loop(2000, plain)?;
    for p in ["/etc/shadow", "/etc/passwd", "/etc/ssh/sshd_config"] {
        let _ = std::fs::read(p);
    }
    workloads::connect_loop(500, &listener)?;
    let _ = Command::new("sh")
        .args(["-c", "ls /usr/bin | head -100 | wc -l; id; uname -a; cat /etc/shadow > /dev/null"])
        .stdout(Stdio::null())
        .status();
    recorder.wait()?;

    // Header (two lines), then frames: each a u32 length and the record.
    let data = std::fs::read(&rec)?;
    let first = data.iter().position(|&b| b == b'\n').context("no header")?;
    let second = first + 1 + data[first + 1..].iter().position(|&b| b == b'\n').context("no header")?;
    let (header, body) = data.split_at(second + 1);
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 4 <= body.len() {
        let n = u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]) as usize;
        let end = (at + 4 + n).min(body.len());
        frames.push(&body[at..end]);
        at = end;
    }
    if frames.is_empty() {
        bail!("the recording holds no record");
    }
    let big = dir.join("replay.raw");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&big)?);
    out.write_all(header)?;
    let mut n = 0;
    while n < events {
        for f in &frames {
            out.write_all(f)?;
            n += 1;
        }
    }
    out.flush()?;
    drop(out);
    let bytes = std::fs::metadata(&big)?.len() as f64 / n as f64;
    let mut rows = String::new();
    for (name, rules) in [("raw, default rules", vec![]), ("raw, every corpus rule", corpus_rules())] {
        let mut cmd = Command::new(bin);
        cmd.args(["replay", "--raw", "--quiet"]);
        for r in &rules {
            cmd.arg("--rules").arg(r);
        }
        cmd.arg(&big);
        let (wall, cpu) = timed(&mut cmd)?;
        rows.push_str(&format!(
            "| {name} | {n} ({} distinct records, {bytes:.0} bytes each) | {wall:.1} s | {cpu:.1} s | {:.0} |\n",
            frames.len(),
            n as f64 / cpu.max(1e-9)
        ));
    }
    // The same events as JSON lines.
    let json = dir.join("replay.jsonl");
    let st = Command::new(bin)
        .args(["replay", "--raw", "--quiet", "--events", "--no-default-rules", "--output"])
        .arg(&json)
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if st.success() {
        let jbytes = std::fs::metadata(&json)?.len() as f64 / n as f64;
        let (wall, cpu) = timed(Command::new(bin).args(["replay", "--quiet"]).arg(&json))?;
        rows.push_str(&format!(
            "| JSON, default rules | {n} (the same events, {jbytes:.0} bytes each) | {wall:.1} s | {cpu:.1} s | {:.0} |\n",
            n as f64 / cpu.max(1e-9)
        ));
    }
    let _ = std::fs::remove_file(&big);
    let _ = std::fs::remove_file(&json);
    Ok(rows)
}

/// Start-up and idle cost of ferret with the default rules.
pub fn idle(bin: &Path, dir: &Path) -> Result<String> {
    let r = start_ferret(bin, &[], false, dir, "idle", None)?;
    let (_, _, start_cpu) = proc_usage(r.child.id());
    std::thread::sleep(Duration::from_secs(10));
    let (rss, hwm, cpu) = proc_usage(r.child.id());
    stop_ferret(r)?;
    Ok(format!(
        "Start-up: {start_cpu:.2} CPU s. Then idle for 10 s: {:.2} CPU s, RSS {rss} KiB (peak {hwm} KiB).\n",
        cpu - start_cpu
    ))
}

/// Paced exec storm with ferret --events: were all execs delivered? Returns the markdown row.
pub fn loss_check(bin: &Path, dir: &Path, rate: u64, secs: u64) -> Result<String> {
    let r = start_ferret(bin, &[], true, dir, "loss", None)?;
    std::thread::sleep(Duration::from_millis(500));
    let total = rate * secs;
    let per_thread = total / 2;
    let period = Duration::from_secs_f64(2.0 / rate as f64);
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
    let (rss, hwm, cpu) = proc_usage(r.child.id());
    let last = stop_ferret(r)?;
    let received = last["received"]["exec"].as_u64().unwrap_or(0);
    let dropped: u64 = ["exec", "fork", "exit"].iter().map(|k| last["kernel_dropped"][k].as_u64().unwrap_or(0)).sum();
    Ok(format!(
        "| {spawned} execs in {secs:.1} s ({:.0}/s achieved) | {received} exec records received | {dropped} records dropped in the kernel | RSS {rss} KiB (peak {hwm} KiB) | ferret CPU {cpu:.2} s |\n",
        spawned as f64 / secs,
    ))
}
