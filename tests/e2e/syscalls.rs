//! File, network and security-syscall telemetry: each family done for real
//! by `tests/helpers/syscalls.py`, every event checked against what the
//! helper says it did.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferret_e2e::Sensor;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const PYTHON: &str = "/usr/bin/python3";

fn helper(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers").join(name).display().to_string()
}

/// Runs a helper script; returns what it printed last on stderr, as JSON.
fn run_helper(name: &str, args: &[&str]) -> Value {
    let out = Command::new(PYTHON).arg(helper(name)).args(args).output().expect("python3");
    assert!(out.status.success(), "{name} failed: {}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    serde_json::from_str(err.lines().last().expect("helper output")).expect("helper JSON")
}

fn of_pid(recs: &[Value], pid: &Value) -> Vec<Value> {
    recs.iter().filter(|v| v["kind"] == "event" && v["process"]["pid"] == *pid).cloned().collect()
}

fn find<'a>(evs: &'a [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    evs.iter().find(|v| pred(v)).unwrap_or_else(|| panic!("no event: {what}"))
}

#[test]
fn every_syscall_family_is_reported_with_its_result() {
    let sensor = Sensor::start(&[]);
    let truth = run_helper("syscalls.py", &[]);
    let pid = truth["pid"].clone();
    let dir = truth["dir"].as_str().expect("dir").to_string();
    // The last thing the helper does is process_vm_readv: wait for it.
    sensor.wait_for(WAIT, "process_vm_readv", |v| v["type"] == "process_vm_readv" && v["process"]["pid"] == pid);
    let (_, _, recs) = sensor.stop();
    let evs = of_pid(&recs, &pid);
    let ty = |t: &str| evs.iter().filter(|v| v["type"] == t).cloned().collect::<Vec<_>>();

    // Files.
    let created = truth["created"].as_str().expect("created");
    let open = find(&evs, "create", |v| v["type"] == "file_open" && v["file"]["path"] == created);
    assert_eq!(open["file"]["path_source"], "kernel");
    assert_eq!(open["file"]["flags"], serde_json::json!(["O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC"]));
    assert_eq!(open["file"]["mode"], "0640");
    assert!(open["ret"].as_i64().expect("fd") >= 0);
    assert_eq!(open["syscall"]["name"], "openat");
    assert_eq!(open["file"]["inode"]["kind"], "file");

    let b = format!("{dir}/b.txt");
    let ren = find(&evs, "rename", |v| v["type"] == "file_rename");
    assert_eq!(ren["file"]["path"], created);
    assert_eq!(ren["file"]["target"], b.as_str());
    assert_eq!(ren["file"]["path_source"], "user");
    assert_eq!(ren["file"]["path_changed"], false);
    let link = find(&evs, "link", |v| v["type"] == "file_link");
    assert_eq!(link["file"]["target"], format!("{dir}/hard").as_str());
    let sym = find(&evs, "symlink", |v| v["type"] == "file_symlink");
    assert_eq!(sym["file"]["path"], format!("{dir}/sym").as_str());
    assert_eq!(sym["file"]["target"], "/etc/passwd");
    let chmod = find(&evs, "chmod", |v| v["type"] == "file_chmod");
    assert_eq!(chmod["file"]["mode"], "4755", "setuid bit visible");
    assert_eq!(chmod["file"]["path"], b.as_str());
    let chown = find(&evs, "chown", |v| v["type"] == "file_chown");
    assert_eq!(
        (chown["syscall"]["args"]["uid"].as_u64(), chown["syscall"]["args"]["gid"].as_u64()),
        (Some(1), Some(2))
    );
    let mkdir = find(&evs, "mkdir", |v| v["type"] == "file_mkdir");
    assert_eq!(mkdir["file"]["mode"], "0700");
    find(&evs, "truncate", |v| v["type"] == "file_truncate" && v["file"]["path"] == b.as_str());
    find(&evs, "utimes", |v| v["type"] == "file_utimes" && v["file"]["path"] == b.as_str());
    // Relative paths are joined to the kernel's view of the cwd.
    let unlink = find(&evs, "unlink", |v| v["type"] == "file_unlink" && v["file"]["path_arg"] == "hard");
    assert_eq!(unlink["file"]["path"], format!("{dir}/hard").as_str());
    let rmdir = find(&evs, "rmdir", |v| v["type"] == "file_unlink" && v["file"]["path_arg"] == "sub");
    assert_eq!(rmdir["syscall"]["name"], "rmdir");
    // A failed open: the caller's path, the errno.
    let failed = find(&evs, "failed open", |v| v["type"] == "file_open" && v["ret"].as_i64() < Some(0));
    assert_eq!(failed["error"], "ENOENT");
    assert_eq!(failed["file"]["path"], "/nonexistent-ferret/x");
    assert_eq!(failed["file"]["path_source"], "user");
    // Read-only opens: only the interesting one crossed.
    let shadow = find(&evs, "shadow", |v| v["type"] == "file_open" && v["file"]["path"] == "/etc/shadow");
    assert_eq!(shadow["file"]["interesting"], true);
    assert!(
        !evs.iter().any(|v| v["type"] == "file_open" && v["file"]["path"] == b.as_str()),
        "a read-only open of a plain file must be filtered in the kernel"
    );
    let memfd = find(&evs, "memfd", |v| v["type"] == "memfd_create");
    assert_eq!(memfd["syscall"]["args"]["name"], "ferret-mem");
    assert_eq!(memfd["ret"], truth["memfd"]);
    assert!(memfd["file"]["path"].as_str().is_some_and(|p| p.starts_with("/memfd:ferret-mem")));
    let mm = find(&evs, "mmap exec", |v| v["type"] == "mmap_exec" && v["file"]["path"] == "/usr/bin/true");
    assert!(mm["syscall"]["args"]["prot"].as_array().expect("prot").contains(&Value::from("PROT_EXEC")));

    let mp = find(&evs, "mprotect exec", |v| v["type"] == "mprotect_exec");
    assert_eq!(mp["syscall"]["args"]["addr"], truth["anon_exec"]);
    assert_eq!(mp["syscall"]["args"]["anonymous"], true);
    assert_eq!(mp["syscall"]["args"]["prot"], serde_json::json!(["PROT_READ", "PROT_EXEC"]));
    // Failures carry the errno and the caller's path.
    let bad_unlink = find(&evs, "failed unlink", |v| v["type"] == "file_unlink" && v["error"] == "ENOENT");
    assert_eq!(bad_unlink["file"]["path"], "/nonexistent-ferret/y");
    assert_eq!(bad_unlink["ret"], -2);
    let bad_rename = find(&evs, "failed rename", |v| v["type"] == "file_rename" && v["error"] == "ENOENT");
    assert_eq!(bad_rename["file"]["path"], format!("{dir}/missing").as_str());
    let mount = find(&evs, "mount", |v| v["type"] == "mount");
    assert_eq!(mount["ret"], 0);
    assert_eq!(mount["file"]["path"], truth["mnt"]);
    assert_eq!(mount["file"]["target"], "ferret-tmpfs");
    assert_eq!(mount["syscall"]["args"]["fstype"], "tmpfs");
    let umount = find(&evs, "umount", |v| v["type"] == "umount");
    assert_eq!(umount["file"]["path"], truth["mnt"]);
    let rmmod = find(&evs, "delete_module", |v| v["type"] == "module_unload");
    assert_eq!(rmmod["syscall"]["args"]["name"], "ferret_no_such_module");
    assert!(rmmod["ret"].as_i64() < Some(0));
    let setns = find(&evs, "setns", |v| v["type"] == "setns");
    assert_eq!(setns["syscall"]["args"]["nstype"], serde_json::json!(["CLONE_NEWUTS"]));
    let ns_ino = setns["file"]["inode"]["ino"].as_u64().expect("nsfs inode");
    assert_eq!(setns["file"]["path"], format!("ns:[{ns_ino}]").as_str());
    assert_eq!(setns["file"]["pseudo"], true);
    let capset = find(&evs, "capset", |v| v["type"] == "capset");
    assert_eq!(capset["syscall"]["args"]["effective"], truth["cap_effective"]);
    let bpf = find(&evs, "bpf", |v| v["type"] == "bpf");
    assert_eq!(bpf["syscall"]["args"]["cmd_name"], "BPF_PROG_GET_NEXT_ID");

    // Network.
    let tcp = &truth["tcp4"];
    let conn = find(&evs, "connect", |v| v["type"] == "net_connect" && v["net"]["remote"]["port"] == tcp["port"]);
    assert_eq!(conn["ret"], 0);
    assert_eq!(conn["net"]["family"], "AF_INET");
    assert_eq!(conn["net"]["protocol"], "tcp");
    assert_eq!(conn["net"]["remote"]["ip"], "127.0.0.1");
    assert_eq!(conn["net"]["local"]["port"], tcp["client_port"]);
    assert_eq!(conn["net"]["address_source"], "kernel");
    let acc = find(&evs, "accept", |v| v["type"] == "net_accept" && v["ret"] == tcp["accepted_fd"]);
    assert_eq!(acc["net"]["remote"]["port"], tcp["client_port"]);
    assert_eq!(acc["net"]["local"]["port"], tcp["port"]);
    let bind = find(&evs, "bind", |v| v["type"] == "net_bind" && v["net"]["local"]["port"] == tcp["port"]);
    assert_eq!(bind["net"]["local"]["ip"], "127.0.0.1");
    find(&evs, "listen", |v| v["type"] == "net_listen" && v["net"]["local"]["port"] == tcp["port"]);
    let c6 = find(&evs, "connect v6", |v| v["type"] == "net_connect" && v["net"]["family"] == "AF_INET6");
    assert_eq!(c6["net"]["remote"]["ip"], "::1");
    assert_eq!(c6["net"]["remote"]["port"], truth["tcp6"]["port"]);
    let nb = find(&evs, "nonblocking", |v| v["type"] == "net_connect" && v["net"]["in_progress"] == true);
    assert_eq!(nb["error"], "EINPROGRESS");
    assert_eq!(truth["nonblocking_errno"], libc::EINPROGRESS);
    let refused = find(&evs, "refused", |v| v["type"] == "net_connect" && v["error"] == "ECONNREFUSED");
    assert_eq!(refused["net"]["remote"]["port"], truth["refused"]["port"]);
    let unix = find(&evs, "unix connect", |v| v["type"] == "net_connect" && v["net"]["family"] == "AF_UNIX");
    assert_eq!(unix["net"]["remote"]["path"], truth["unix"]);
    if truth.get("packet_fd").is_some() {
        let pk = find(&evs, "packet socket", |v| v["type"] == "net_socket" && v["ret"] == truth["packet_fd"]);
        assert_eq!(pk["net"]["family"], "AF_PACKET");
        assert_eq!(pk["net"]["type"], "SOCK_RAW");
    }

    // Security-relevant syscalls.
    let dup = find(&evs, "dup2 socket", |v| v["type"] == "dup" && v["syscall"]["args"]["oldfd_type"] == "socket");
    assert_eq!(dup["syscall"]["args"]["newfd"], 1);
    assert_eq!(dup["syscall"]["args"]["newfd_is_stdio"], true);
    let pr = find(&evs, "prctl", |v| v["type"] == "prctl");
    assert_eq!(pr["syscall"]["args"]["option_name"], "PR_SET_NAME");
    let kill = find(&evs, "kill", |v| v["type"] == "kill");
    assert_eq!(kill["syscall"]["args"]["target_pid"], pid);
    assert_eq!(kill["syscall"]["args"]["signal"], 0);
    find(&evs, "setuid", |v| v["type"] == "setuid" && v["syscall"]["args"]["uid"] == 0);
    let uffd = find(&evs, "userfaultfd", |v| v["type"] == "userfaultfd");
    assert_eq!(uffd["ret"], truth["userfaultfd"]);
    find(&evs, "process_vm_readv", |v| v["type"] == "process_vm_readv" && v["syscall"]["args"]["target_pid"] == pid);
    let child = of_pid(&recs, &truth["child"]);
    let tm = find(&child, "ptrace traceme", |v| v["type"] == "ptrace");
    assert_eq!(tm["syscall"]["args"]["request_name"], "PTRACE_TRACEME");
    let un = find(&child, "unshare", |v| v["type"] == "unshare");
    assert_eq!(un["syscall"]["args"]["flags"], serde_json::json!(["CLONE_NEWUTS"]));
    assert!(!ty("file_open").is_empty());
}

#[test]
fn open_race_reports_what_was_really_opened() {
    // Every open must be seen, so repeats are not folded here.
    let (_d, cfg) = ferret_e2e::config_file("[kernel]\ndedup_window_ms = 0\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let truth = run_helper("race.py", &["open", "3000"]);
    let pid = truth["pid"].clone();
    let n = truth["opens"].as_array().map(Vec::len).unwrap_or(0);
    // Wait until as many opens as the helper made were reported.
    let deadline = std::time::Instant::now() + WAIT;
    let evs = loop {
        let evs: Vec<Value> = of_pid(&sensor.records(), &pid)
            .into_iter()
            // The helper's racing opens are the O_RDWR ones (it creates the files O_WRONLY).
            .filter(|v| {
                v["type"] == "file_open"
                    && v["file"]["flags"] == serde_json::json!(["O_RDWR"])
                    && v["file"]["path"].as_str().is_some_and(|p| p.contains("ferret-race"))
            })
            .collect();
        if evs.len() >= n || std::time::Instant::now() > deadline {
            break evs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(evs.len(), n, "every open reported");
    let opens = truth["opens"].as_array().expect("opens");
    let mut seen = std::collections::HashSet::new();
    for (ev, truth) in evs.iter().zip(opens) {
        assert_eq!(ev["ret"], truth[0], "events in order");
        assert_eq!(ev["file"]["path"], truth[1], "the event names the file the kernel opened");
        assert_eq!(ev["file"]["path_source"], "kernel");
        seen.insert(truth[1].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(seen.len(), 2, "the flipping thread made both files be opened: {seen:?}");
}

#[test]
fn connect_race_reports_the_real_peer() {
    let (_d, cfg) = ferret_e2e::config_file("[kernel]\ndedup_window_ms = 0\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let truth = run_helper("race.py", &["connect", "1500"]);
    let pid = truth["pid"].clone();
    let conns = truth["connects"].as_array().expect("connects");
    let deadline = std::time::Instant::now() + WAIT;
    let evs = loop {
        let evs: Vec<Value> =
            of_pid(&sensor.records(), &pid).into_iter().filter(|v| v["type"] == "net_connect").collect();
        if evs.len() >= conns.len() || std::time::Instant::now() > deadline {
            break evs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(evs.len(), conns.len(), "every connect reported");
    let mut ports = std::collections::HashSet::new();
    for (ev, t) in evs.iter().zip(conns) {
        assert_eq!(ev["syscall"]["args"]["fd"], t[0]);
        assert_eq!(ev["net"]["remote"]["port"], t[1], "the event names the peer getpeername names");
        ports.insert(t[1].as_u64());
    }
    assert_eq!(ports.len(), 2, "the flipping thread made both peers be reached");
}

/// Runs `n` identical opens of a new file (each preceded by the Python line `before`, with `i`
/// the iteration), then one more after the repeat window. Returns the opens of that file that
/// were reported, and all records.
fn repeated_opens(n: usize, before: &str) -> (Vec<Value>, Vec<Value>) {
    let sensor = Sensor::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.txt");
    let open =
        format!("os.close(os.open({:?}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))", path.display().to_string());
    let py = format!(
        "import os, time\ncpus = sorted(os.sched_getaffinity(0))\nfor i in range({n}):\n    {before}\n    {open}\n\
         os.sched_setaffinity(0, cpus)\ntime.sleep(1.3)\n{open}\n"
    );
    let mut child = Command::new(PYTHON).args(["-c", &py]).spawn().expect("python3");
    let pid = Value::from(child.id());
    assert!(child.wait().expect("wait").success());
    let p = path.to_str().expect("utf-8");
    sensor.wait_for(WAIT, "the open after the window", |v| {
        v["type"] == "file_open"
            && v["process"]["pid"] == pid
            && v["file"]["path"] == p
            && v["syscall"].get("repeats").is_some()
    });
    let (_, _, recs) = sensor.stop();
    let opens =
        of_pid(&recs, &pid).into_iter().filter(|v| v["type"] == "file_open" && v["file"]["path"] == p).collect();
    (opens, recs)
}

#[test]
fn repeated_identical_events_are_folded_in_the_kernel_with_a_count() {
    let (opens, recs) = repeated_opens(50, "pass");
    assert_eq!(opens.len(), 2, "50 identical opens sent once, then once more after the window");
    assert_eq!(opens[0]["syscall"].get("repeats"), None);
    assert_eq!(opens[1]["syscall"]["repeats"], 49);
    let last = recs.iter().rev().find(|v| v["kind"] == "stats").expect("stats");
    assert!(last["kernel_other"]["deduped"].as_u64() >= Some(49));
}

#[test]
fn a_repeat_count_is_whole_when_the_process_moves_between_cpus() {
    // The kernel counts repeats per CPU first; the event sent after the window collects them
    // from every CPU. 60 identical opens, moving to the next CPU every 5.
    let (opens, _) = repeated_opens(60, "os.sched_setaffinity(0, {cpus[(i // 5) % len(cpus)]})");
    assert_eq!(opens.len(), 2, "60 identical opens sent once, then once more after the window");
    assert_eq!(opens[1]["syscall"]["repeats"], 59, "{}", opens[1]);
}

#[test]
fn repeated_connects_fold_by_peer_not_by_socket() {
    let sensor = Sensor::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    // 20 new sockets connected to one TCP listener, then 10 to each of two unix listeners:
    // every socket is new (its own inode), but socket() and connect() repeat by arguments and peer.
    let py = format!(
        "import socket\nl = socket.socket(); l.bind(('127.0.0.93', 0)); l.listen(64)\n\
         for _ in range(20):\n    c = socket.create_connection(l.getsockname()); s, _ = l.accept(); c.close(); s.close()\n\
         us = []\nfor p in ({a:?}, {b:?}):\n    u = socket.socket(socket.AF_UNIX); u.bind(p); u.listen(64); us.append(u)\n\
         for p in ({a:?}, {b:?}):\n    for _ in range(10):\n        c = socket.socket(socket.AF_UNIX); c.connect(p); c.close()\n",
        a = a.display().to_string(),
        b = b.display().to_string()
    );
    let mut child = Command::new(PYTHON).args(["-c", &py]).spawn().expect("python3");
    let pid = Value::from(child.id());
    assert!(child.wait().expect("wait").success());
    sensor.wait_for(WAIT, "the connect to b", |v| {
        v["type"] == "net_connect"
            && v["process"]["pid"] == pid
            && v["net"]["remote"]["path"].as_str().is_some_and(|p| p.ends_with("b.sock"))
    });
    // Each accepted connection's flow, owned by the accepting process.
    let accepted_flows = |recs: &[Value]| {
        recs.iter()
            .filter(|v| {
                v["type"] == "flow"
                    && v["flow"]["direction"] == "inbound"
                    && v["net"]["local"]["ip"] == "127.0.0.93"
                    && v["process"]["pid"] == pid
                    && v["flow"]["owner"] == "accept"
            })
            .count()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while accepted_flows(&sensor.records()) < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, _, recs) = sensor.stop();
    assert_eq!(accepted_flows(&recs), 20, "every accepted connection has its flow, with its owner");
    let evs = of_pid(&recs, &pid);
    let connects: Vec<&Value> = evs.iter().filter(|v| v["type"] == "net_connect").collect();
    let tcp = connects.iter().filter(|v| v["net"]["remote"]["ip"] == "127.0.0.93").count();
    assert_eq!(tcp, 1, "20 connects to one peer within the window are sent once: {connects:#?}");
    for sock in ["a.sock", "b.sock"] {
        let n =
            connects.iter().filter(|v| v["net"]["remote"]["path"].as_str().is_some_and(|p| p.ends_with(sock))).count();
        assert_eq!(n, 1, "one connect event for unix peer {sock}");
    }
    // Accepts from one peer address on one port fold too (the peer's port is ephemeral).
    let accepts = evs.iter().filter(|v| v["type"] == "net_accept").count();
    assert_eq!(accepts, 1, "20 accepts from one peer address are sent once");
    let last = recs.iter().rev().find(|v| v["kind"] == "stats").expect("stats");
    assert!(last["kernel_other"]["deduped"].as_u64() >= Some(19 + 18 + 19 + 19), "{}", last["kernel_other"]);
}

#[test]
fn hostile_paths_are_exact_escaped_or_flagged() {
    let sensor = Sensor::start(&[]);
    let truth = run_helper("badpaths.py", &[]);
    let pid = truth["pid"].clone();
    sensor.wait_for(WAIT, "abstract connect", |v| v["type"] == "net_connect" && v["process"]["pid"] == pid);
    let (_, _, recs) = sensor.stop();
    let evs = of_pid(&recs, &pid);
    let opened = |suffix: &str| {
        evs.iter()
            .find(|v| v["type"] == "file_open" && v["file"]["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
            .unwrap_or_else(|| panic!("no open of *{suffix}"))
            .clone()
    };
    // Just under the limit: the whole path, exactly.
    let under = opened("/under.txt");
    assert_eq!(under["file"]["path"], truth["under"]);
    assert_eq!(under["file"]["path_truncated"], false);
    // Far over it: the leading components are missing, and it says so.
    let over = opened("/over.txt");
    assert_eq!(over["file"]["path_truncated"], true);
    let full = truth["over"].as_str().expect("over");
    let got = over["file"]["path"].as_str().expect("path");
    assert!(full.ends_with(got) && got.len() < full.len() && got.len() <= 4096, "{} of {}", got.len(), full.len());
    // Newline, quote and invalid UTF-8: escaped, flagged, and reversible.
    let base = truth["base"].as_str().expect("base");
    let weird =
        evs.iter().find(|v| v["type"] == "file_open" && v["file"]["path_escaped"] == true).expect("escaped open");
    let text = weird["file"]["path"].as_str().expect("path");
    let bytes = ferret_event_unescape(text);
    assert_eq!(hex::encode(bytes), truth["weird_hex"].as_str().expect("hex"));
    assert!(text.starts_with(base));
    // Unlinked while open: the old path, flagged deleted.
    let gone = evs.iter().find(|v| v["type"] == "file_chmod").expect("fchmod");
    assert_eq!(gone["file"]["path"], truth["gone"]);
    assert_eq!(gone["file"]["deleted"], true);
    assert_eq!(gone["file"]["path_source"], "kernel");
    // /proc/self/mem as the kernel names it: with the pid.
    let mem = opened("/mem");
    assert_eq!(mem["file"]["path"], format!("/proc/{pid}/mem").as_str());
    // An abstract unix name.
    let conn = evs.iter().find(|v| v["type"] == "net_connect").expect("connect");
    assert_eq!(conn["net"]["remote"]["path"], "@ferret-abstract");
}

/// Mirrors ferret_event::text::unescape_bytes (the e2e crate only speaks JSON).
fn ferret_event_unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("hex escape"));
            i += 4;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn syscalls_through_the_32_bit_entry_are_seen_and_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("ia32");
    let st = Command::new("gcc").args(["-O0", "-no-pie", "-o"]).arg(&bin).arg(helper("ia32.c")).status().expect("gcc");
    assert!(st.success(), "building the int 0x80 helper");
    let target = dir.path().join("via-int80");
    let sensor = Sensor::start(&[]);
    let out = Command::new(&bin).arg(&target).arg("/bin/true").output().expect("run helper");
    assert!(out.status.success(), "{:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let pid: u64 = it.next().and_then(|p| p.parse().ok()).expect("pid");
    let fd: i64 = it.next().and_then(|p| p.parse().ok()).expect("fd");
    let sock: i64 = it.next().and_then(|p| p.parse().ok()).expect("socket fd");
    let port: u64 = it.next().and_then(|p| p.parse().ok()).expect("port");
    let t = target.to_str().expect("utf-8");
    let open = sensor.wait_for(WAIT, "ia32 open", |v| {
        v["type"] == "file_open" && v["process"]["pid"] == pid && v["file"]["path"] == t
    });
    assert_eq!(open["syscall"]["ia32"], true);
    assert_eq!(open["syscall"]["name"], "open");
    assert_eq!(open["ret"], fd);
    assert_eq!(open["file"]["flags"], serde_json::json!(["O_WRONLY", "O_CREAT"]));
    assert_eq!(open["file"]["path_source"], "kernel");
    let unlink = sensor.wait_for(WAIT, "ia32 unlink", |v| v["type"] == "file_unlink" && v["process"]["pid"] == pid);
    assert_eq!(unlink["syscall"]["ia32"], true);
    assert_eq!(unlink["file"]["path"], t);
    // Through socketcall: the call it stands for, with its arguments from the array.
    let socket = sensor.wait_for(WAIT, "socket via socketcall", |v| {
        v["type"] == "net_socket" && v["process"]["pid"] == pid && v["syscall"]["via"] == "socketcall"
    });
    assert_eq!(socket["ret"], sock);
    assert_eq!(socket["syscall"]["ia32"], true);
    assert_eq!(socket["syscall"]["name"], "socket");
    assert_eq!(socket["syscall"].get("args_changed"), None);
    let connect = sensor.wait_for(WAIT, "connect via socketcall", |v| {
        v["type"] == "net_connect" && v["process"]["pid"] == pid && v["syscall"]["via"] == "socketcall"
    });
    assert_eq!(connect["net"]["remote"]["ip"], "127.0.0.94");
    assert_eq!(connect["net"]["remote"]["port"], port);
    assert_eq!(connect["ret"], 0);
    // The old mmap: an executable mapping of the file, arguments from memory.
    let mmap = sensor.wait_for(WAIT, "old mmap", |v| {
        v["type"] == "mmap_exec" && v["process"]["pid"] == pid && v["syscall"]["via"] == "mmap"
    });
    assert_eq!(mmap["file"]["path"], "/usr/bin/true");
    assert_eq!(mmap["syscall"]["ia32"], true);
    // A failed execve through the ia32 entry: an exec event like a failed 64-bit one, flagged.
    let exec = sensor.wait_for(WAIT, "failed ia32 execve", |v| {
        v["type"] == "process_exec" && v["process"]["pid"] == pid && v["ret"] == -2
    });
    assert_eq!(exec["error"], "ENOENT");
    assert_eq!(exec["exec"]["ia32"], true);
    assert_eq!(exec["exec"]["filename"], "/nonexistent/ferret-ia32-exec");
    assert_eq!(exec["exec"]["path_source"], "user");
    assert_eq!(exec["attempted_args"], serde_json::json!(["/nonexistent/ferret-ia32-exec", "--ferret-arg"]));
}
