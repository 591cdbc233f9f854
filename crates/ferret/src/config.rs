//! The configuration file (TOML). Every key has a default, so an empty file
//! (or none) is valid; unknown keys are errors, so a typo is never silently
//! ignored. See `docs/configuration.md`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub output: OutputConfig,
    pub process: ProcessConfig,
    pub kernel: KernelConfig,
    pub stats: StatsConfig,
    pub files: FilesConfig,
    pub containers: ContainersConfig,
    pub dns: DnsConfig,
    pub flows: FlowsConfig,
    pub rules: RulesConfig,
    pub findings: FindingsConfig,
    pub intel: IntelConfig,
    pub dga: DgaConfig,
}

/// The DGA detector (generated-looking domain names in DNS queries).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DgaConfig {
    pub enabled: bool,
    /// Score at or above which a name is reported; lower finds more and errs more (docs/detections.md).
    pub threshold: f64,
}

impl Default for DgaConfig {
    fn default() -> Self {
        DgaConfig { enabled: true, threshold: ferret_detect::dga::DEFAULT_THRESHOLD }
    }
}

/// Threat-intelligence lists (see docs/detections.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// ferret's starter lists (public mining pools).
    pub builtin: bool,
    pub lists: Vec<IntelList>,
    /// How often the list files are checked for changes (seconds).
    pub reload_secs: u64,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig { builtin: true, lists: Vec::new(), reload_secs: 10 }
    }
}

/// One list file: plain text (one indicator a line) or CSV (`indicator,category,severity,description`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelList {
    pub path: PathBuf,
    /// mining, c2, blackhole, droppoint, driveby, phishing, tor, malware, abused, malicious,
    /// suspicious: for plain-text lists and CSV rows without one.
    pub category: String,
    #[serde(default = "default_intel_severity")]
    pub severity: String,
}

fn default_intel_severity() -> String {
    "high".into()
}

impl IntelConfig {
    /// Load the configured lists (and the built-in ones).
    pub fn load(&self) -> Result<ferret_detect::intel::Intel> {
        let mut specs = Vec::new();
        for l in &self.lists {
            let category = ferret_detect::intel::Category::parse(&l.category)
                .with_context(|| format!("intel list {}: unknown category '{}'", l.path.display(), l.category))?;
            specs.push(ferret_detect::intel::ListSpec {
                path: l.path.clone(),
                category,
                severity: l.severity.to_ascii_lowercase(),
            });
        }
        let builtin = if self.builtin { ferret_detect::builtin_lists() } else { Vec::new() };
        ferret_detect::intel::Intel::load(builtin, specs).map_err(|e| anyhow::anyhow!("threat list: {e}"))
    }
}

/// What happens to findings before they are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// Repeats of a rule's finding for one process within this many seconds fold into the first
    /// (written again with `count` when the window closes); 0 writes every one.
    pub aggregate_secs: u64,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        FindingsConfig { aggregate_secs: 60 }
    }
}

/// Rule files and directories (Falco or Sigma), loaded in order before any `--rules`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Load ferret's built-in rules (`rules/ferret_rules.yaml`) first.
    pub defaults: bool,
    pub paths: Vec<PathBuf>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig { defaults: true, paths: Vec::new() }
    }
}

/// DNS capture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Ports (UDP and TCP) that carry DNS; empty turns DNS capture off.
    pub ports: Vec<u16>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig { ports: vec![53] }
    }
}

/// Flow records: one `flow` event per TCP connection and per UDP conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    pub enabled: bool,
    /// A connection or conversation still open is reported this often (seconds), with its totals so far.
    pub active_secs: u64,
    /// A UDP conversation with no packet for this long (seconds) has ended.
    pub udp_idle_secs: u64,
    /// UDP conversations tracked at once; packets of more are counted as lost (`flow_table_full`).
    pub udp_max: u32,
    /// TCP connections tracked at once (rounded up to a power of two; kernel memory: about
    /// 140 bytes each, entry and index, allocated up front); connections beyond it get no
    /// record and are counted (`tcp_table_full`).
    pub tcp_max: u32,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig { enabled: true, active_secs: 60, udp_idle_secs: 30, udp_max: 16384, tcp_max: 65536 }
    }
}

