//! Rule evaluation throughput: a real event stream (recorded by `ferret record` while a mixed
//! workload runs: a C build, file writes, reads of sensitive files, connections, DNS), replayed
//! in memory through every corpus rule (Falco's three files and the Sigma rules). Reports events
//! per second on one core for decoding (JSON), for rule evaluation, and the share of the two that
//! rule evaluation takes. See bench/README.md.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use ferret_event::{Event, Record};
use ferret_rules::RuleSet;

#[derive(Parser, Debug)]
struct Args {
    /// A recording to replay; without it, one is made now (root: runs the sensor).
    #[arg(long)]
    recording: Option<PathBuf>,
    /// Seconds of workload to record.
    #[arg(long, default_value_t = 10)]
    record_secs: u64,
    /// Events evaluated per measurement (the recording is cycled).
    #[arg(long, default_value_t = 2_000_000)]
    events: usize,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Rule files and directories; default: every corpus rule in ../shared/corpora.
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    #[arg(long, default_value = "target/release/ferret")]
    ferret: PathBuf,
    #[arg(long, default_value = "bench/results/rules.md")]
    report: PathBuf,
}

/// A mixed workload while `ferret record` runs.
fn record(ferret: &Path, secs: u64, out: &Path) -> Result<()> {
    let mut sensor = Command::new(ferret)
        .args(["record", "--duration", &secs.to_string(), "--output"])
        .arg(out)
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ferret record")?;
    let stderr = sensor.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    for l in lines.by_ref() {
        if l?.contains("ferret: running") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("x.c");
    std::fs::write(&src, "#include <stdio.h>\n#include <stdlib.h>\nint main(void){puts(\"x\");return 0;}\n")?;
    let deadline = Instant::now() + Duration::from_secs(secs.saturating_sub(2).max(1));
    let mut i = 0u64;
    while Instant::now() < deadline {
        let obj = dir.path().join(format!("x{}", i % 4));
        let _ = Command::new("cc").arg(&src).arg("-o").arg(&obj).status();
        let _ = Command::new(&obj).stdout(Stdio::null()).status();
        let _ = Command::new("sh")
            .args(["-c", "cat /etc/shadow >/dev/null; ls -la /etc >/dev/null; id; uname -a"])
            .stdout(Stdio::null())
            .status();
        std::fs::write(dir.path().join(format!("f{}", i % 16)), b"data")?;
        let _ = std::net::TcpStream::connect_timeout(&"127.0.0.1:9".parse()?, Duration::from_millis(50));
        let _ = Command::new("getent").args(["hosts", "localhost"]).stdout(Stdio::null()).status();
        i += 1;
    }
    let st = sensor.wait()?;
    if !st.success() {
        bail!("ferret record failed: {st}");
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let recording = match &args.recording {
        Some(p) => p.clone(),
        None => {
            let p = tmp.path().join("recording.jsonl");
            eprintln!("recording {} s of workload...", args.record_secs);
            record(&args.ferret, args.record_secs, &p)?;
            p
        }
    };
    let lines: Vec<String> = BufReader::new(std::fs::File::open(&recording)?)
        .lines()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|l| l.contains("\"kind\":\"event\""))
        .collect();
    if lines.is_empty() {
        bail!("no events in {}", recording.display());
    }
    let events: Vec<Event> = lines
        .iter()
        .filter_map(|l| match serde_json::from_str::<Record>(l) {
            Ok(Record::Event(e)) => Some(*e),
            _ => None,
        })
        .collect();
    let mut mix = std::collections::BTreeMap::<String, usize>::new();
    for e in &events {
        *mix.entry(e.event_type.clone()).or_default() += 1;
    }
    let rules = if args.rules.is_empty() {
        let c = PathBuf::from("../shared/corpora");
        vec![c.join("falco"), c.join("sigma_linux")]
    } else {
        args.rules.clone()
    };
    let (set, report) = RuleSet::load(&rules);
    if !report.ok() {
        bail!("rules did not load: {:?}", report.errors().map(|d| d.to_string()).collect::<Vec<_>>());
    }

    let (mut eval_rate, mut decode_rate, mut share) = (Vec::new(), Vec::new(), Vec::new());
    let mut matches = 0usize;
    for _ in 0..args.rounds {
        let t = Instant::now();
        let mut n = 0usize;
        for l in lines.iter().cycle().take(args.events / 4) {
            if serde_json::from_str::<Record>(l).is_ok() {
                n += 1;
            }
        }
        let decode = t.elapsed().as_secs_f64() / n as f64;
        let t = Instant::now();
        matches = 0;
        for e in events.iter().cycle().take(args.events) {
            matches += set.matches(e).len();
        }
        let eval = t.elapsed().as_secs_f64() / args.events as f64;
        eval_rate.push(1.0 / eval);
        decode_rate.push(1.0 / decode);
        share.push(eval / (eval + decode));
    }
    // Cost per event type: which events the rules spend their time on.
    let mut per_type = Vec::new();
    for ty in mix.keys() {
        let of: Vec<&Event> = events.iter().filter(|e| &e.event_type == ty).collect();
        let n = (args.events / 10).max(of.len());
        let t = Instant::now();
        for e in of.iter().cycle().take(n) {
            std::hint::black_box(set.matches(e));
        }
        let candidates = set.candidates(of[0]);
        per_type.push((ty.clone(), t.elapsed().as_secs_f64() * 1e9 / n as f64, candidates));
    }
    // The costliest rules on the events they are checked against.
    let mut per_rule = Vec::new();
    for (i, r) in set.rules().iter().enumerate() {
        let of: Vec<&Event> = events
            .iter()
            .filter(|e| r.types.as_ref().is_none_or(|t| t.contains(ferret_rules::fields::evt_type(e))))
            .collect();
        if of.is_empty() {
            continue;
        }
        let n = 20_000.max(of.len());
        let t = Instant::now();
        for e in of.iter().cycle().take(n) {
            std::hint::black_box(set.rule_matches(i, e));
        }
        per_rule.push((r.name.clone(), t.elapsed().as_secs_f64() * 1e9 / n as f64));
    }
    per_rule.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = String::new();
    out.push_str("# Rule evaluation throughput\n\n");
    out.push_str(&format!(
        "Recording: {} events ({}); replayed {} events per round, {} rounds, one thread.\n\n",
        events.len(),
        mix.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        args.events,
        args.rounds
    ));
    let (gated, tables) = set.prefilter_stats();
    out.push_str(&format!(
        "Rules: {} loaded from {:?}; {} matches per round; {} rules gated by the prefilter's {} tables.\n\n",
        set.rules().len(),
        rules,
        matches,
        gated,
        tables
    ));
    out.push_str("| figure | median |\n|---|---|\n");
    out.push_str(&format!("| rule evaluation, events/s on one core | {:.0} |\n", median(&mut eval_rate)));
    out.push_str(&format!(
        "| JSON decoding (replay's input), events/s on one core | {:.0} |\n",
        median(&mut decode_rate)
    ));
    out.push_str(&format!("| rule evaluation's share of decode + evaluate | {:.0}% |\n", 100.0 * median(&mut share)));
    out.push_str("\n| event type | ns per event | rules checked |\n|---|---|---|\n");
    for (ty, ns, c) in &per_type {
        out.push_str(&format!("| {ty} | {ns:.0} | {c} |\n"));
    }
    out.push_str("\n| costliest rules | ns per event checked |\n|---|---|\n");
    for (name, ns) in per_rule.iter().take(10) {
        out.push_str(&format!("| {name} | {ns:.0} |\n"));
    }
    print!("{out}");
    if let Some(parent) = args.report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::File::create(&args.report)?.write_all(out.as_bytes())?;
    Ok(())
}
