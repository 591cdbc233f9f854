//! Raw recordings: the kernel's records exactly as the ring buffer delivered them, so a replay
//! runs the whole userspace pipeline (decode, enrichment, rules, detectors) without a kernel.
//!
//! Layout: the line `ferret-raw 1`, a JSON line with the host and the boot clock's wall time
//! (`{"boot_epoch_ns": "...", "host": {...}}`), then frames: a little-endian u32 length and the
//! record's bytes. A record longer than `MAX_FRAME` or a frame cut short is an error with its
//! offset, never a panic: the file may come from anywhere.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use ferret_event::Host;
use serde::{Deserialize, Serialize};

const MAGIC: &str = "ferret-raw 1";

/// Larger than any record the kernel side writes (an exec record is at most ~33 KiB).
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// i128 as a string: JSON numbers do not carry it safely.
    pub boot_epoch_ns: String,
    pub host: Host,
}

impl Header {
    pub fn boot_epoch_ns(&self) -> Result<i128> {
        self.boot_epoch_ns.parse().with_context(|| format!("boot_epoch_ns {:?} is not a number", self.boot_epoch_ns))
    }
}

/// Appends frames to a raw recording.
#[derive(Debug)]
pub struct Writer {
    out: BufWriter<File>,
}

impl Writer {
    pub fn create(path: &Path, header: &Header) -> Result<Writer> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "{MAGIC}")?;
        serde_json::to_writer(&mut out, header)?;
        writeln!(out)?;
        Ok(Writer { out })
    }

    pub fn write(&mut self, record: &[u8]) -> Result<()> {
        let len = u32::try_from(record.len()).context("record too large")?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(record)?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// Reads a raw recording's frames.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    offset: u64,
    buf: Vec<u8>,
}

/// Opens a recording: its header and a reader positioned on the first frame.
pub fn open(path: &Path) -> Result<(Header, Reader<BufReader<File>>)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_header(BufReader::with_capacity(1 << 20, file)).with_context(|| format!("reading {}", path.display()))
}

/// The header of a recording from `input`, and a reader of its frames.
pub fn read_header<R: BufRead>(mut input: R) -> Result<(Header, Reader<R>)> {
    let mut line = String::new();
    // Bounded reads: a file with no newline is not read whole into memory.
    (&mut input).take(64).read_line(&mut line)?;
    if line.trim_end() != MAGIC {
        bail!("not a raw ferret recording (it starts with {:?}, not {MAGIC:?})", line.trim_end());
    }
    let mut offset = line.len() as u64;
    line.clear();
    (&mut input).take(64 * 1024).read_line(&mut line)?;
    offset += line.len() as u64;
    let header: Header = serde_json::from_str(line.trim_end()).context("the header line")?;
    header.boot_epoch_ns()?;
    Ok((header, Reader { input, offset, buf: Vec::new() }))
}

impl<R: Read> Reader<R> {
    /// The next record, None at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>> {
        let mut len = [0u8; 4];
        match self.input.read(&mut len[..1])? {
            0 => return Ok(None),
            _ => self
                .input
                .read_exact(&mut len[1..])
                .with_context(|| format!("frame length cut short at byte {}", self.offset))?,
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_FRAME {
            bail!("frame of {n} bytes at byte {}: more than any record", self.offset);
        }
        self.buf.resize(n, 0);
        self.input.read_exact(&mut self.buf).with_context(|| format!("frame cut short at byte {}", self.offset))?;
        self.offset += 4 + n as u64;
        Ok(Some(&self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            boot_epoch_ns: "1700000000000000000".into(),
            host: Host { hostname: "h".into(), boot_id: "b".into(), kernel: "k".into() },
        }
    }

    #[test]
    fn frames_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("r.raw");
        let mut w = Writer::create(&p, &header()).expect("create");
        w.write(b"abc").expect("write");
        w.write(&[]).expect("write");
        w.write(&[7u8; 5000]).expect("write");
        w.finish().expect("finish");
        let (h, mut r) = open(&p).expect("open");
        assert_eq!(h.boot_epoch_ns().expect("epoch"), 1_700_000_000_000_000_000);
        assert_eq!(r.next_record().expect("1"), Some(&b"abc"[..]));
        assert_eq!(r.next_record().expect("2"), Some(&[][..]));
        assert_eq!(r.next_record().expect("3").map(<[u8]>::len), Some(5000));
        assert_eq!(r.next_record().expect("end"), None);
    }

    #[test]
    fn hostile_files_are_errors() {
        let good = {
            let mut v = format!("{MAGIC}\n{}\n", serde_json::to_string(&header()).expect("json")).into_bytes();
            v.extend(3u32.to_le_bytes());
            v.extend(b"abc");
            v
        };
        let read_all = |bytes: &[u8]| -> Result<usize> {
            let (_, mut r) = read_header(std::io::Cursor::new(bytes.to_vec()))?;
            let mut n = 0;
            while r.next_record()?.is_some() {
                n += 1;
            }
            Ok(n)
        };
        assert_eq!(read_all(&good).expect("good"), 1);
        assert!(read_all(b"{\"kind\":\"event\"}\n").is_err(), "a JSON recording is not raw");
        assert!(read_all(&good[..good.len() - 1]).is_err(), "a frame cut short");
        let mut huge = good.clone();
        let at = huge.len() - 7;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_all(&huge).unwrap_err().to_string().contains("more than any record"));
        assert!(read_all(&format!("{MAGIC}\n{{\"boot_epoch_ns\":\"x\",\"host\":{{}}}}\n").into_bytes()).is_err());
        // Every prefix is an answer, never a panic.
        for n in 0..good.len() {
            let _ = read_all(&good[..n]);
        }
    }
}
