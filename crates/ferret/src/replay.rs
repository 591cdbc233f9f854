//! `ferret replay`: runs the detection pipeline over a recorded event stream
//! with no kernel involved. Deterministic: the same input gives the same
//! output, byte for byte (ids and times come from the recording).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferret_event::Record;

use crate::output::Outputs;

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub inputs: Vec<PathBuf>,
    pub events: bool,
    pub stdout: bool,
    pub outputs: Vec<PathBuf>,
    pub rules: Vec<PathBuf>,
    pub defaults: bool,
    pub aggregate: std::time::Duration,
    pub intel: crate::config::IntelConfig,
}

/// Replays every input in order. Lines that are not records are reported
/// with file:line and skipped; the exit code is 1 if there were any.
pub fn replay(opts: &ReplayOptions) -> Result<ExitCode> {
    let rules = crate::findings::load_rules(opts.defaults, &opts.rules)?;
    let dga = Some(ferret_detect::dga::Dga::new(ferret_detect::dga::DEFAULT_THRESHOLD));
    let mut detect =
        crate::findings::Detect::new(rules, opts.intel.load()?, dga, opts.aggregate, std::time::Duration::ZERO);
    let mut outputs = Outputs::open(opts.stdout, &opts.outputs)?;
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
                    for f in detect.event(&ev) {
                        found += 1;
                        outputs.write(&Record::Finding(Box::new(f)))?;
                    }
                    if opts.events {
                        outputs.write(&Record::Event(ev))?;
                    }
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
    for f in detect.drain() {
        outputs.write(&Record::Finding(Box::new(f)))?;
    }
    eprintln!("ferret: replayed {events} events, {found} findings, {bad} bad lines");
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
