//! The measured workloads; each returns the time per operation in ns.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Exec,
    Open,
    Connect,
    Dns,
    RedisPing,
    RedisSet,
    Build,
}

pub const ALL: [Workload; 7] = [
    Workload::Exec,
    Workload::Open,
    Workload::Connect,
    Workload::Dns,
    Workload::RedisPing,
    Workload::RedisSet,
    Workload::Build,
];

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Exec => "fork+exec",
            Workload::Open => "open+close",
            Workload::Connect => "TCP connect",
            Workload::Dns => "DNS query",
            Workload::RedisPing => "redis PING_INLINE",
            Workload::RedisSet => "redis SET",
            Workload::Build => "cargo build",
        }
    }
}

/// How much of each workload one measurement does.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub execs: usize,
    pub opens: usize,
    pub connects: usize,
    pub queries: usize,
    pub redis_requests: usize,
}

pub fn exec_loop(n: usize) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        if !Command::new("/bin/true").status()?.success() {
            bail!("/bin/true failed");
        }
    }
    Ok(t.elapsed().as_nanos() as f64 / n as f64)
}

/// Slices a syscall loop is timed in: its figure is the fastest slice's ns per operation. On a
/// shared VM a neighbour's burst lands in some slices; the fastest is the loop's own cost.
const SLICES: usize = 10;

/// ns per operation of the fastest of SLICES slices of n operations in all.
fn fastest_slice(n: usize, mut op: impl FnMut() -> Result<()>) -> Result<f64> {
    let per = n.div_ceil(SLICES).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..SLICES {
        let t = Instant::now();
        for _ in 0..per {
            op()?;
        }
        best = best.min(t.elapsed().as_nanos() as f64 / per as f64);
    }
    Ok(best)
}

pub fn open_loop(n: usize, path: &Path) -> Result<f64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    fastest_slice(n, || {
        // SAFETY: a valid C string; the fd is closed right away.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
        if fd < 0 {
            bail!("open failed");
        }
        // SAFETY: fd was just opened.
        unsafe { libc::close(fd) };
        Ok(())
    })
}

/// Connects to a loopback listener and accepts, n times.
pub fn connect_loop(n: usize, listener: &std::net::TcpListener) -> Result<f64> {
    let addr = listener.local_addr()?;
    fastest_slice(n, || {
        let c = std::net::TcpStream::connect(addr)?;
        let (s, _) = listener.accept()?;
        drop(c);
        drop(s);
        Ok(())
    })
}

/// A DNS query for `bench.ferret.test A`, id 0x4242, recursion desired.
const QUERY: &[u8] = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05bench\x06ferret\x04test\x00\x00\x01\x00\x01";

/// Queries in flight at once: enough that the loop measures throughput, not how fast an idle
/// vCPU wakes up (one query at a time ran faster with a busy sensor on the other vCPU).
const DNS_IN_FLIGHT: usize = 16;

/// Sends n queries to the local server, DNS_IN_FLIGHT at a time, and reads every answer.
pub fn dns_loop(n: usize, server: std::net::SocketAddr) -> Result<f64> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 512];
    let rounds = n.div_ceil(DNS_IN_FLIGHT);
    let t = Instant::now();
    for _ in 0..rounds {
        for _ in 0..DNS_IN_FLIGHT {
            sock.send(QUERY)?;
        }
        for _ in 0..DNS_IN_FLIGHT {
            sock.recv(&mut buf)?;
        }
    }
    Ok(t.elapsed().as_nanos() as f64 / (rounds * DNS_IN_FLIGHT) as f64)
}

/// A child process killed when dropped (the local servers).
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsmasq answering bench.ferret.test on 127.0.0.90.
pub fn dns_server() -> Result<(Server, std::net::SocketAddr)> {
    let child = Command::new("dnsmasq")
        .args(["--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", "--port=53"])
        .args(["--listen-address=127.0.0.90", "--address=/bench.ferret.test/127.0.0.91"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting dnsmasq (make bench installs dnsmasq-base)")?;
    std::thread::sleep(Duration::from_millis(500));
    Ok((Server(child), "127.0.0.90:53".parse()?))
}

pub const REDIS_PORT: &str = "6399";

/// redis-server on 127.0.0.1:6399, no persistence.
pub fn redis_server() -> Result<Server> {
    let child = Command::new("redis-server")
        .args(["--port", REDIS_PORT, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--protected-mode", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (make bench installs redis-server)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(format!("127.0.0.1:{REDIS_PORT}")).is_err() {
        if Instant::now() > deadline {
            bail!("redis-server did not listen on {REDIS_PORT}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server(child))
}

/// redis-benchmark's PING_INLINE and SET (Falco's published method): ns per request of each.
pub fn redis_benchmark(n: usize) -> Result<(f64, f64)> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", REDIS_PORT, "-t", "ping_inline,set", "-q", "--csv"])
        .args(["-n", &n.to_string()])
        .output()
        .context("redis-benchmark")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = |test: &str| -> Result<f64> {
        text.lines()
            .find(|l| l.trim_matches('"').starts_with(test))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
            .filter(|r| *r > 0.0)
            .with_context(|| format!("no {test} result from redis-benchmark: {text}"))
    };
    Ok((1e9 / rps("PING_INLINE")?, 1e9 / rps("SET")?))
}

/// A small crate (no dependencies) to compile: generic code, iterators, a few hundred lines.
pub fn build_crate(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("buildme");
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"buildme\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )?;
    let mut src = String::from("use std::collections::BTreeMap;\n\n");
    for i in 0..40 {
        src.push_str(&format!(
            "pub fn f{i}<T: Clone + Ord + std::fmt::Debug>(v: &[T]) -> BTreeMap<T, usize> {{\n    let mut m = BTreeMap::new();\n    for (n, x) in v.iter().enumerate() {{\n        *m.entry(x.clone()).or_insert(0) += n * {i} + 1;\n    }}\n    m.retain(|_, c| *c % 3 != {r});\n    m\n}}\n\n",
            r = i % 3
        ));
    }
    src.push_str("fn main() {\n    let v: Vec<u32> = (0..100).collect();\n    let mut total = 0;\n");
    for i in 0..40 {
        src.push_str(&format!("    total += f{i}(&v).len();\n    total += f{i}(&[\"a\", \"b\"]).len();\n"));
    }
    src.push_str("    println!(\"{total}\");\n}\n");
    std::fs::write(root.join("src/main.rs"), src)?;
    Ok(root)
}

/// One clean release build of the crate: ns for the whole build (one operation).
pub fn build(root: &Path) -> Result<f64> {
    let target = root.join("target");
    let _ = std::fs::remove_dir_all(&target);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let t = Instant::now();
    let st = Command::new(cargo)
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .stdout(Stdio::null())
        .status()
        .context("cargo build of the small crate")?;
    if !st.success() {
        bail!("the small crate did not build");
    }
    Ok(t.elapsed().as_nanos() as f64)
}
