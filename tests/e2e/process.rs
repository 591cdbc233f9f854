//! Process telemetry: exec, fork, exit, lineage, hashes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferret_e2e::{events_of, sha256_hex, Sensor};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
/// Debian's interpreter, not a shim that forks and execs on its way.
const PYTHON: &str = "/usr/bin/python3";

/// Copies /usr/bin/true under a name of our own, in a directory with a space.
fn marker(dir: &Path) -> PathBuf {
    let sub = dir.join("bin dir");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let path = sub.join("ferret-marker");
    std::fs::copy("/usr/bin/true", &path).expect("copy marker");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A sensor whose events wait up to 20 s for their executable's hash: the tests run in
/// parallel, and every sensor hashes every test's executables (podman, containerd...), so the
/// default 2 s can pass before a checked hash is computed.
fn hashing_sensor() -> (tempfile::TempDir, Sensor) {
    let (dir, cfg) = ferret_e2e::config_file("[process]\nhash_wait_ms = 20000\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    (dir, sensor)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[test]
fn exec_carries_kernel_path_tricky_args_cwd_hash_and_lineage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = marker(dir.path());
    let cwd = dir.path().join("work \"dir\"");
    std::fs::create_dir_all(&cwd).expect("mkdir cwd");
    let (_cfg, sensor) = hashing_sensor();

    let invalid = OsStr::from_bytes(b"bad\xff\xfeutf8");
    let mut child = Command::new(&bin)
        .args(["quote\"d", "new\nline", "tab\tand\u{1b}esc", ""])
        .arg(invalid)
        .current_dir(&cwd)
        .spawn()
        .expect("run marker");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());

    let ev = sensor.wait_for(WAIT, "marker exec", |v| v["type"] == "process_exec" && v["process"]["pid"] == pid);
    let p = &ev["process"];
    assert_eq!(ev["ret"], 0);
    assert_eq!(s(&p["exe"]), bin.to_str().expect("utf-8 path"));
    assert_eq!(ev["exec"]["path_source"], "kernel");
    assert_eq!(ev["exec"]["filename"], bin.to_str().expect("utf-8"));
    assert_eq!(ev["exec"]["argc"], 6);
    let args: Vec<&str> = p["args"].as_array().expect("args").iter().map(s).collect();
    assert_eq!(
        args,
        vec![bin.to_str().expect("utf-8"), "quote\"d", "new\nline", "tab\tand\u{1b}esc", "", "bad\\xff\\xfeutf8"]
    );
    assert_eq!(p["escaped"], serde_json::json!(["args"]));
    assert_eq!(p["args_truncated"], false);
    assert_eq!(s(&p["cwd"]), cwd.to_str().expect("utf-8"));
    assert_eq!(p["comm"], "ferret-marker");
    assert_eq!(p["uid"], 0);
    assert_eq!(p["ppid"], std::process::id());
    assert_eq!(p["ns_pid"], pid);
    assert_eq!(s(&p["exe_sha256"]), sha256_hex(&bin));
    assert_eq!(p["exe_file"]["size"], std::fs::metadata(&bin).expect("stat").len());
    // Lineage: the test process first, then its own parent, as /proc says.
    let anc = p["ancestors"].as_array().expect("ancestors");
    assert_eq!(anc[0]["pid"], std::process::id());
    assert_eq!(s(&p["parent_exec_id"]), s(&anc[0]["exec_id"]));
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let ppid: u32 =
        stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).and_then(|x| x.parse().ok()).expect("ppid");
    assert_eq!(anc[1]["pid"], ppid);
    assert!(anc.len() <= 10);
    // The fork that made it, reported for the test process.
    let forks = events_of(&sensor.records(), "process_fork", std::process::id())
        .into_iter()
        .filter(|f| f["child"]["pid"] == pid)
        .count();
    assert_eq!(forks, 1);
    let (status, _, _) = sensor.stop();
    assert!(status.success());
}

#[test]
fn long_arguments_are_truncated_and_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = marker(dir.path());
    let sensor = Sensor::start(&[]);
    let big = "A".repeat(100 * 1024);
    let mut child = Command::new(&bin).arg(&big).arg("after").spawn().expect("run");
    let pid = child.id();
    child.wait().expect("wait");
    let ev = sensor.wait_for(WAIT, "long exec", |v| v["type"] == "process_exec" && v["process"]["pid"] == pid);
    let p = &ev["process"];
    assert_eq!(p["args_truncated"], true);
    assert_eq!(ev["exec"]["argc"], 3);
    let args = p["args"].as_array().expect("args");
    // Entries are NUL-separated; the cut last one has no NUL of its own.
    let total: usize = args.iter().map(|a| s(a).len()).sum::<usize>() + args.len() - 1;
    assert_eq!(total, 16384, "argv capture is exactly the documented limit");
    assert!(s(&args[1]).chars().all(|c| c == 'A'));
}