/// Container metadata from the runtime's API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainersConfig {
    /// Look metadata up at all.
    pub metadata: bool,
    /// The runtime's Docker-API socket; unset: the first of
    /// /run/podman/podman.sock, /var/run/docker.sock, /run/docker.sock.
    pub runtime_socket: Option<PathBuf>,
    /// containerd's own API socket, asked for containers the Docker API does not know;
    /// unset: the first of /run/containerd/containerd.sock,
    /// /var/run/containerd/containerd.sock, /run/k3s/containerd/containerd.sock.
    pub containerd_socket: Option<PathBuf>,
    /// How long one lookup may take (ms).
    pub lookup_timeout_ms: u64,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig { metadata: true, runtime_socket: None, containerd_socket: None, lookup_timeout_ms: 2000 }
    }
}

/// Which read-only opens cross to userspace (writes always do).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Exact paths, or directory prefixes when they end in `/`.
    pub interest_paths: Vec<String>,
    /// File names (last component) of interest wherever they are.
    pub interest_names: Vec<String>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        FilesConfig {
            interest_paths: s(&[
                "/etc/shadow",
                "/etc/gshadow",
                "/etc/sudoers",
                "/etc/sudoers.d/",
                "/etc/pam.d/",
                "/etc/ssh/",
                "/root/.ssh/",
                "/root/.aws/",
                "/root/.kube/",
                "/root/.docker/config.json",
                "/var/run/secrets/kubernetes.io/",
                "/run/secrets/kubernetes.io/",
                "/etc/kubernetes/",
                "/var/lib/kubelet/pki/",
            ]),
            interest_names: s(&[
                "shadow",
                "authorized_keys",
                "id_rsa",
                "id_ecdsa",
                "id_ed25519",
                "credentials",
                "mem",
                ".bash_history",
                ".zsh_history",
                ".git-credentials",
                ".netrc",
                ".pgpass",
                "kubeconfig",
            ]),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Emit every event, not only findings.
    pub events: bool,
    /// Write JSON lines to standard output.
    pub stdout: bool,
    /// Append JSON lines to these files (flushed per line).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Ancestors carried by each event.
    pub ancestors: usize,
    /// Process table cap, in entries.
    pub table_max: usize,
    /// Executables larger than this are not hashed (bytes).
    pub hash_max_bytes: u64,
    /// How long an event waits for its executable's hash (ms).
    pub hash_wait_ms: u64,
    /// Hash worker threads.
    pub hash_workers: usize,
    /// Report thread creation as well as process creation.
    pub report_threads: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelConfig {
    /// Ring buffer size in MiB (a power of two).
    pub ring_buffer_mib: u32,
    /// Bytes a CPU writes to the ring before it wakes the reader; 0 wakes it
    /// for every record (lowest latency, highest cost). Unset: 1 MiB, or half
    /// the ring shared among the possible CPUs when that is less.
    pub wakeup_bytes: Option<u32>,
    /// The reader's poll tick (ms): the longest a record waits when it did
    /// not trigger a wakeup.
    pub poll_ms: u64,
    /// Identical syscall events of one process within this many ms are sent
    /// once; the next one sent carries `repeats`. 0 turns it off.
    pub dedup_window_ms: u64,
    /// Nice value of the threads that drain the kernel and detect (-20 to 19). Below 0 they win
    /// the CPU over the workload in a storm, so events are delivered rather than dropped.
    pub pipeline_nice: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Seconds between `stats` records; 0 turns them off (the final one stays).
    pub interval_secs: u64,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { events: false, stdout: true, files: Vec::new() }
    }
}

impl Default for ProcessConfig {
    fn default() -> Self {
        let e = ferret_enrich::EnrichOptions::default();
        ProcessConfig {
            ancestors: e.ancestors,
            table_max: e.table_max,
            hash_max_bytes: e.hash_max_bytes,
            hash_wait_ms: 2000,
            hash_workers: e.hash_workers,
            report_threads: true,
        }
    }
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig { ring_buffer_mib: 16, wakeup_bytes: None, poll_ms: 10, dedup_window_ms: 1000, pipeline_nice: -10 }
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig { interval_secs: 60 }
    }
}

