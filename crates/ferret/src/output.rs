//! Where records go: JSON lines to stdout and to appended files, each line
//! flushed as it is written so a crash loses nothing already emitted.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use ferret_event::Record;

/// The set of configured outputs.
#[derive(Debug)]
pub struct Outputs {
    stdout: Option<io::Stdout>,
    files: Vec<(String, BufWriter<File>)>,
    line: Vec<u8>,
}

impl Outputs {
    pub fn open(stdout: bool, files: &[impl AsRef<Path>]) -> Result<Outputs> {
        let mut out = Outputs { stdout: stdout.then(io::stdout), files: Vec::new(), line: Vec::with_capacity(4096) };
        for f in files {
            let p = f.as_ref();
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening output {}", p.display()))?;
            out.files.push((p.display().to_string(), BufWriter::new(file)));
        }
        Ok(out)
    }

    /// Writes one record as one line to every output.
    pub fn write(&mut self, rec: &Record) -> Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, rec).context("serializing a record")?;
        self.line.push(b'\n');
        if let Some(s) = &self.stdout {
            let mut lock = s.lock();
            lock.write_all(&self.line).and_then(|_| lock.flush()).context("writing to stdout")?;
        }
        for (name, w) in &mut self.files {
            w.write_all(&self.line).and_then(|_| w.flush()).with_context(|| format!("writing to {name}"))?;
        }
        Ok(())
    }
}
