//! The other subcommands: doctor, record and replay.

use std::process::Command;

use ferret_e2e::{ferret_bin, require_root, spawn_running};

#[test]
fn doctor_tries_every_program_type() {
    require_root();
    let out = Command::new(ferret_bin()).args(["doctor", "--json"]).output().expect("doctor");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["can_run"], true);
    let progs = v["programs"].as_array().expect("programs");
    let names: Vec<&str> = progs.iter().filter_map(|p| p["name"].as_str()).collect();
    for n in [
        "tp_btf",
        "raw_tp",
        "tracepoint",
        "uprobe",
        "kprobe",
        "fentry",
        "lsm",
        "cgroup_skb",
        "sock_ops",
        "tcp_destroy_sock",
        "tcp_send_reset",
        "cgroup_connect4",
        "ringbuf",
        "bpf_send_signal",
    ] {
        assert!(names.contains(&n), "{n} not probed");
    }
    // What DESIGN.md records for this kernel; doctor must find the same by trying.
    let ok = |n: &str| progs.iter().find(|p| p["name"] == n).map(|p| p["ok"] == true).unwrap_or(false);
    for n in [
        "tp_btf",
        "raw_tp",
        "tracepoint",
        "uprobe",
        "cgroup_skb",
        "sock_ops",
        "tcp_destroy_sock",
        "tcp_send_reset",
        "cgroup_connect4",
        "ringbuf",
        "bpf_send_signal",
    ] {
        assert!(ok(n), "{n} should work here");
    }
    assert!(v["kernel"].as_str().is_some_and(|k| !k.is_empty()));

    let text = Command::new(ferret_bin()).arg("doctor").output().expect("doctor table");
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(t.contains("verdict: ferret can run here"), "{t}");
}

#[test]
fn record_then_replay_is_deterministic() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("rec.jsonl");
    let mut sensor =
        spawn_running(Command::new(ferret_bin()).args(["record", "--duration", "3", "--output"]).arg(&rec));
    for _ in 0..5 {
        Command::new("/bin/true").status().expect("true");
    }
    assert!(sensor.wait().expect("wait").success());
    let recorded = std::fs::read_to_string(&rec).expect("recording");
    let events: Vec<&str> = recorded.lines().filter(|l| l.contains("\"kind\":\"event\"")).collect();
    assert!(events.len() >= 10, "5 execs, forks and exits recorded, got {}", events.len());

    let replay = |out: &std::path::Path| {
        let st = Command::new(ferret_bin())
            .args(["replay", "--events", "--quiet", "--output"])
            .arg(out)
            .arg(&rec)
            .status()
            .expect("replay");
        assert!(st.success());
        std::fs::read_to_string(out).expect("replay output")
    };
    let a = replay(&dir.path().join("a.jsonl"));
    let b = replay(&dir.path().join("b.jsonl"));
    assert_eq!(a, b, "replay is deterministic");
    // Findings are left out: tests running beside this one (the miner test)
    // can put a finding's events in the recording, and replay re-detects it.
    let replayed: Vec<&str> = a.lines().filter(|l| l.contains("\"kind\":\"event\"")).collect();
    assert!(
        replayed == events,
        "replay re-emits the recorded events unchanged ({} vs {})",
        replayed.len(),
        events.len()
    );
}

#[test]
fn bad_replay_input_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"kind\":\"stats\",\"time\":\"t\",\"uptime_secs\":1}\nnot json\n").expect("write");
    let out = Command::new(ferret_bin()).args(["replay", "--quiet"]).arg(&bad).output().expect("replay");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:", bad.display())), "{err}");
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("ferret.toml");
    std::fs::write(&cfg, "[process]\nancestorz = 3\n").expect("write");
    let out = Command::new(ferret_bin()).args(["run", "--config"]).arg(&cfg).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ferret.toml") && err.contains("ancestorz"), "{err}");
}

#[test]
fn stats_are_periodic_and_sigterm_stops_cleanly() {
    require_root();
    let (_d, cfg) = ferret_e2e::config_file("[stats]\ninterval_secs = 1\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.jsonl");
    let child = Command::new(ferret_bin())
        .args(["run", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--output")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    // Wait for two periodic records rather than a fixed time: start-up under a
    // loaded parallel suite can take longer than the interval.
    let periodic = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "stats" && v["last"] == false)
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while periodic(&out) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "SIGTERM is a clean stop");
    assert!(String::from_utf8_lossy(&output.stderr).contains("lost in kernel"));
    let text = std::fs::read_to_string(&out).expect("output");
    let stats: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "stats")
        .collect();
    assert!(stats.iter().filter(|s| s["last"] == false).count() >= 2, "periodic stats: {}", stats.len());
    assert_eq!(stats.last().map(|s| s["last"].clone()), Some(serde_json::Value::Bool(true)));
}

#[test]
fn a_raw_recording_replays_through_enrichment_to_the_same_findings() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("rec.raw");
    let miner = dir.path().join("xmrig");
    std::fs::copy("/bin/true", &miner).expect("copy");
    let mut sensor =
        spawn_running(Command::new(ferret_bin()).args(["record", "--raw", "--duration", "3", "--output"]).arg(&rec));
    let child = Command::new(&miner).spawn().expect("xmrig");
    let pid = child.id();
    child.wait_with_output().expect("xmrig ran");
    assert!(sensor.wait().expect("wait").success());

    let out = dir.path().join("replayed.jsonl");
    let st = Command::new(ferret_bin())
        .args(["replay", "--raw", "--events", "--quiet", "--output"])
        .arg(&out)
        .arg(&rec)
        .status()
        .expect("replay");
    assert!(st.success());
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("replay output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // Enrichment ran offline: the exec is complete from the kernel's record alone.
    let exec = recs
        .iter()
        .find(|v| v["type"] == "process_exec" && v["process"]["pid"] == pid)
        .expect("the exec, enriched from the raw record");
    assert_eq!(exec["process"]["exe"], miner.to_str().expect("utf-8"));
    assert_eq!(exec["process"]["comm"], "xmrig");
    let finding = recs
        .iter()
        .find(|v| v["kind"] == "finding" && v["rule"] == "Crypto miner executed")
        .expect("the miner finding from the replay");
    assert_eq!(finding["process"]["pid"], pid);

    // Not a raw recording: a clear error, exit 1.
    let bad = Command::new(ferret_bin()).args(["replay", "--raw", "--quiet"]).arg(&out).output().expect("replay");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a raw ferret recording"));
}
