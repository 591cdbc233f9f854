//! Flow records: real TCP connections and UDP conversations on loopback between two processes,
//! each side moving a known number of payload bytes, checked on both sides' records.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

use ferret_e2e::{config_file, Sensor};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn peer(args: &[&str]) -> Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helpers/flow_peer.py");
    Command::new("python3").arg(script).args(args).spawn().expect("python3")
}

/// The port a server wrote once it listened.
fn port_of(file: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(p) = std::fs::read_to_string(file) {
            return p;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(mut c: Child) {
    assert!(c.wait().expect("peer").success(), "a peer failed");
}

/// The final flow record of `pid`'s socket with local or remote port `port`.
fn flow(sensor: &Sensor, what: &str, pid: u32, port: u64, state: &str) -> Value {
    sensor.wait_for(WAIT, what, |v| {
        v["type"] == "flow"
            && v["process"]["pid"] == pid
            && v["flow"]["state"] == state
            && (v["net"]["remote"]["port"] == port || v["net"]["local"]["port"] == port)
    })
}

/// An RFC 3339 time of a record, as wall-clock time.
fn at(v: &Value) -> SystemTime {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(t.unix_timestamp_nanos()).expect("after 1970"))
}

#[test]
fn tcp_connections_count_payload_both_ways_on_each_side() {
    let sensor = Sensor::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let portfile = dir.path().join("port");
    let server = peer(&["tcp-server", "127.0.0.87", portfile.to_str().expect("utf-8"), "70000", "12345"]);
    let port = port_of(&portfile);
    let before = SystemTime::now();
    let client = peer(&["tcp-client", "127.0.0.87", &port, "70000", "12345", "0"]);
    let (spid, cpid) = (server.id(), client.id());
    finish(client);
    finish(server);
    let after = SystemTime::now();
    let port: u64 = port.parse().expect("port");

    let c = flow(&sensor, "the client's flow", cpid, port, "closed");
    assert_eq!(c["flow"]["direction"], "outbound");
    assert_eq!(c["flow"]["owner"], "kernel");
    assert_eq!(c["flow"]["bytes_out"], 70000, "{c}");
    assert_eq!(c["flow"]["bytes_in"], 12345, "{c}");
    assert!(c["flow"]["packets_out"].as_u64().unwrap_or(0) >= 2, "{c}");
    assert_eq!(c["flow"]["start_known"], true);
    assert_eq!(c["net"]["protocol"], "tcp");
    assert_eq!(c["net"]["remote"]["ip"], "127.0.0.87");
    assert_eq!(c["process"]["comm"], "python3");

    let s = flow(&sensor, "the server's flow", spid, port, "closed");
    assert_eq!(s["flow"]["direction"], "inbound");
    assert_eq!(s["flow"]["owner"], "accept", "the accepting process, found by socket cookie: {s}");
    assert_eq!(s["flow"]["bytes_in"], 70000, "{s}");
    assert_eq!(s["flow"]["bytes_out"], 12345, "{s}");
    assert_eq!(s["net"]["local"]["port"], port);
    assert_eq!(s["net"]["local"]["ip"], "127.0.0.87");
    // The two sides are the same connection seen from each end.
    assert_eq!(s["net"]["remote"]["port"], c["net"]["local"]["port"]);
    // The accept event carries the cookie the server's flow has.
    let accept =
        sensor.wait_for(WAIT, "the accept event", |v| v["type"] == "net_accept" && v["process"]["pid"] == spid);
    assert_eq!(accept["net"]["cookie"], s["flow"]["cookie"], "{accept}");
    // The times, some of them TCP's own clock readings (bpf/net.bpf.c), in order: the connect,
    // the accepted side's establishment, each side's end; all while the peers ran (1 ms for
    // rounding between the clocks).
    let slack = Duration::from_millis(1);
    let (c_start, s_start) = (at(&c["flow"]["start"]), at(&s["flow"]["start"]));
    let (c_end, s_end) = (at(&c["time"]), at(&s["time"]));
    assert!(before <= c_start + slack && c_start <= s_start, "{c}\n{s}");
    assert!(s_start <= s_end && c_start <= c_end, "{c}\n{s}");
    assert!(c_end <= after + slack && s_end <= after + slack, "{c}\n{s}");
    sensor.stop();
}

#[test]
fn an_aborted_connection_keeps_its_peer_and_totals() {
    // SO_LINGER 0: close sends a reset and the kernel clears the socket's peer and counters before
    // destroying it; the record is taken at the reset.
    let sensor = Sensor::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let portfile = dir.path().join("port");
    let server = peer(&["tcp-server", "127.0.0.88", portfile.to_str().expect("utf-8"), "5000", "700"]);
    let port = port_of(&portfile);
    let client = peer(&["tcp-client", "127.0.0.88", &port, "5000", "700", "0", "abort"]);
    let (spid, cpid) = (server.id(), client.id());
    finish(client);
    finish(server);
    let port: u64 = port.parse().expect("port");
    let c = flow(&sensor, "the aborting client's flow", cpid, port, "closed");
    assert_eq!(c["net"]["remote"]["ip"], "127.0.0.88", "{c}");
    assert_eq!(c["net"]["local"]["ip"], "127.0.0.1", "{c}");
    assert_eq!((c["flow"]["bytes_out"].as_u64(), c["flow"]["bytes_in"].as_u64()), (Some(5000), Some(700)), "{c}");
    let s = flow(&sensor, "the server's flow", spid, port, "closed");
    assert_eq!(s["net"]["remote"]["port"], c["net"]["local"]["port"], "{s}");
    assert_eq!(s["flow"]["bytes_in"], 5000, "{s}");
    // One record for the client's connection: the destroy after the reset sends none (stopping
    // the sensor flushes every batch).
    let cookie = c["flow"]["cookie"].clone();
    let (_, _, recs) = sensor.stop();
    let n = recs.iter().filter(|v| v["type"] == "flow" && v["flow"]["cookie"] == cookie).count();
    assert_eq!(n, 1, "records with the client's cookie");
}

#[test]
fn a_connect_abandoned_before_the_handshake_keeps_its_peer() {
    // A SYN that no one answers: in a network namespace of its own, 10.9.8.0/24 routes back
    // through lo to a host address that is not local, so the SYN is dropped and the connect stays
    // pending. SO_LINGER 0 then disconnects it, which sends no reset and clears the socket's peer
    // port and local address; the record has them from the connect.
    let sensor = Sensor::start(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helpers/flow_peer.py");
    let setup = format!(
        "ip link set lo up && ip addr add 10.9.9.1/32 dev lo && ip route add 10.9.8.0/24 dev lo src 10.9.9.1 \
         && exec python3 {} tcp-syn-abort 10.9.8.2 8443",
        script.display()
    );
    let client = Command::new("unshare").args(["-n", "sh", "-c", &setup]).spawn().expect("unshare");
    let cpid = client.id();
    finish(client);
    let c = flow(&sensor, "the abandoned connect's flow", cpid, 8443, "failed");
    assert_eq!(c["net"]["remote"]["ip"], "10.9.8.2", "{c}");
    assert_eq!(c["net"]["local"]["ip"], "10.9.9.1", "{c}");
    assert!(c["net"]["local"]["port"].as_u64().unwrap_or(0) > 0, "{c}");
    assert_eq!(c["flow"]["direction"], "outbound", "{c}");
    sensor.stop();
}

#[test]
fn a_long_connection_is_reported_while_open_over_ipv6() {
    let (_d, cfg) = config_file("[flows]\nactive_secs = 1\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let portfile = dir.path().join("port");
    let server = peer(&["tcp-server", "::1", portfile.to_str().expect("utf-8"), "500", "800"]);
    let port = port_of(&portfile);
    // Sends over 3 s: the interim record comes with the first packet after the interval.
    let client = peer(&["tcp-client", "::1", &port, "500", "800", "3"]);
    let cpid = client.id();
    finish(client);
    finish(server);
    let port: u64 = port.parse().expect("port");
    let closed = flow(&sensor, "the closed record", cpid, port, "closed");
    assert_eq!(closed["net"]["family"], "AF_INET6");
    assert_eq!(closed["net"]["remote"]["ip"], "::1");
    assert_eq!((closed["flow"]["bytes_out"].as_u64(), closed["flow"]["bytes_in"].as_u64()), (Some(500), Some(800)));
    assert!(closed["flow"]["duration_ms"].as_u64().unwrap_or(0) >= 2000, "{closed}");
    let open = flow(&sensor, "an interim record", cpid, port, "open");
    assert_eq!(open["flow"]["cookie"], closed["flow"]["cookie"]);
    assert!(open["flow"]["bytes_out"].as_u64() <= Some(500), "{open}");
    sensor.stop();
}

#[test]
fn udp_conversations_end_when_idle_and_a_refused_connect_is_a_failed_flow() {
    let (_d, cfg) = config_file("[flows]\nudp_idle_secs = 1\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let portfile = dir.path().join("port");
    let server = peer(&["udp-echo", "127.0.0.88", portfile.to_str().expect("utf-8"), "3"]);
    let port = port_of(&portfile);
    let client = peer(&["udp-client", "127.0.0.88", &port, "3", "200"]);
    let (spid, cpid) = (server.id(), client.id());
    finish(client);
    finish(server);
    let port: u64 = port.parse().expect("port");
    let c = flow(&sensor, "the client's conversation", cpid, port, "idle");
    assert_eq!(c["net"]["protocol"], "udp");
    assert_eq!(c["flow"]["direction"], "outbound");
    assert_eq!((c["flow"]["bytes_out"].as_u64(), c["flow"]["packets_out"].as_u64()), (Some(600), Some(3)), "{c}");
    assert_eq!((c["flow"]["bytes_in"].as_u64(), c["flow"]["packets_in"].as_u64()), (Some(300), Some(3)), "{c}");
    // The server's side: the peer spoke first; its answers name the owner.
    let s = flow(&sensor, "the server's conversation", spid, port, "idle");
    assert_eq!(s["flow"]["direction"], "inbound");
    assert_eq!((s["flow"]["bytes_in"].as_u64(), s["flow"]["bytes_out"].as_u64()), (Some(600), Some(300)), "{s}");

    // Nothing listens on port 9 of 127.0.0.89: the SYN is answered by a reset.
    let refused = Command::new("python3")
        .args([
            "-c",
            "import socket\ntry:\n  socket.create_connection(('127.0.0.89', 9), timeout=3)\nexcept OSError: pass",
        ])
        .spawn()
        .expect("python3");
    let rpid = refused.id();
    finish(refused);
    let f = flow(&sensor, "the refused connection", rpid, 9, "failed");
    assert_eq!((f["flow"]["bytes_out"].as_u64(), f["flow"]["bytes_in"].as_u64()), (Some(0), Some(0)), "{f}");
    sensor.stop();
}

/// Opens `n` loopback connections to a listener on `addr` and holds them all open before closing
/// them (one python process, whose pid is returned once it has ended).
fn hold_connections(addr: &str, n: usize) -> u32 {
    let py = format!(
        "import socket\nl = socket.socket(); l.bind(('{addr}', 0)); l.listen(128)\npairs = []\n\
         for _ in range({n}):\n    c = socket.create_connection(l.getsockname()); s, _ = l.accept(); pairs.append((c, s))\n\
         for c, s in pairs:\n    c.close(); s.close()\n"
    );
    let child = Command::new("python3").args(["-c", &py]).spawn().expect("python3");
    let pid = child.id();
    finish(child);
    pid
}

/// The flow records of `pid`'s sockets on `addr` (either end).
/// The flow records of `pid` with `addr` at either end.
fn flows_with<'a>(recs: &'a [Value], pid: u32, addr: &'a str) -> impl Iterator<Item = &'a Value> {
    recs.iter().filter(move |v| {
        v["type"] == "flow"
            && v["process"]["pid"] == pid
            && (v["net"]["remote"]["ip"] == addr || v["net"]["local"]["ip"] == addr)
    })
}

fn flows_on(recs: &[Value], pid: u32, addr: &str) -> usize {
    flows_with(recs, pid, addr).count()
}

#[test]
fn connections_beyond_the_table_are_counted_not_misreported() {
    // 64 slots; 100 connections held open at once need 200 (each end is a socket).
    let (_d, cfg) = config_file("[flows]\ntcp_max = 64\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let pid = hold_connections("127.0.0.95", 100);
    // The first connections found room: their records are whole.
    let first = sensor.wait_for(WAIT, "a tracked connection's record", |v| {
        v["type"] == "flow" && v["process"]["pid"] == pid && v["net"]["remote"]["ip"] == "127.0.0.95"
    });
    assert_eq!(first["flow"]["state"], "closed", "{first}");
    let (_, _, recs) = sensor.stop();
    let ours = flows_on(&recs, pid, "127.0.0.95");
    assert!((1..=64).contains(&ours), "at most the table's 64 connections reported, got {ours}");
    let last = recs.iter().rev().find(|v| v["kind"] == "stats").expect("stats");
    let full = last["kernel_other"]["tcp_table_full"].as_u64().unwrap_or(0);
    assert!(full >= 200 - 64, "the untracked ones are counted: {}", last["kernel_other"]);
}

#[test]
fn a_full_connection_table_has_room_again_once_connections_close() {
    // 64 slots. 100 connections held open fill them; once they are closed, 16 more held open
    // (32 sockets) must find room: closing frees both the slots and the entries behind them.
    // Other tests' connections share the table, hence "most", not "all".
    let (_d, cfg) = config_file("[flows]\ntcp_max = 64\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    hold_connections("127.0.0.96", 100);
    let pid = hold_connections("127.0.0.97", 16);
    sensor.wait_for(WAIT, "a connection of the second round", |v| {
        v["type"] == "flow" && v["process"]["pid"] == pid && v["net"]["remote"]["ip"] == "127.0.0.97"
    });
    let (_, _, recs) = sensor.stop();
    let second = flows_on(&recs, pid, "127.0.0.97");
    assert!(second >= 24, "most of the second round's 32 sockets tracked, got {second}");
}

#[test]
fn every_close_record_arrives_once_through_the_per_cpu_batches() {
    // 50 connections: 100 sockets, so full batches of 16 and a partial one, which must come
    // with the batch timer while ferret runs (not only at its shutdown drain).
    let sensor = Sensor::start(&[]);
    let pid = hold_connections("127.0.0.98", 50);
    let deadline = Instant::now() + WAIT;
    let mut recs = sensor.records();
    while flows_on(&recs, pid, "127.0.0.98") < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        recs = sensor.records();
    }
    assert_eq!(flows_on(&recs, pid, "127.0.0.98"), 100, "all 100 sockets' records, while running");
    let (_, _, recs) = sensor.stop();
    let mut ends: Vec<String> =
        flows_with(&recs, pid, "127.0.0.98").map(|v| format!("{} {}", v["net"]["local"], v["net"]["remote"])).collect();
    ends.sort_unstable();
    ends.dedup();
    assert_eq!(ends.len(), 100, "each socket once, none twice");
}
