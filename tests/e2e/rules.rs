//! Falco's stable rules, loaded unmodified, fire on the real behaviour they describe.

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use ferret_e2e::Sensor;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";

fn stable_rules() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/falco/falco_rules.yaml");
    p.to_string_lossy().into_owned()
}

/// Waits for the findings of `rule` about process `pid`; returns them once one is there (and a
/// moment later, so a duplicate would be seen too).
fn findings(sensor: &Sensor, rule: &str, pid: u32) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    let of = |recs: Vec<Value>| -> Vec<Value> {
        recs.into_iter().filter(|v| v["kind"] == "finding" && v["rule"] == rule && v["process"]["pid"] == pid).collect()
    };
    loop {
        if !of(sensor.records()).is_empty() {
            thread::sleep(Duration::from_millis(500));
            return of(sensor.records());
        }
        assert!(Instant::now() < deadline, "no finding '{rule}' for pid {pid}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stable_falco_rules_fire_on_shadow_read_renamed_httpd_shell_and_memfd_exec() {
    let rules = stable_rules();
    let sensor = Sensor::start(&["--no-default-rules", "--rules", &rules]);
    let dir = tempfile::tempdir().expect("tempdir");

    // An untrusted program reads /etc/shadow.
    let reader = Command::new(PYTHON).args(["-c", "open('/etc/shadow').read()"]).spawn().expect("python");
    let reader_pid = reader.id();
    assert!(reader.wait_with_output().expect("wait").status.success());
    let f = findings(&sensor, "Read sensitive file untrusted", reader_pid);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["severity"], "medium");
    assert_eq!(f[0]["evidence"][0]["file"]["path"], "/etc/shadow");
    assert!(f[0]["title"].as_str().unwrap_or("").contains("file=/etc/shadow"), "{}", f[0]["title"]);
    assert_eq!(f[0]["why"]["fields"]["fd.name"], "/etc/shadow");
    assert!(f[0]["mitre"].as_array().is_some_and(|m| m.iter().any(|t| t == "T1555")));

    // A web server (python renamed httpd) spawns a shell.
    let httpd = dir.path().join("httpd");
    std::fs::copy(PYTHON, &httpd).expect("copy python");
    let out = Command::new(&httpd)
        .args(["-c", "import subprocess; p = subprocess.Popen(['sh', '-c', 'exit 0']); print(p.pid); p.wait()"])
        .output()
        .expect("httpd");
    let sh_pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    let f = findings(&sensor, "Run shell untrusted", sh_pid);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["process"]["comm"], "sh");
    assert_eq!(f[0]["process"]["ancestors"][0]["comm"], "httpd");
    assert_eq!(f[0]["why"]["fields"]["proc.pname"], "httpd");

    // Fileless execution: a memfd holding /usr/bin/true, executed.
    let py = "import os\nfd=os.memfd_create('payload', 0)\nos.write(fd, open('/usr/bin/true','rb').read())\nos.execve(fd, ['payload'], {})\n";
    let child = Command::new(PYTHON).args(["-c", py]).spawn().expect("python");
    let pid = child.id();
    assert!(child.wait_with_output().expect("wait").status.success());
    let f = findings(&sensor, "Fileless execution via memfd_create", pid);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(f[0]["process"]["exe_memfd"], true);

    let (status, stderr, recs) = sensor.stop();
    assert!(status.success(), "{stderr:?}");
    assert!(stderr.iter().any(|l| l.contains("25 rules loaded")), "{stderr:?}");
    let last = recs.iter().rev().find(|r| r["kind"] == "stats").expect("final stats");
    assert!(last["findings_emitted"].as_u64().unwrap_or(0) >= 3);
}

#[test]
fn rules_check_reports_errors_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "- macro: m\n  condition: proc.name = a\n- rule: r\n  desc: d\n  condition: >\n    m and\n    proc.nosuch = 1\n  output: o\n  priority: WARNING\n",
    )
    .expect("write");
    let out = Command::new(ferret_e2e::ferret_bin()).args(["rules", "check"]).arg(&bad).output().expect("ferret");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{}:7:5: error: rule 'r': unknown field 'proc.nosuch'", bad.display())), "{text}");

    let out =
        Command::new(ferret_e2e::ferret_bin()).args(["rules", "check", &stable_rules()]).output().expect("ferret");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("25 rules loaded, 0 not active, 0 errors"));
}
