//! Threat-intelligence lists: domains (a listed domain matches its subdomains), addresses and
//! networks, SHA-256 hashes, each with a category that picks the finding type and a severity.
//!
//! Lists are plain text (one indicator per line, `#` comments; category and severity from the
//! configuration) or CSV (`indicator,category,severity[,description]`, an optional header), as
//! GuardDuty's custom threat lists. Each indicator's kind is read from its form: 64 hex digits are
//! a hash, an address or CIDR is a network, anything else a domain. Lists are read again when a
//! file changes, without a restart; a list that does not load keeps the previous version.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ferret_event::Event;
use ipnet::IpNet;

/// What an indicator means; selects the GuardDuty finding type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Mining,
    CommandAndControl,
    Blackhole,
    DropPoint,
    DriveBy,
    Phishing,
    Tor,
    Malware,
    AbusedDomain,
    MaliciousDomain,
    SuspiciousDomain,
}

impl Category {
    pub fn parse(s: &str) -> Option<Category> {
        Some(match s.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "mining" | "bitcoin" | "cryptocurrency" => Category::Mining,
            "c2" | "c&c" | "command_and_control" | "backdoor" => Category::CommandAndControl,
            "blackhole" => Category::Blackhole,
            "droppoint" | "drop_point" | "exfiltration" => Category::DropPoint,
            "driveby" | "drive_by" => Category::DriveBy,
            "phishing" => Category::Phishing,
            "tor" => Category::Tor,
            "malware" | "malicious_file" => Category::Malware,
            "abused" | "abused_domain" => Category::AbusedDomain,
            "malicious" | "malicious_domain" => Category::MaliciousDomain,
            "suspicious" | "suspicious_domain" => Category::SuspiciousDomain,
            _ => return None,
        })
    }

    /// The finding type for a DNS query (`dns`) or for traffic to the address.
    pub fn finding_type(self, dns: bool) -> &'static str {
        match (self, dns) {
            (Category::Mining, true) => "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
            (Category::Mining, false) => "CryptoCurrency:Runtime/BitcoinTool.B",
            (Category::CommandAndControl, true) => "Backdoor:Runtime/C&CActivity.B!DNS",
            (Category::CommandAndControl, false) => "Backdoor:Runtime/C&CActivity.B",
            (Category::Blackhole, true) => "Trojan:Runtime/BlackholeTraffic!DNS",
            (Category::Blackhole, false) => "Trojan:Runtime/BlackholeTraffic",
            (Category::DropPoint, true) => "Trojan:Runtime/DropPoint!DNS",
            (Category::DropPoint, false) => "Trojan:Runtime/DropPoint",
            (Category::DriveBy, _) => "Trojan:Runtime/DriveBySourceTraffic!DNS",
            (Category::Phishing, _) => "Trojan:Runtime/PhishingDomainRequest!DNS",
            (Category::Tor, _) => "UnauthorizedAccess:Runtime/TorClient",
            (Category::Malware, _) => "Execution:Runtime/MaliciousFileExecuted",
            (Category::AbusedDomain, _) => "Impact:Runtime/AbusedDomainRequest.Reputation",
            (Category::MaliciousDomain, _) => "Impact:Runtime/MaliciousDomainRequest.Reputation",
            (Category::SuspiciousDomain, _) => "Impact:Runtime/SuspiciousDomainRequest.Reputation",
        }
    }

    pub fn mitre(self) -> &'static [&'static str] {
        match self {
            Category::Mining => &["T1496"],
            Category::CommandAndControl => &["T1071"],
            Category::Blackhole | Category::DriveBy | Category::Phishing => &["T1189"],
            Category::DropPoint => &["T1041"],
            Category::Tor => &["T1090.003"],
            Category::Malware => &["T1204.002"],
            _ => &["T1071.004"],
        }
    }
}

/// One indicator's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub category: Category,
    pub severity: String,
    pub description: Option<String>,
    /// The list it came from.
    pub source: String,
}

/// A list file as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    pub path: PathBuf,
    /// For plain-text lists (CSV rows carry their own).
    pub category: Category,
    pub severity: String,
}

/// What matched an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub indicator: String,
    pub matched: String,
    pub kind: &'static str,
    pub finding_type: &'static str,
    pub entry: Entry,
}

