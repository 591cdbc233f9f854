//! `ferret replay`: runs the detection pipeline over a recorded event stream
//! with no kernel involved. From JSON recordings it is deterministic: the same
//! input gives the same output, byte for byte (ids and times come from the
//! recording). From raw recordings (`--raw`) it runs the whole userspace
//! pipeline, decoding and enrichment included; event ids are then new.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferret_event::{Event, Record};

use crate::findings::Detect;
use crate::output::Outputs;

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub inputs: Vec<PathBuf>,
    pub events: bool,
    pub stdout: bool,
    pub outputs: Vec<PathBuf>,
    /// The configuration's rules, threat lists, DGA switch and aggregation window apply, as in `run`.
    pub config: crate::config::Config,
    /// The inputs are raw recordings.
    pub raw: bool,
}

/// Replays every input in order. Lines that are not records are reported
/// with file:line and skipped; the exit code is 1 if there were any.
pub fn replay(opts: &ReplayOptions) -> Result<ExitCode> {
    let cfg = &opts.config;
    let rules = crate::findings::load_rules(cfg.rules.defaults, &cfg.rules.paths)?;
    let mut detect = Detect::from_config(rules, cfg, false)?;
    let mut outputs = Outputs::open(opts.stdout, &opts.outputs)?;
    if opts.raw {
        return replay_raw(opts, &mut detect, &mut outputs);
    }
    let (mut events, mut bad, mut found) = (0u64, 0u64, 0u64);
    for path in &opts.inputs {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(&line) {
                Ok(Record::Event(ev)) => {
                    events += 1;
                    found += detect_one(ev, opts.events, &mut detect, &mut outputs)?;
                }
                // Findings and stats of the recording are not inputs of detection.
                Ok(Record::Finding(_)) | Ok(Record::Stats(_)) => {}
                Err(e) => {
                    bad += 1;
                    eprintln!("{}:{}: not a ferret record: {e}", path.display(), n + 1);
                }
            }
        }
    }
    drain(&mut detect, &mut outputs)?;
    eprintln!("ferret: replayed {events} events, {found} findings, {bad} bad lines");
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Detection on one replayed event, its findings written (and the event, with `events`);
/// returns how many findings.
fn detect_one(ev: Box<Event>, events: bool, detect: &mut Detect, outputs: &mut Outputs) -> Result<u64> {
    let mut found = 0;
    for f in detect.event(&ev) {
        found += 1;
        outputs.write(&Record::Finding(Box::new(f)))?;
    }
    if events {
        outputs.write(&Record::Event(ev))?;
    }
    Ok(found)
}

/// The findings still folding repeats when the input ends.
fn drain(detect: &mut Detect, outputs: &mut Outputs) -> Result<()> {
    for f in detect.drain() {
        outputs.write(&Record::Finding(Box::new(f)))?;
    }
    Ok(())
}

/// Raw recordings: each record is decoded, enriched (offline: no /proc, no hashing) and detected
/// on, as the live pipeline does. Records that do not decode are counted; a file that is not a
/// raw recording, or is cut short, stops the replay with its name and offset.
fn replay_raw(opts: &ReplayOptions, detect: &mut Detect, outputs: &mut Outputs) -> Result<ExitCode> {
    let (mut events, mut bad, mut found) = (0u64, 0u64, 0u64);
    for path in &opts.inputs {
        let (header, mut reader) = crate::raw::open(path)?;
        let mut enrich_opts = opts.config.enrich_options();
        enrich_opts.offline = true;
        enrich_opts.hash_workers = 1;
        let clock = ferret_enrich::host::Clock::with_boot_epoch_ns(header.boot_epoch_ns()?);
        let mut enricher = ferret_enrich::Enricher::new(enrich_opts, header.host.clone(), clock);
        while let Some(bytes) = reader.next_record().with_context(|| format!("reading {}", path.display()))? {
            let rec = match ferret_bpf::decode(bytes) {
                Ok(r) => r,
                Err(e) => {
                    bad += 1;
                    if bad <= 10 {
                        eprintln!("{}: a record did not decode: {e}", path.display());
                    }
                    continue;
                }
            };
            let ev = enricher.enrich(rec).finish(std::time::Duration::ZERO);
            events += 1;
            found += detect_one(Box::new(ev), opts.events, detect, outputs)?;
        }
    }
    drain(detect, outputs)?;
    eprintln!("ferret: replayed {events} raw records, {found} findings, {bad} records that did not decode");
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferret_event::{DnsInfo, DnsQuestion};

    fn query(id: &str, time: &str, name: &str) -> String {
        let ev = Event {
            id: id.into(),
            time: time.into(),
            event_type: "dns_query".into(),
            dns: Some(DnsInfo {
                questions: vec![DnsQuestion { name: name.into(), qtype: "A".into() }],
                ..Default::default()
            }),
            ..Default::default()
        };
        serde_json::to_string(&Record::Event(Box::new(ev))).expect("serializes")
    }

    /// Replays `lines` under the configuration `toml`; the findings' rules, in order.
    fn findings(dir: &std::path::Path, toml: &str, lines: &[String]) -> Vec<(String, Option<u64>)> {
        let input = dir.join("in.jsonl");
        let output = dir.join("out.jsonl");
        let _ = std::fs::remove_file(&output);
        std::fs::write(&input, lines.join("\n")).expect("write input");
        let config = crate::config::Config::parse(toml, "test.toml").expect("valid config");
        let opts = ReplayOptions {
            inputs: vec![input],
            events: false,
            stdout: false,
            outputs: vec![output.clone()],
            config,
            raw: false,
        };
        assert_eq!(replay(&opts).expect("replays"), ExitCode::SUCCESS);
        std::fs::read_to_string(&output)
            .expect("output")
            .lines()
            .map(|l| match serde_json::from_str::<Record>(l).expect("record") {
                Record::Finding(f) => (f.rule.clone(), f.extra.get("count").and_then(|c| c.as_u64())),
                other => panic!("not a finding: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn replay_applies_the_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("c2.txt");
        std::fs::write(&list, "evil.example\n").expect("list");
        let events = vec![
            query("e1", "2026-11-26T10:00:00Z", "xkqzvbtrwplmnhgfd.com."),
            query("e2", "2026-11-26T10:00:01Z", "a.evil.example."),
            query("e3", "2026-11-26T10:00:02Z", "b.evil.example."),
        ];
        // Defaults: the DGA detector is on, the custom list is not loaded, repeats fold.
        let found = findings(dir.path(), "", &events);
        assert_eq!(found, vec![("DGA detector".to_string(), None)]);
        // The configuration's list, no DGA, no folding.
        let toml = format!(
            "[dga]\nenabled = false\n[findings]\naggregate_secs = 0\n[[intel.lists]]\npath = {:?}\ncategory = \"c2\"\n",
            list.display().to_string()
        );
        let found = findings(dir.path(), &toml, &events);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|(r, c)| r.starts_with("Threat list") && c.is_none()), "{found:?}");
        // The same with folding: one finding, then its count when the replay ends.
        let toml = toml.replace("aggregate_secs = 0", "aggregate_secs = 60");
        let found = findings(dir.path(), &toml, &events);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1].1, Some(2), "{found:?}");
    }
}