#[test]
fn shebang_script_reports_interpreter_and_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (_cfg, sensor) = hashing_sensor();
    let mut child = Command::new("./hello.sh").arg("x").current_dir(dir.path()).spawn().expect("run script");
    let pid = child.id();
    child.wait().expect("wait");
    let ev = sensor.wait_for(WAIT, "script exec", |v| v["type"] == "process_exec" && v["process"]["pid"] == pid);
    let real_sh = std::fs::canonicalize("/bin/sh").expect("canonical sh");
    assert_eq!(s(&ev["process"]["exe"]), real_sh.to_str().expect("utf-8"));
    assert_eq!(ev["exec"]["interpreter"], "/bin/sh");
    assert_eq!(s(&ev["exec"]["script"]), format!("{}/./hello.sh", dir.path().display()));
    assert_eq!(ev["exec"]["filename"], "./hello.sh");
    assert_eq!(s(&ev["process"]["exe_sha256"]), sha256_hex(&real_sh));
}

#[test]
fn exit_code_and_killing_signal() {
    let sensor = Sensor::start(&[]);
    let mut seven = Command::new("/bin/sh").args(["-c", "exit 7"]).spawn().expect("sh");
    let seven_pid = seven.id();
    assert_eq!(seven.wait().expect("wait").code(), Some(7));
    let mut sleeper = Command::new("/bin/sleep").arg("100").spawn().expect("sleep");
    let sleeper_pid = sleeper.id();
    sensor.wait_for(WAIT, "sleep exec", |v| v["type"] == "process_exec" && v["process"]["pid"] == sleeper_pid);
    sleeper.kill().expect("SIGKILL");
    sleeper.wait().expect("wait");

    let ev = sensor.wait_for(WAIT, "exit 7", |v| v["type"] == "process_exit" && v["process"]["pid"] == seven_pid);
    assert_eq!(ev["exit"]["code"], 7);
    assert_eq!(ev["exit"]["signal"], Value::Null);
    let ev = sensor.wait_for(WAIT, "killed", |v| v["type"] == "process_exit" && v["process"]["pid"] == sleeper_pid);
    assert_eq!(ev["exit"]["code"], Value::Null);
    assert_eq!(ev["exit"]["signal"], 9);
    assert_eq!(ev["exit"]["signal_name"], "SIGKILL");
    assert_eq!(ev["process"]["exe"], "/usr/bin/sleep");
}

#[test]
fn fork_chain_six_deep_has_full_ancestry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = marker(dir.path());
    let sensor = Sensor::start(&[]);
    // Six nested shells, each forking the next (the trailing `; exit` stops
    // the shell from exec'ing in place), the innermost running the marker.
    let mut cmd = format!("'{}' chain; exit 0", bin.display());
    for _ in 0..5 {
        cmd = format!("/bin/sh -c \"{}\"; exit 0", cmd.replace('\\', "\\\\").replace('"', "\\\""));
    }
    let mut child = Command::new("/bin/sh").arg("-c").arg(&cmd).spawn().expect("chain");
    let top = child.id();
    assert!(child.wait().expect("wait").success());
    let ev = sensor.wait_for(WAIT, "marker at chain end", |v| {
        v["type"] == "process_exec"
            && v["process"]["args"][1] == "chain"
            && v["process"]["exe"] == bin.to_str().expect("utf-8")
    });
    let anc = ev["process"]["ancestors"].as_array().expect("ancestors");
    let shells: Vec<&Value> = anc.iter().take(6).collect();
    for a in &shells {
        assert_eq!(a["comm"], "sh", "ancestor {a}");
    }
    assert_eq!(shells[5]["pid"], top, "the sixth ancestor is the shell we started");
    assert_eq!(anc[6]["pid"], std::process::id());
    // Each link is the previous one's parent.
    let recs = sensor.records();
    for w in anc.windows(2).take(6) {
        let child_pid = w[0]["pid"].as_u64().expect("pid") as u32;
        let fork = recs
            .iter()
            .find(|v| v["type"] == "process_fork" && v["child"]["pid"] == child_pid)
            .unwrap_or_else(|| panic!("fork of {child_pid} missing"));
        assert_eq!(fork["process"]["pid"], w[1]["pid"]);
        assert_eq!(fork["child"]["exec_id"], w[0]["exec_id"]);
    }
}

#[test]
fn failed_exec_is_reported_with_errno_and_user_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("does-not-exist");
    let sensor = Sensor::start(&[]);
    // Fork a helper that execs a missing file, so the failure has its own pid.
    let mut child = Command::new("/bin/sh")
        .args(["-c", &format!("'{}' a1 a2; exit 0", missing.display())])
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    child.wait().expect("wait");
    let ev = sensor.wait_for(WAIT, "failed exec", |v| {
        v["type"] == "process_exec" && v["ret"] == -2 && v["exec"]["filename"] == missing.to_str().expect("utf-8")
    });
    assert_eq!(ev["error"], "ENOENT");
    assert_eq!(ev["exec"]["path_source"], "user");
    assert_eq!(ev["attempted_args"], serde_json::json!([missing.to_str().expect("utf-8"), "a1", "a2"]));
    // The actor is the shell that tried; its image did not change.
    assert_eq!(ev["process"]["comm"], "sh");
}