/// The indicators of every list, indexed for lookup.
#[derive(Debug, Default)]
pub struct Tables {
    domains: HashMap<String, Entry>,
    /// Networks by prefix length, longest first: a lookup masks the address once per length in use
    /// (at most 33 or 129 probes), however many networks are listed.
    nets4: Vec<(u8, HashMap<IpNet, Entry>)>,
    nets6: Vec<(u8, HashMap<IpNet, Entry>)>,
    hashes: HashMap<String, Entry>,
}

impl Tables {
    fn add_net(&mut self, net: IpNet, entry: Entry) {
        let net = net.trunc();
        let by_len = if matches!(net, IpNet::V4(_)) { &mut self.nets4 } else { &mut self.nets6 };
        let len = net.prefix_len();
        match by_len.iter_mut().find(|(l, _)| *l == len) {
            Some((_, m)) => {
                m.insert(net, entry);
            }
            None => {
                by_len.push((len, HashMap::from([(net, entry)])));
                by_len.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
            }
        }
    }

    fn nets(&self) -> usize {
        self.nets4.iter().chain(&self.nets6).map(|(_, m)| m.len()).sum()
    }
}

/// Where the lists come from, and the files' modification times when last read: enough to read
/// them again, on another thread than the one that matches events.
#[derive(Debug, Clone, Default)]
pub struct Reloader {
    specs: Vec<ListSpec>,
    builtin: Vec<(String, String, ListSpec)>,
    stamps: Vec<Option<SystemTime>>,
}

impl Reloader {
    fn read_all(&self) -> Result<Tables, String> {
        let mut t = Tables::default();
        for (name, text, spec) in &self.builtin {
            parse_list(text, spec, name, &mut t)?;
        }
        for spec in &self.specs {
            let text = std::fs::read_to_string(&spec.path).map_err(|e| format!("{}: {e}", spec.path.display()))?;
            parse_list(&text, spec, &spec.path.display().to_string(), &mut t)?;
        }
        Ok(t)
    }

    /// The lists read again when a file changed since the last read; an error when one no longer
    /// loads (it is reported once per change).
    pub fn poll(&mut self) -> Result<Option<Tables>, String> {
        let now: Vec<Option<SystemTime>> = self.specs.iter().map(|s| mtime(&s.path)).collect();
        if now == self.stamps {
            return Ok(None);
        }
        self.stamps = now;
        self.read_all().map(Some)
    }

    /// Whether any list is a file that can change.
    pub fn has_files(&self) -> bool {
        !self.specs.is_empty()
    }
}

/// The loaded lists.
#[derive(Debug, Default)]
pub struct Intel {
    source: Reloader,
    tables: Tables,
}

const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

/// Most indicators one file may hold.
const MAX_ENTRIES: usize = 1_000_000;

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn normalize_domain(s: &str) -> Option<String> {
    let d = s.trim().trim_end_matches('.').trim_start_matches("*.").to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(d)
}

