//! DNS from the packets: a real dnsmasq on loopback, queried by dig over
//! IPv4 and IPv6, and a server that answers garbage.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferret_e2e::Sensor;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A dnsmasq of the test's own on `v4` (each test its own address: tests
/// run in parallel), and on ::1 when asked.
fn dnsmasq(v4: &str, v6: bool) -> Server {
    let mut cmd = Command::new("dnsmasq");
    cmd.args(["--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", "--port=53"])
        .arg(format!("--listen-address={v4}"));
    if v6 {
        cmd.arg("--listen-address=::1");
    }
    let child = cmd
        .args(["--address=/ferret.test/10.9.8.7", "--txt-record=txt.ferret.test,hello ferret"])
        .args(["--address=/loop.ferret.test/127.0.0.79", "--address=/rebind.ferret.test/169.254.169.254"])
        .args(["--address=/pool.supportxmr.com/127.0.0.84"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq (Debian dnsmasq-base)");
    std::thread::sleep(Duration::from_millis(500));
    Server(child)
}

fn dig(args: &[&str]) -> (u32, String) {
    let child = Command::new("dig")
        .args(["+short", "+tries=1", "+time=3"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("dig");
    let pid = child.id();
    let out = child.wait_with_output().expect("dig output");
    (pid, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn dns_event(sensor: &Sensor, what: &str, ty: &str, pid: u32, name: &str) -> Value {
    sensor.wait_for(WAIT, what, |v| {
        v["type"] == ty && v["process"]["pid"] == pid && v["dns"]["questions"][0]["name"] == name
    })
}

#[test]
fn queries_and_responses_are_attributed_and_decoded() {
    let _server = dnsmasq("127.0.0.77", true);
    let sensor = Sensor::start(&[]);
    let (pid, out) = dig(&["@127.0.0.77", "ferret.test", "A"]);
    assert_eq!(out, "10.9.8.7");
    let q = dns_event(&sensor, "A query", "dns_query", pid, "ferret.test.");
    assert_eq!(q["dns"]["questions"][0]["type"], "A");
    assert_eq!(q["net"]["remote"]["ip"], "127.0.0.77");
    assert_eq!(q["net"]["remote"]["port"], 53);
    assert_eq!(q["process"]["exe"], "/usr/bin/dig");
    let r = dns_event(&sensor, "A response", "dns_response", pid, "ferret.test.");
    assert_eq!(r["dns"]["rcode"], "NOERROR");
    assert_eq!(r["dns"]["id"], q["dns"]["id"]);
    assert_eq!(r["dns"]["answers"][0]["type"], "A");
    assert_eq!(r["dns"]["answers"][0]["data"], "10.9.8.7");
    assert_eq!(r["process"]["exe"], "/usr/bin/dig", "the response is attributed although it arrived in softirq");

    let (pid, out) = dig(&["@::1", "txt.ferret.test", "TXT"]);
    assert_eq!(out, "\"hello ferret\"");
    let r = dns_event(&sensor, "TXT response over IPv6", "dns_response", pid, "txt.ferret.test.");
    assert_eq!(r["net"]["family"], "AF_INET6");
    assert_eq!(r["net"]["remote"]["ip"], "::1");
    assert_eq!(r["dns"]["answers"][0]["type"], "TXT");
    assert!(r["dns"]["answers"][0]["data"].as_str().is_some_and(|d| d.contains("hello ferret")));

    // Over TCP: the same, with the length prefix skipped.
    let (pid, out) = dig(&["+tcp", "@127.0.0.77", "ferret.test", "A"]);
    assert_eq!(out, "10.9.8.7");
    let r = dns_event(&sensor, "A response over TCP", "dns_response", pid, "ferret.test.");
    assert_eq!(r["net"]["protocol"], "tcp");
    assert_eq!(r["dns"]["answers"][0]["data"], "10.9.8.7");
    assert_eq!(r["dns"]["malformed"], Value::Null);
    let q = dns_event(&sensor, "A query over TCP", "dns_query", pid, "ferret.test.");
    assert_eq!(q["net"]["protocol"], "tcp");

    let (pid, _) = dig(&["@127.0.0.77", "missing.example", "A"]);
    let r = dns_event(&sensor, "refused", "dns_response", pid, "missing.example.");
    assert_eq!(r["dns"]["rcode"], "REFUSED");
}

#[test]
fn a_malformed_response_is_flagged_not_fatal() {
    let helper = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("helpers/dns_garbage.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(helper)
        .args(["127.0.0.78", "53"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let _server = Server(child);
    let sensor = Sensor::start(&[]);
    let (pid, _) = dig(&["@127.0.0.78", "bad.ferret.test", "A"]);
    let r = sensor.wait_for(WAIT, "malformed response", |v| v["type"] == "dns_response" && v["process"]["pid"] == pid);
    assert!(r["dns"]["malformed"].as_str().is_some_and(|m| !m.is_empty()), "{}", r["dns"]);
    assert_eq!(r["dns"]["rcode"], "NOERROR", "the header is still read");
    let (status, _, _) = sensor.stop();
    assert!(status.success(), "the sensor survived");
}

#[test]
fn connections_are_named_from_earlier_answers() {
    let _server = dnsmasq("127.0.0.80", false);
    let sensor = Sensor::start(&[]);
    let listener = std::net::TcpListener::bind("127.0.0.79:0").expect("listen on 127.0.0.79");
    let port = listener.local_addr().expect("addr").port();
    let (_, out) = dig(&["@127.0.0.80", "loop.ferret.test", "A"]);
    assert_eq!(out, "127.0.0.79");
    sensor.wait_for(WAIT, "the answer", |v| {
        v["type"] == "dns_response" && v["dns"]["answers"][0]["data"] == "127.0.0.79"
    });
    let py = format!("import socket\nsocket.create_connection(('127.0.0.79', {port})).close()\n");
    let child = Command::new("/usr/bin/python3").args(["-c", &py]).spawn().expect("python3");
    let pid = child.id();
    assert!(child.wait_with_output().expect("wait").status.success());
    let c = sensor.wait_for(WAIT, "the connect", |v| v["type"] == "net_connect" && v["process"]["pid"] == pid);
    assert_eq!(c["net"]["remote"]["ip"], "127.0.0.79");
    assert_eq!(c["net"]["remote"]["names"], serde_json::json!(["loop.ferret.test"]));
}

#[test]
fn an_answer_with_the_metadata_address_is_a_rebinding_finding() {
    let _server = dnsmasq("127.0.0.82", false);
    let sensor = Sensor::start(&[]);
    let (pid, answer) = dig(&["@127.0.0.82", "rebind.ferret.test", "A"]);
    assert_eq!(answer, "169.254.169.254");
    let (ok_pid, _) = dig(&["@127.0.0.82", "www.ferret.test", "A"]);
    let f = sensor
        .wait_for_finding(WAIT, "metadata rebinding", |v| v["type"] == "UnauthorizedAccess:Runtime/MetadataDNSRebind");
    assert_eq!(f["process"]["pid"], pid);
    assert_eq!(f["evidence"][0]["dns"]["answers"][0]["data"], "169.254.169.254");
    let (status, _, recs) = sensor.stop();
    assert!(status.success());
    let rebinds: Vec<&Value> = recs
        .iter()
        .filter(|v| v["kind"] == "finding" && v["type"] == "UnauthorizedAccess:Runtime/MetadataDNSRebind")
        .collect();
    assert_eq!(rebinds.len(), 1, "{rebinds:#?}");
    assert!(!recs.iter().any(|v| v["kind"] == "finding" && v["process"]["pid"] == ok_pid));
}

#[test]
fn threat_lists_flag_a_mining_pool_lookup_its_connection_and_a_listed_address() {
    let _server = dnsmasq("127.0.0.83", false);
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("c2.csv");
    // Every category: a domain for each, a Tor address, the hash of a binary the test runs.
    let marked = dir.path().join("marked-binary");
    std::fs::copy("/usr/bin/true", &marked).expect("copy");
    std::fs::write(&marked, [std::fs::read("/usr/bin/true").expect("true"), b"ferret-intel-test".to_vec()].concat())
        .expect("mark");
    std::fs::set_permissions(&marked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let hash = ferret_e2e::sha256_hex(&marked);
    std::fs::write(
        &list,
        format!(
            "indicator,category,severity,description\n127.0.0.85,c2,critical,test C2 address\n127.0.0.86,tor,medium,test Tor node\n\
             {hash},malware,high,test binary\nc2.intel.ferret.test,c2,high,\nblackhole.intel.ferret.test,blackhole,medium,\n\
             drop.intel.ferret.test,droppoint,high,\ndriveby.intel.ferret.test,driveby,medium,\nphish.intel.ferret.test,phishing,medium,\n\
             abused.intel.ferret.test,abused,medium,\nmalicious.intel.ferret.test,malicious,high,\nsuspicious.intel.ferret.test,suspicious,low,\n"
        ),
    )
    .expect("list");
    let (_cfg_dir, cfg) =
        ferret_e2e::config_file(&format!("[[intel.lists]]\npath = \"{}\"\ncategory = \"c2\"\n", list.display()));
    let sensor = Sensor::start(&["--config", cfg.to_str().unwrap_or("")]);

    // A lookup of a pool in ferret's built-in mining list (a subdomain of supportxmr.com).
    let (dig_pid, answer) = dig(&["@127.0.0.83", "pool.supportxmr.com", "A"]);
    assert_eq!(answer, "127.0.0.84");
    let f =
        sensor.wait_for_finding(WAIT, "BitcoinTool.B!DNS", |v| v["type"] == "CryptoCurrency:Runtime/BitcoinTool.B!DNS");
    assert_eq!(f["process"]["pid"], dig_pid);
    assert_eq!(f["why"]["indicator"], "supportxmr.com");
    assert_eq!(f["severity"], "high");

    // A connection to the address it resolved to: named from the resolver cache, then listed.
    let connect = |ip: &str| {
        let out = Command::new("python3")
            .args(["-c", &format!("import os,socket\nprint(os.getpid())\ntry: socket.create_connection(('{ip}', 9), timeout=1)\nexcept OSError: pass")])
            .output()
            .expect("python");
        String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().expect("pid")
    };
    let miner = connect("127.0.0.84");
    let f = sensor.wait_for_finding(WAIT, "BitcoinTool.B", |v| v["type"] == "CryptoCurrency:Runtime/BitcoinTool.B");
    assert_eq!(f["process"]["pid"], miner);
    assert_eq!(f["why"]["matched"], "pool.supportxmr.com");

    // A listed address from the configured CSV.
    let c2 = connect("127.0.0.85");
    let f = sensor.wait_for_finding(WAIT, "C&CActivity.B", |v| v["type"] == "Backdoor:Runtime/C&CActivity.B");
    assert_eq!(f["process"]["pid"], c2);
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["why"]["description"], "test C2 address");

    // A query for each listed domain category, a connection to the Tor address, the listed binary.
    for (name, ty) in [
        ("c2.intel.ferret.test", "Backdoor:Runtime/C&CActivity.B!DNS"),
        ("blackhole.intel.ferret.test", "Trojan:Runtime/BlackholeTraffic!DNS"),
        ("drop.intel.ferret.test", "Trojan:Runtime/DropPoint!DNS"),
        ("driveby.intel.ferret.test", "Trojan:Runtime/DriveBySourceTraffic!DNS"),
        ("phish.intel.ferret.test", "Trojan:Runtime/PhishingDomainRequest!DNS"),
        ("abused.intel.ferret.test", "Impact:Runtime/AbusedDomainRequest.Reputation"),
        ("malicious.intel.ferret.test", "Impact:Runtime/MaliciousDomainRequest.Reputation"),
        ("suspicious.intel.ferret.test", "Impact:Runtime/SuspiciousDomainRequest.Reputation"),
    ] {
        let (pid, _) = dig(&["@127.0.0.83", name, "A"]);
        let f = sensor.wait_for_finding(WAIT, ty, |v| v["type"] == ty);
        assert_eq!(f["process"]["pid"], pid, "{ty}");
        assert_eq!(f["context"]["dns_name"], name);
    }
    let tor = connect("127.0.0.86");
    let f = sensor.wait_for_finding(WAIT, "TorClient", |v| v["type"] == "UnauthorizedAccess:Runtime/TorClient");
    assert_eq!(f["process"]["pid"], tor);
    let run = Command::new(&marked).spawn().expect("marked binary");
    let run_pid = run.id();
    let _ = run.wait_with_output();
    let f = sensor
        .wait_for_finding(WAIT, "MaliciousFileExecuted", |v| v["type"] == "Execution:Runtime/MaliciousFileExecuted");
    assert_eq!(f["process"]["pid"], run_pid);
    assert_eq!(f["why"]["indicator"], hash.as_str());

    // A generated-looking name, on no list: the DGA detector.
    let (dga_pid, _) = dig(&["@127.0.0.83", "xkqjzpwmvtrbhq.com", "A"]);
    let f = sensor.wait_for_finding(WAIT, "DGADomainRequest", |v| v["type"] == "Trojan:Runtime/DGADomainRequest.C!DNS");
    assert_eq!(f["process"]["pid"], dga_pid);
    assert_eq!(f["why"]["label"], "xkqjzpwmvtrbhq");

    let (status, _, recs) = sensor.stop();
    assert!(status.success());
    let n = |ty: &str| {
        recs.iter()
            .filter(|v| v["kind"] == "finding" && v["type"] == ty)
            .map(|v| v["id"].clone())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert_eq!(n("CryptoCurrency:Runtime/BitcoinTool.B!DNS"), 1);
    assert_eq!(n("CryptoCurrency:Runtime/BitcoinTool.B"), 1);
    assert_eq!(n("Backdoor:Runtime/C&CActivity.B"), 1);
    assert_eq!(n("Trojan:Runtime/DGADomainRequest.C!DNS"), 1, "the pool and other names are not DGA");
}

/// Runs `argv` with /etc/resolv.conf pointing at `server`, in a mount namespace of its own (the
/// host's file is untouched). `unshare` without --fork execs: the pid is the program's.
fn with_resolver(server: &str, dir: &std::path::Path, argv: &str) -> (u32, String) {
    let conf = dir.join("resolv.conf");
    std::fs::write(&conf, format!("nameserver {server}\noptions attempts:1 timeout:3\n")).expect("resolv.conf");
    let script = format!("mount --bind {} /etc/resolv.conf && exec {argv}", conf.display());
    let child =
        Command::new("unshare").args(["-m", "sh", "-c", &script]).stdout(Stdio::piped()).spawn().expect("unshare");
    let pid = child.id();
    let out = child.wait_with_output().expect("resolver output");
    (pid, String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn the_system_resolver_python_and_a_container_are_attributed() {
    let _server = dnsmasq("127.0.0.92", false);
    let (_d, cfg) = ferret_e2e::config_file("[flows]\nudp_idle_secs = 1\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let dir = tempfile::tempdir().expect("tempdir");

    // glibc's resolver, through getent.
    let (pid, out) = with_resolver("127.0.0.92", dir.path(), "getent ahostsv4 ferret.test");
    assert!(out.contains("10.9.8.7"), "getent: {out}");
    let q = dns_event(&sensor, "getent's query", "dns_query", pid, "ferret.test.");
    assert_eq!(q["process"]["comm"], "getent");
    let r = dns_event(&sensor, "getent's answer", "dns_response", pid, "ferret.test.");
    assert_eq!(r["dns"]["answers"][0]["data"], "10.9.8.7");

    // Python's resolver (getaddrinfo).
    let py = "python3 -c \"import socket; print(socket.getaddrinfo('txt.ferret.test', 80, socket.AF_INET)[0][4][0])\"";
    let (pid, out) = with_resolver("127.0.0.92", dir.path(), py);
    assert_eq!(out, "10.9.8.7");
    let r = dns_event(&sensor, "Python's answer", "dns_response", pid, "txt.ferret.test.");
    assert_eq!(r["process"]["comm"], "python3");
    assert_eq!(r["dns"]["answers"][0]["data"], "10.9.8.7");

    // busybox's own resolver in a podman container (host network: the server is on loopback).
    crate::containers::image();
    let cidfile = dir.path().join("cid");
    let out = crate::containers::podman_run()
        .args(["--network", "host", "--cidfile"])
        .arg(&cidfile)
        .args([crate::containers::IMAGE, "/bin/busybox", "nslookup", "-type=a", "ferret.test", "127.0.0.92"])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "nslookup in a container: {}", String::from_utf8_lossy(&out.stderr));
    let cid = std::fs::read_to_string(&cidfile).expect("cidfile").trim().to_string();
    let q = sensor.wait_for(WAIT, "the container's query", |v| {
        v["type"] == "dns_query"
            && v["dns"]["questions"][0]["name"] == "ferret.test."
            && v["container"]["id"] == cid.as_str()
    });
    assert_eq!(q["process"]["comm"], "busybox");
    let r = sensor.wait_for(WAIT, "the container's answer", |v| {
        v["type"] == "dns_response"
            && v["container"]["id"] == cid.as_str()
            && v["dns"]["answers"][0]["data"] == "10.9.8.7"
    });
    assert_eq!(r["net"]["remote"]["ip"], "127.0.0.92");
    // The conversation's flow record carries the container too.
    sensor.wait_for(WAIT, "the container's DNS flow", |v| {
        v["type"] == "flow" && v["container"]["id"] == cid.as_str() && v["net"]["remote"]["port"] == 53
    });
    sensor.stop();
}
