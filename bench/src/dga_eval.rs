//! How the DGA detector does on real and generated names.
//!
//! Real names: every host name in this machine's Debian documentation (/usr/share/doc: copyright
//! files, changelogs, READMEs), thousands of names people chose and resolve; or a file of names,
//! one a line (`--names`, e.g. a resolver's cache dump). Generated names: random-letter,
//! letter-and-digit, hex and short random labels (the shapes of Conficker, Ramnit, Necurs-style
//! DGAs), and word-pair labels (Suppobox/Matsnu-style, which character statistics cannot catch),
//! from a fixed seed. Prints the false-positive and detection rates per threshold.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use clap::Parser;
use ferret_detect::dga::{Dga, DEFAULT_THRESHOLD};

#[derive(Parser, Debug)]
struct Args {
    /// A file of real names, one a line; default: the host names in /usr/share/doc.
    #[arg(long)]
    names: Option<PathBuf>,
    #[arg(long, default_value = "bench/results/dga.md")]
    report: PathBuf,
}

/// xorshift64*: a fixed, dependency-free sequence for the generated names.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn label(&mut self, min: u64, max: u64, alphabet: &[u8]) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char).collect()
    }
}

fn doc_names() -> BTreeSet<String> {
    let re = regex::Regex::new(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|org|net|io|de|fr|uk|edu|gov|info|cz|nl|ch|it|jp|ru|se|no|fi|at|be|dk|pl|br|ca|au|us|eu|me|co|cc|tv|xyz|dev|app|cloud)\b")
        .expect("regex");
    let mut names = BTreeSet::new();
    let Ok(dirs) = std::fs::read_dir("/usr/share/doc") else { return names };
    for d in dirs.flatten() {
        let Ok(files) = std::fs::read_dir(d.path()) else { continue };
        for f in files.flatten() {
            let path = f.path();
            let mut bytes = Vec::new();
            let Ok(file) = std::fs::File::open(&path) else { continue };
            if path.extension().is_some_and(|e| e == "gz") {
                if flate_gz(file, &mut bytes).is_err() {
                    continue;
                }
            } else if file.take(8 << 20).read_to_end(&mut bytes).is_err() {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes).to_lowercase();
            names.extend(re.find_iter(&text).map(|m| m.as_str().to_string()));
        }
    }
    names
}

/// Gzipped docs are read through the system's gzip (no decompressor crate just for this).
fn flate_gz(file: std::fs::File, out: &mut Vec<u8>) -> std::io::Result<()> {
    let child =
        std::process::Command::new("gzip").arg("-dc").stdin(file).stdout(std::process::Stdio::piped()).spawn()?;
    let mut stdout = child.stdout.ok_or_else(|| std::io::Error::other("no stdout"))?;
    stdout.by_ref().take(8 << 20).read_to_end(out)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let names: Vec<String> = match &args.names {
        Some(p) => {
            std::fs::read_to_string(p)?.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
        }
        None => doc_names().into_iter().collect(),
    };
    let labels: Vec<String> = names.iter().filter_map(|n| Dga::registrable_label(n)).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let lower = b"abcdefghijklmnopqrstuvwxyz";
    let alnum = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let hex = b"0123456789abcdef";
    let words: Vec<&String> =
        labels.iter().filter(|l| l.len() >= 4 && l.len() <= 8 && l.bytes().all(|c| c.is_ascii_lowercase())).collect();
    let families: Vec<(&str, Vec<String>)> = vec![
        ("random letters, 10-20", (0..3000).map(|_| rng.label(10, 20, lower)).collect()),
        ("letters and digits, 12-24", (0..3000).map(|_| rng.label(12, 24, alnum)).collect()),
        ("hex, 16-32", (0..3000).map(|_| rng.label(16, 32, hex)).collect()),
        ("random letters, 8-9", (0..3000).map(|_| rng.label(8, 9, lower)).collect()),
        (
            "two words (dictionary DGA)",
            if words.is_empty() {
                Vec::new()
            } else {
                (0..3000)
                    .map(|_| {
                        let a = words[rng.below(words.len() as u64) as usize];
                        let b = words[rng.below(words.len() as u64) as usize];
                        format!("{a}{b}")
                    })
                    .collect()
            },
        ),
    ];
    let mut out = String::from("# DGA detector: false positives and detection\n\n");
    out.push_str(&format!(
        "Real names: {} host names ({} with a judged label of 8+ characters) from {}.\n\n",
        names.len(),
        labels.iter().filter(|l| l.len() >= 8).count(),
        args.names.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "/usr/share/doc".into())
    ));
    out.push_str("| threshold | false positives on real names |");
    for (f, _) in &families {
        out.push_str(&format!(" {f} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(families.len()));
    out.push('\n');
    for th in [1.6, 1.8, DEFAULT_THRESHOLD, 2.2, 2.4] {
        let d = Dga::new(th);
        let flagged: Vec<&String> = labels.iter().filter(|l| d.score(l).is_some_and(|v| v.score >= th)).collect();
        let mark = if th == DEFAULT_THRESHOLD { " (default)" } else { "" };
        out.push_str(&format!(
            "| {th}{mark} | {} of {} ({:.2}%) |",
            flagged.len(),
            labels.len(),
            100.0 * flagged.len() as f64 / labels.len().max(1) as f64
        ));
        for (_, gen) in &families {
            let hit = gen.iter().filter(|l| d.score(l).is_some_and(|v| v.score >= th)).count();
            out.push_str(&format!(" {:.1}% |", 100.0 * hit as f64 / gen.len().max(1) as f64));
        }
        out.push('\n');
        if th == DEFAULT_THRESHOLD {
            eprintln!("flagged at the default: {flagged:?}");
        }
    }
    print!("{out}");
    if let Some(parent) = args.report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.report, out)?;
    Ok(())
}