/// Parse one list's text; errors name the line.
fn parse_list(text: &str, spec: &ListSpec, source: &str, t: &mut Tables) -> Result<usize, String> {
    let csv = spec.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    // Spreadsheet exports start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut n = 0;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let header_place = std::mem::replace(&mut first, false);
        let (indicator, category, severity, description) = if csv {
            let cols: Vec<&str> = line.splitn(4, ',').map(|c| c.trim().trim_matches('"')).collect();
            // The header is the first line that is not a comment.
            if header_place && cols[0].eq_ignore_ascii_case("indicator") {
                continue;
            }
            let category = match cols.get(1).filter(|c| !c.is_empty()) {
                Some(c) => Category::parse(c).ok_or_else(|| format!("{source}:{}: unknown category '{c}'", i + 1))?,
                None => spec.category,
            };
            let severity = cols
                .get(2)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase())
                .unwrap_or_else(|| spec.severity.clone());
            (cols[0].to_string(), category, severity, cols.get(3).map(|s| s.to_string()))
        } else {
            (line.split_whitespace().next().unwrap_or("").to_string(), spec.category, spec.severity.clone(), None)
        };
        if !SEVERITIES.contains(&severity.as_str()) {
            return Err(format!(
                "{source}:{}: severity must be low, medium, high or critical, not '{severity}'",
                i + 1
            ));
        }
        let entry = Entry { category, severity, description, source: source.to_string() };
        if is_hash(&indicator) {
            t.hashes.insert(indicator.to_ascii_lowercase(), entry);
        } else if let Some(net) =
            indicator.parse::<IpNet>().ok().or_else(|| indicator.parse::<IpAddr>().ok().map(IpNet::from))
        {
            t.add_net(net, entry);
        } else if let Some(d) = normalize_domain(&indicator) {
            t.domains.insert(d, entry);
        } else {
            return Err(format!("{source}:{}: not a domain, address, network or SHA-256: '{indicator}'", i + 1));
        }
        n += 1;
        if n > MAX_ENTRIES {
            return Err(format!("{source}: more than {MAX_ENTRIES} indicators"));
        }
    }
    Ok(n)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl Intel {
    /// Load the built-in lists (name, text, spec) and the configured files. Errors stop the load.
    pub fn load(builtin: Vec<(String, String, ListSpec)>, specs: Vec<ListSpec>) -> Result<Intel, String> {
        let stamps = specs.iter().map(|s| mtime(&s.path)).collect();
        let source = Reloader { specs, builtin, stamps };
        let tables = source.read_all()?;
        Ok(Intel { source, tables })
    }

    /// A copy of what reads the lists, to poll for changes away from the event path.
    pub fn reloader(&self) -> Reloader {
        self.source.clone()
    }

    /// Use lists read again by a `Reloader`.
    pub fn replace(&mut self, tables: Tables) {
        self.tables = tables;
    }

    /// Read the lists again if a file changed. Ok(true) when they were reloaded; on an error the
    /// previous lists stay.
    pub fn reload_if_changed(&mut self) -> Result<bool, String> {
        match self.source.poll()? {
            Some(t) => {
                self.tables = t;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.tables.domains.len(), self.tables.nets(), self.tables.hashes.len())
    }

    /// The listed domain `name` falls under (itself or a parent), if any.
    pub fn domain(&self, name: &str) -> Option<(String, &Entry)> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = n.as_str();
        loop {
            if let Some(e) = self.tables.domains.get(rest) {
                return Some((rest.to_string(), e));
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => return None,
            }
        }
    }

    pub fn address(&self, ip: IpAddr) -> Option<(String, &Entry)> {
        let ip = ip.to_canonical();
        let by_len = if ip.is_ipv4() { &self.tables.nets4 } else { &self.tables.nets6 };
        by_len.iter().find_map(|(len, m)| {
            let net = IpNet::new(ip, *len).ok()?.trunc();
            m.get_key_value(&net).map(|(n, e)| (n.to_string(), e))
        })
    }

    /// What the event touches that a list names: a DNS question, a connection's peer (address or
    /// the names it resolved from), an executable's hash.
    pub fn check(&self, ev: &Event) -> Vec<Hit> {
        let mut hits = Vec::new();
        match ev.event_type.as_str() {
            "dns_query" => {
                if let Some(q) = ev.dns.as_ref().and_then(|d| d.questions.first()) {
                    if let Some((ind, e)) = self.domain(&q.name) {
                        hits.push(Hit {
                            indicator: ind,
                            matched: q.name.trim_end_matches('.').to_string(),
                            kind: "domain",
                            finding_type: e.category.finding_type(true),
                            entry: e.clone(),
                        });
                    }
                }
            }
            "net_connect" | "net_accept" => {
                let remote = ev.net.as_ref().and_then(|n| n.remote.as_ref());
                if let Some(r) = remote {
                    let ip = r.ip.as_deref().and_then(|i| i.parse::<IpAddr>().ok());
                    if let Some((ind, e)) = ip.and_then(|ip| self.address(ip)) {
                        hits.push(Hit {
                            indicator: ind,
                            matched: r.ip.clone().unwrap_or_default(),
                            kind: "address",
                            finding_type: e.category.finding_type(false),
                            entry: e.clone(),
                        });
                    } else if let Some((ind, e, name)) =
                        r.names.iter().find_map(|n| self.domain(n).map(|(i, e)| (i, e, n)))
                    {
                        hits.push(Hit {
                            indicator: ind,
                            matched: name.trim_end_matches('.').to_string(),
                            kind: "domain",
                            finding_type: e.category.finding_type(false),
                            entry: e.clone(),
                        });
                    }
                }
            }
            "process_exec" if ev.ret >= 0 => {
                if let Some(h) = ev.process.exe_sha256.as_deref() {
                    if let Some(e) = self.tables.hashes.get(&h.to_ascii_lowercase()) {
                        hits.push(Hit {
                            indicator: h.to_string(),
                            matched: ev.process.exe.clone().unwrap_or_default(),
                            kind: "sha256",
                            finding_type: Category::Malware.finding_type(false),
                            entry: e.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, c: Category) -> ListSpec {
        ListSpec { path: path.into(), category: c, severity: "high".into() }
    }

    #[test]
    fn text_and_csv_lists_match_domains_addresses_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("pools.txt");
        std::fs::write(&txt, "# pools\nsupportxmr.com\n*.evil.example.\n").unwrap();
        let csv = dir.path().join("c2.csv");
        let hash = "ab".repeat(32);
        std::fs::write(
            &csv,
            format!(
                "indicator,category,severity,description\n203.0.113.0/24,c2,critical,test net\n{hash},malware,high,\n"
            ),
        )
        .unwrap();
        let intel = Intel::load(
            vec![],
            vec![spec(txt.to_str().unwrap(), Category::Mining), spec(csv.to_str().unwrap(), Category::Mining)],
        )
        .unwrap();
        assert_eq!(intel.counts(), (2, 1, 1));
        let (ind, e) = intel.domain("Pool.SupportXMR.com.").unwrap();
        assert_eq!(ind, "supportxmr.com");
        assert_eq!(e.category.finding_type(true), "CryptoCurrency:Runtime/BitcoinTool.B!DNS");
        assert!(intel.domain("notsupportxmr.com").is_none());
        assert!(intel.domain("a.b.evil.example").is_some());
        let (_, e) = intel.address("::ffff:203.0.113.9".parse().unwrap()).unwrap();
        assert_eq!(e.category, Category::CommandAndControl);
        assert_eq!(e.severity, "critical");
        assert!(intel.address("198.51.100.1".parse().unwrap()).is_none());
    }

    #[test]
    fn bad_lines_are_errors_with_file_and_line_and_reload_keeps_the_old_lists() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("l.txt");
        std::fs::write(&txt, "good.example\n").unwrap();
        let mut intel = Intel::load(vec![], vec![spec(txt.to_str().unwrap(), Category::Phishing)]).unwrap();
        assert!(!intel.reload_if_changed().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&txt, "good.example\nbad!domain\n").unwrap();
        let t = filetime_bump(&txt);
        let err = intel.reload_if_changed().unwrap_err();
        assert!(err.contains("l.txt:2"), "{err} {t:?}");
        assert!(intel.domain("good.example").is_some(), "old list kept");
        std::fs::write(&txt, "other.example\n").unwrap();
        filetime_bump(&txt);
        assert!(intel.reload_if_changed().unwrap());
        assert!(intel.domain("other.example").is_some() && intel.domain("good.example").is_none());
    }

    #[test]
    fn csv_header_after_a_bom_or_comments_and_the_longest_prefix_wins() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("l.csv");
        std::fs::write(
            &csv,
            "\u{feff}# exported 2026-11-26\n\nIndicator,Category,Severity\n10.0.0.0/8,c2,low\n10.1.2.0/24,tor,high\n10.1.2.3,mining,critical\n2001:db8::/32,phishing,medium\n",
        )
        .unwrap();
        let intel = Intel::load(vec![], vec![spec(csv.to_str().unwrap(), Category::Mining)]).unwrap();
        assert_eq!(intel.counts(), (0, 4, 0));
        let at = |a: &str| intel.address(a.parse().unwrap()).map(|(n, e)| (n, e.category));
        assert_eq!(at("10.1.2.3"), Some(("10.1.2.3/32".into(), Category::Mining)));
        assert_eq!(at("10.1.2.4"), Some(("10.1.2.0/24".into(), Category::Tor)));
        assert_eq!(at("10.9.9.9"), Some(("10.0.0.0/8".into(), Category::CommandAndControl)));
        assert_eq!(at("2001:db8:1::1"), Some(("2001:db8::/32".into(), Category::Phishing)));
        assert_eq!(at("11.0.0.1"), None);
        // A header anywhere else is a bad line.
        std::fs::write(&csv, "10.0.0.0/8,c2,low\nindicator,category,severity\n").unwrap();
        let err = Intel::load(vec![], vec![spec(csv.to_str().unwrap(), Category::Mining)]).unwrap_err();
        assert!(err.contains("l.csv:2"), "{err}");
    }

    /// Make sure the file's mtime moves even on coarse clocks.
    fn filetime_bump(p: &Path) -> Option<SystemTime> {
        let f = std::fs::File::options().append(true).open(p).ok()?;
        let later = SystemTime::now() + std::time::Duration::from_secs(1 + rand_secs());
        f.set_modified(later).ok()?;
        Some(later)
    }

    fn rand_secs() -> u64 {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos() as u64 % 1000).unwrap_or(0)
    }
}
