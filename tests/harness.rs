//! Harness for the end-to-end tests: starts the real `ferret` binary against
//! the real kernel, and reads back what it wrote. These tests need root.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The ferret binary under test: `$FERRET_BIN`, else the one built beside
/// this test binary (target/<profile>/ferret).
pub fn ferret_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRET_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/ferret
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("ferret")).expect("target dir");
    assert!(bin.exists(), "{} not built: run `cargo build` first (make test does)", bin.display());
    bin
}

/// Fails loudly when not root: these tests must run, not skip.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the end-to-end tests need root (run them through `make test` as root)");
}

/// A running sensor writing every event to a temp file.
#[derive(Debug)]
pub struct Sensor {
    child: Child,
    out: PathBuf,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Sensor {
    /// Starts `ferret run --events` with extra arguments and waits until it
    /// has attached.
    pub fn start(extra: &[&str]) -> Sensor {
        require_root();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("events.jsonl");
        let mut child = Command::new(ferret_bin())
            .args(["run", "--events", "--quiet", "--output"])
            .arg(&out)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferret");
        let stderr = stderr_lines(&mut child);
        let mut s = Sensor { child, out, stderr, stderr_seen: Vec::new(), _dir: dir };
        await_running(&mut s.child, &s.stderr, &mut s.stderr_seen);
        s
    }

    /// Records written so far: every complete line (ferret may be in the
    /// middle of writing the last one).
    pub fn records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Waits until `pred` holds for some event, or panics after `timeout`.
    pub fn wait_for(&self, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_kind("event", timeout, what, pred)
    }

    /// Waits until `pred` holds for some finding, or panics after `timeout`.
    pub fn wait_for_finding(&self, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_kind("finding", timeout, what, pred)
    }

    fn wait_for_kind(&self, kind: &str, timeout: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.records().into_iter().find(|v| v["kind"] == kind && pred(v)) {
                return v;
            }
            assert!(Instant::now() < deadline, "no {kind}: {what}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, wait for exit; returns (exit status, stderr lines, all records).
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>, Vec<Value>) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait ferret");
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(500)) {
            self.stderr_seen.push(l);
        }
        let recs = self.records();
        (status, self.stderr_seen.clone(), recs)
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration file for a test's sensor, kept as long as the returned dir.
pub fn config_file(toml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferret.toml");
    std::fs::write(&path, toml).expect("write config");
    (dir, path)
}

/// Events of one type for one pid.
pub fn events_of<'a>(recs: &'a [Value], ty: &str, pid: u32) -> Vec<&'a Value> {
    recs.iter().filter(|v| v["kind"] == "event" && v["type"] == ty && v["process"]["pid"] == pid).collect()
}

/// sha256 of a file, hex.
pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read file to hash")))
}

/// Spawns a ferret command (`record`, `run`) with stderr piped and returns once
/// it says it is running, so a test's workload is not started before the
/// probes are attached. The rest of stderr is passed through to ours.
pub fn spawn_running(cmd: &mut Command) -> Child {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn ferret");
    let lines = stderr_lines(&mut child);
    await_running(&mut child, &lines, &mut Vec::new());
    thread::spawn(move || {
        for line in lines {
            eprintln!("{line}");
        }
    });
    child
}

/// The child's stderr, line by line, from a thread (so a wait can time out).
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (60 s at most) for ferret's "running" line, keeping what it printed
/// before in `seen`; panics with it when ferret exits or hangs instead.
fn await_running(child: &mut Child, lines: &mpsc::Receiver<String>, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let ready = line.contains("ferret: running");
                seen.push(line);
                if ready {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("ferret exited early: {seen:?}"),
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("ferret exited early ({st}): {seen:?}");
        }
        assert!(Instant::now() < deadline, "ferret did not start: {seen:?}");
    }
}
