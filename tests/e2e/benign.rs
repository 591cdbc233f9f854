//! A benign workload gives no finding of medium severity or above: package queries, shell use, a
//! compile, a script, containers started, exec'd into and stopped. Findings are attributed to the
//! workload by lineage (its shell's descendants) or by the containers it started, since other
//! tests run at the same time.

use std::process::Command;
use std::time::Duration;

use ferret_e2e::Sensor;
use serde_json::Value;

const IMAGE: &str = "localhost/ferret-busybox:test";

#[test]
fn a_benign_workload_gives_no_medium_or_higher_finding() {
    ferret_e2e::require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let cids = dir.path().join("cids");
    std::fs::create_dir_all(&cids).expect("mkdir");
    crate::containers::image();
    let podman = "podman --runtime runc";
    let limits = "--ulimit nofile=20000:20000 --ulimit nproc=4096:4096";
    let containers = format!(
        "{podman} run --rm {limits} --cidfile {c}/a {IMAGE} /bin/sh -c 'cat /proc/self/status >/dev/null'
             id=$({podman} run -d {limits} --cidfile {c}/b {IMAGE} /bin/sleep 20)
             {podman} exec $id /bin/cat /proc/self/cgroup >/dev/null
             {podman} rm -f -t 0 $id >/dev/null",
        c = cids.display()
    );
    let script = format!(
        "set -e
         cd {d}
         dpkg -l >/dev/null; apt-cache policy bash >/dev/null
         ls -la /etc >/dev/null; ps aux >/dev/null; id >/dev/null; uname -a >/dev/null
         grep root /etc/passwd >/dev/null; cat /etc/os-release >/dev/null; df -h >/dev/null
         printf 'int main(void){{return 0;}}\\n' > x.c && gcc -O0 -o x x.c && ./x
         python3 -c 'import json, os; print(json.dumps(os.uname()._asdict() if hasattr(os.uname(), \"_asdict\") else 1))' >/dev/null
         echo note > notes.txt; mv notes.txt notes2.txt; rm notes2.txt
         git --version >/dev/null 2>&1 || true
         {containers}
         true",
        d = dir.path().display()
    );
    let sensor = Sensor::start(&[]);
    let child = Command::new("bash").args(["-c", &script]).spawn().expect("bash");
    let root = child.id();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "workload failed");
    std::thread::sleep(Duration::from_secs(2));
    let (status, _, recs) = sensor.stop();
    assert!(status.success());

    let ids: Vec<String> = std::fs::read_dir(&cids)
        .map(|d| {
            d.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).map(|s| s.trim().to_string()).collect()
        })
        .unwrap_or_default();
    let ours = |f: &Value| {
        f["process"]["pid"] == root
            || f["process"]["ancestors"].as_array().is_some_and(|a| a.iter().any(|x| x["pid"] == root))
            || f["container"]["id"].as_str().is_some_and(|id| ids.iter().any(|c| c == id))
    };
    let events = recs.iter().filter(|r| r["kind"] == "event").count();
    let serious: Vec<String> = recs
        .iter()
        .filter(|r| r["kind"] == "finding" && ours(r) && r["severity"] != "low")
        .map(|r| format!("{} {} {}", r["severity"], r["type"], r["title"]))
        .collect();
    assert!(serious.is_empty(), "benign workload gave findings: {serious:#?}");
    assert!(events > 100, "the workload was seen: {events} events");
    assert_eq!(ids.len(), 2, "both containers ran");
}