#[test]
fn memfd_execution_is_flagged_and_hashed() {
    let (_cfg, sensor) = hashing_sensor();
    // fexecve of a memfd holding a copy of /usr/bin/sleep: fileless execution.
    // It sleeps so that it is still there to be hashed: an image with no
    // path left cannot be hashed once its process is gone.
    let py = "import os\nfd=os.memfd_create('ferret-test', 0)\nos.write(fd, open('/usr/bin/sleep','rb').read())\nos.execve(fd, ['memfd-true','0.5'], {})\n";
    let mut child = Command::new(PYTHON).args(["-c", py]).spawn().expect("python3");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());
    let ev = sensor.wait_for(WAIT, "memfd exec", |v| {
        v["type"] == "process_exec" && v["process"]["pid"] == pid && v["process"]["args"][0] == "memfd-true"
    });
    let p = &ev["process"];
    assert_eq!(p["exe_memfd"], true);
    assert_eq!(p["exe_deleted"], true);
    assert!(s(&p["exe"]).starts_with("/memfd:ferret-test"), "{}", p["exe"]);
    assert_eq!(ev["exec"]["execveat"], true);
    assert_eq!(ev["exec"]["empty_path"], true);
    // Hashed from the running image, not from any path.
    assert_eq!(p["exe_sha256"], sha256_hex(Path::new("/usr/bin/sleep")).as_str(), "{}", p["exe_hash_error"]);
}

#[test]
fn vfork_and_fork_are_told_apart() {
    let sensor = Sensor::start(&[]);
    // posix_spawn (CLONE_VM|CLONE_VFORK), then a plain fork.
    let py = "import os\nos.waitpid(os.posix_spawn('/bin/true', ['true'], {}), 0)\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n";
    let mut child = Command::new(PYTHON).args(["-c", py]).spawn().expect("python3");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());
    sensor.wait_for(WAIT, "plain fork", |v| {
        v["type"] == "process_fork" && v["process"]["pid"] == pid && v["child"]["vfork"] == false
    });
    sensor.wait_for(WAIT, "vfork", |v| {
        v["type"] == "process_fork" && v["process"]["pid"] == pid && v["child"]["vfork"] == true
    });
}

#[test]
fn threads_are_distinguished_from_processes() {
    let sensor = Sensor::start(&[]);
    // A child that starts a thread: the fork event of the thread names the child process.
    let py = "import threading\nt=threading.Thread(target=lambda: None)\nt.start()\nt.join()\n";
    let mut child = Command::new(PYTHON).args(["-c", py]).spawn().expect("python3");
    let pid = child.id();
    child.wait().expect("wait");
    let ev = sensor.wait_for(WAIT, "thread fork", |v| v["type"] == "process_fork" && v["process"]["pid"] == pid);
    assert_eq!(ev["child"]["thread"], true, "python forks nothing here: its one clone is the thread");
    assert!(s(&ev["process"]["exe"]).contains("python3"));
    assert_eq!(ev["child"]["pid"], pid);
    assert_ne!(ev["child"]["tid"], pid);
    assert_eq!(ev["child"]["exec_id"], ev["process"]["exec_id"]);
}

#[test]
fn stop_prints_counters_and_reports_no_loss_when_idle() {
    let sensor = Sensor::start(&[]);
    let (status, stderr, recs) = sensor.stop();
    assert!(status.success(), "exit on SIGINT is 0");
    assert!(stderr.iter().any(|l| l.contains("lost in kernel")), "{stderr:?}");
    let last = recs.iter().rev().find(|v| v["kind"] == "stats").expect("final stats record");
    assert_eq!(last["last"], true);
    for k in ["exec", "fork", "exit"] {
        assert_eq!(last["kernel_dropped"][k], 0);
    }
}

#[test]
fn runs_as_long_as_asked() {
    require_output_of_duration();
}

fn require_output_of_duration() {
    ferret_e2e::require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.jsonl");
    let status = Command::new(ferret_e2e::ferret_bin())
        .args(["run", "--quiet", "--duration", "1", "--output"])
        .arg(&out)
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success());
    let text = std::fs::read_to_string(&out).expect("output");
    assert!(text.lines().any(|l| l.contains("\"kind\":\"stats\"")));
    // Without --events only findings and stats are written.
    assert!(!text.contains("\"kind\":\"event\""));
}

#[test]
fn non_root_gets_one_line_and_exit_2() {
    let out = Command::new(ferret_e2e::ferret_bin())
        .args(["run", "--duration", "1"])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run as nobody");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("insufficient privileges") && err.contains("CAP_BPF"), "{err}");
}