impl Config {
    /// Parses and validates a configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            // toml's message carries line and column; keep it on one line.
            let msg = e.to_string().replace('\n', " ");
            anyhow::anyhow!("{origin}: {}", msg.trim())
        })?;
        cfg.validate().with_context(|| origin.to_string())?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text, &path.display().to_string())
    }

    fn validate(&self) -> Result<()> {
        let rb = self.kernel.ring_buffer_mib;
        if rb == 0 || !rb.is_power_of_two() || rb > 1024 {
            bail!("kernel.ring_buffer_mib must be a power of two from 1 to 1024, not {rb}");
        }
        if !(-20..=19).contains(&self.kernel.pipeline_nice) {
            bail!("kernel.pipeline_nice must be from -20 to 19, not {}", self.kernel.pipeline_nice);
        }
        if self.kernel.poll_ms == 0 || self.kernel.poll_ms > 1000 {
            bail!("kernel.poll_ms must be from 1 to 1000, not {}", self.kernel.poll_ms);
        }
        if let Some(w) = self.kernel.wakeup_bytes {
            if u64::from(w) >= u64::from(rb) * 1024 * 1024 / 2 {
                bail!("kernel.wakeup_bytes must be under half the ring buffer, not {w}");
            }
        }
        if self.dns.ports.len() > 16 || self.dns.ports.contains(&0) {
            bail!("dns.ports: at most 16 ports, none of them 0");
        }
        for p in &self.files.interest_paths {
            if p.is_empty() || p.len() > 254 {
                bail!("files.interest_paths: {p:?} must be 1 to 254 bytes");
            }
        }
        for n in &self.files.interest_names {
            if n.is_empty() || n.len() > 63 || n.contains('/') {
                bail!("files.interest_names: {n:?} must be 1 to 63 bytes without '/'");
            }
        }
        if self.flows.active_secs == 0 || self.flows.udp_idle_secs == 0 {
            bail!("flows.active_secs and flows.udp_idle_secs must be at least 1");
        }
        if !(64..=1_048_576).contains(&self.flows.udp_max) {
            bail!("flows.udp_max must be from 64 to 1048576, not {}", self.flows.udp_max);
        }
        if !(64..=4_194_304).contains(&self.flows.tcp_max) {
            bail!("flows.tcp_max must be from 64 to 4194304, not {}", self.flows.tcp_max);
        }
        if self.process.ancestors > 256 {
            bail!("process.ancestors must be at most 256, not {}", self.process.ancestors);
        }
        if self.process.table_max < 1024 {
            bail!("process.table_max must be at least 1024, not {}", self.process.table_max);
        }
        if self.process.hash_workers == 0 || self.process.hash_workers > 64 {
            bail!("process.hash_workers must be from 1 to 64, not {}", self.process.hash_workers);
        }
        Ok(())
    }

    pub fn enrich_options(&self) -> ferret_enrich::EnrichOptions {
        ferret_enrich::EnrichOptions {
            ancestors: self.process.ancestors,
            table_max: self.process.table_max,
            hash_max_bytes: self.process.hash_max_bytes,
            hash_workers: self.process.hash_workers,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_defaults() {
        let c = Config::parse("", "x").expect("valid");
        assert_eq!(c.process.ancestors, 10);
        assert!(c.output.stdout && !c.output.events);
    }

    #[test]
    fn errors_name_the_place_and_the_key() {
        let e = Config::parse("[process]\nancestor = 3\n", "ferret.toml").expect_err("typo");
        let msg = format!("{e:#}");
        assert!(msg.contains("ferret.toml") && msg.contains("ancestor") && msg.contains("line 2"), "{msg}");
        let e = Config::parse("[kernel]\nring_buffer_mib = 3\n", "f").expect_err("not a power of two");
        assert!(format!("{e:#}").contains("power of two"));
        assert!(Config::parse("[process]\nancestors = \"ten\"\n", "f").is_err());
        let e = Config::parse("[files]\ninterest_names = [\"a/b\"]\n", "f").expect_err("slash in a name");
        assert!(format!("{e:#}").contains("interest_names"));
        let e = Config::parse("[flows]\ntcp_max = 10\n", "f").expect_err("too small a connection table");
        assert!(format!("{e:#}").contains("flows.tcp_max"));
        assert_eq!(Config::parse("[flows]\ntcp_max = 128\n", "f").expect("valid").flows.tcp_max, 128);
    }

    #[test]
    fn a_small_ring_is_valid_without_a_wakeup_size_and_an_explicit_one_is_checked() {
        // Unset, the sensor derives the wakeup size from the ring: a 1 MiB ring needs no more.
        let c = Config::parse("[kernel]\nring_buffer_mib = 1\n", "f").expect("valid");
        assert_eq!(c.kernel.wakeup_bytes, None);
        let e =
            Config::parse("[kernel]\nring_buffer_mib = 1\nwakeup_bytes = 524288\n", "f").expect_err("half the ring");
        assert!(format!("{e:#}").contains("wakeup_bytes"));
        let c = Config::parse("[kernel]\nwakeup_bytes = 0\n", "f").expect("0: every record");
        assert_eq!(c.kernel.wakeup_bytes, Some(0));
    }
}
