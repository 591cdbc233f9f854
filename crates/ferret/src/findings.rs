//! Findings from rule matches: the finding record, with the evidence event and `why` it fired.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use ferret_event::{Event, Finding};
use ferret_rules::{Match, RuleSet};
use serde_json::json;

/// The runtime context a responder reads first, lifted from the evidence event: the operation,
/// the file and its target, the peer, the DNS name, the target process, the module.
fn context(ev: &Event) -> serde_json::Value {
    let mut c = serde_json::Map::new();
    c.insert("operation".into(), json!(ev.event_type));
    if let Some(s) = &ev.syscall {
        c.insert("syscall".into(), json!(s.name));
        for k in ["target_pid", "request_name", "signal_name", "name", "nstype", "cmd_name"] {
            if let Some(v) = s.args.get(k) {
                c.insert(k.into(), v.clone());
            }
        }
    }
    if let Some(f) = &ev.file {
        if let Some(p) = &f.path {
            c.insert("file".into(), json!(p));
        }
        if let Some(t) = &f.target {
            c.insert("file_target".into(), json!(t));
        }
    }
    if let Some(r) = ev.net.as_ref().and_then(|n| n.remote.as_ref()) {
        let peer = match (&r.ip, r.port, &r.path) {
            (Some(ip), Some(port), _) => json!(format!("{ip}:{port}")),
            (_, _, Some(path)) => json!(path),
            _ => serde_json::Value::Null,
        };
        if !peer.is_null() {
            c.insert("remote".into(), peer);
        }
        if !r.names.is_empty() {
            c.insert("remote_names".into(), json!(r.names));
        }
    }
    if let Some(q) = ev.dns.as_ref().and_then(|d| d.questions.first()) {
        c.insert("dns_name".into(), json!(q.name.trim_end_matches('.')));
    }
    if ev.event_type == "process_exec" {
        c.insert("executable".into(), json!(ev.process.exe));
        c.insert("sha256".into(), json!(ev.process.exe_sha256));
    }
    serde_json::Value::Object(c)
}

/// What differs between findings of rules and detectors; `base` fills in the rest from the event.
struct Parts {
    /// Makes the id unique per event (the rule's name, the indicator...).
    key: String,
    finding_type: String,
    rule: String,
    severity: String,
    mitre: Vec<String>,
    title: String,
    description: String,
    extra: BTreeMap<String, serde_json::Value>,
}

/// The finding about `ev`: its id is derived from the event id and `key`, so a replay of the same
/// events gives the same findings; the process, container, host and evidence are the event's.
fn base(ev: &Event, mut p: Parts) -> Finding {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}/{}", ev.id, p.key).as_bytes());
    p.extra.insert("context".to_string(), context(ev));
    Finding {
        id: id.to_string(),
        time: ev.time.clone(),
        finding_type: p.finding_type,
        rule: p.rule,
        severity: p.severity,
        mitre: p.mitre,
        title: p.title,
        description: p.description,
        process: ev.process.clone(),
        container: ev.container.clone(),
        host: ev.host.clone(),
        evidence: vec![ev.clone()],
        action: "none".to_string(),
        extra: p.extra,
    }
}

/// A finding for one rule match.
pub fn from_match(m: &Match, ev: &Event) -> Finding {
    let r = m.rule;
    let fields: BTreeMap<&str, &str> = m.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut extra = BTreeMap::new();
    extra.insert(
        "why".to_string(),
        json!({
            "rule": r.name,
            "format": r.format.to_string(),
            "file": r.location.to_string(),
            "condition": r.condition,
            "fields": fields,
        }),
    );
    extra.insert("priority".to_string(), json!(r.priority));
    extra.insert("tags".to_string(), json!(r.tags));
    base(
        ev,
        Parts {
            key: r.name.clone(),
            finding_type: r.finding_type.clone(),
            rule: r.name.clone(),
            severity: r.severity.as_str().to_string(),
            mitre: r.mitre.clone(),
            title: m.output.clone(),
            description: r.desc.clone(),
            extra,
        },
    )
}

/// A finding for a threat-list hit. Deterministic id, as for rules.
pub fn from_intel(h: &ferret_detect::intel::Hit, ev: &Event) -> Finding {
    let rule = format!("Threat list: {} {}", h.kind, h.indicator);
    let mut extra = BTreeMap::new();
    extra.insert(
        "why".to_string(),
        json!({
            "detector": "intel",
            "list": h.entry.source,
            "indicator": h.indicator,
            "kind": h.kind,
            "matched": h.matched,
            "category": format!("{:?}", h.entry.category),
            "description": h.entry.description,
        }),
    );
    base(
        ev,
        Parts {
            key: rule.clone(),
            finding_type: h.finding_type.to_string(),
            rule,
            severity: h.entry.severity.clone(),
            mitre: h.entry.category.mitre().iter().map(|s| s.to_string()).collect(),
            title: format!(
                "{} {} is on the threat list {} | process={} command={}",
                h.kind, h.matched, h.entry.source, ev.process.comm, ev.process.cmdline
            ),
            description: format!(
                "The {} {} matches the indicator {} of {} ({:?}){}.",
                h.kind,
                h.matched,
                h.indicator,
                h.entry.source,
                h.entry.category,
                h.entry.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
            ),
            extra,
        },
    )
}

/// A finding for a generated-looking name in a DNS query.
pub fn from_dga(v: &ferret_detect::dga::Verdict, name: &str, ev: &Event) -> Finding {
    let rule = "DGA detector".to_string();
    let mut extra = BTreeMap::new();
    extra.insert(
        "why".to_string(),
        json!({
            "detector": "dga",
            "name": name.trim_end_matches('.'),
            "label": v.label,
            "score": (v.score * 100.0).round() / 100.0,
            "entropy": (v.entropy * 100.0).round() / 100.0,
            "common_bigrams": (v.common_bigrams * 100.0).round() / 100.0,
            "vowels": (v.vowels * 100.0).round() / 100.0,
            "consonant_run": v.consonant_run,
        }),
    );
    base(ev, Parts {
        key: format!("{rule}/{name}"),
        finding_type: "Trojan:Runtime/DGADomainRequest.C!DNS".to_string(),
        rule,
        severity: "medium".to_string(),
        mitre: vec!["T1568.002".to_string()],
        title: format!(
            "{} queried {}, a name that looks generated (score {:.2}) | command={}",
            ev.process.comm,
            name.trim_end_matches('.'),
            v.score,
            ev.process.cmdline
        ),
        description: "The queried domain's registrable label has the letter statistics of a machine-generated name (rare letter pairs, high entropy, long consonant runs), as domain generation algorithms produce.".to_string(),
        extra,
    })
}

/// Everything that turns events into findings: rules, threat lists, aggregation. `run` and
/// `replay` drive the same one, so a replay finds what the live run found.
#[derive(Debug)]
pub struct Detect {
    rules: RuleSet,
    intel: ferret_detect::intel::Intel,
    dga: Option<ferret_detect::dga::Dga>,
    agg: Aggregator,
    /// Threat lists read again by a background thread when their files change (live runs).
    reloads: Option<std::sync::mpsc::Receiver<Result<ferret_detect::intel::Tables, String>>>,
}

impl Detect {
    pub fn new(
        rules: RuleSet,
        intel: ferret_detect::intel::Intel,
        dga: Option<ferret_detect::dga::Dga>,
        aggregate: std::time::Duration,
        reload_every: std::time::Duration,
    ) -> Detect {
        let mut source = intel.reloader();
        let reloads = (!reload_every.is_zero() && source.has_files()).then(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            // Reading and indexing a large list takes a while: not on the event path. The thread
            // ends at the first check after this Detect is gone.
            let spawned = std::thread::Builder::new().name("ferret-intel".into()).spawn(move || loop {
                std::thread::sleep(reload_every);
                if let Some(reloaded) = source.poll().transpose() {
                    if tx.send(reloaded).is_err() {
                        return;
                    }
                }
            });
            if let Err(e) = &spawned {
                eprintln!("ferret: threat lists will not be reloaded: {e}");
            }
            rx
        });
        Detect { rules, intel, dga, agg: Aggregator::new(aggregate), reloads }
    }

    /// The pipeline a configuration describes: its threat lists, DGA switch and aggregation window.
    /// `live` runs re-read changed list files; a replay reads them once, so it stays deterministic.
    pub fn from_config(rules: RuleSet, cfg: &crate::config::Config, live: bool) -> Result<Detect> {
        Ok(Detect::new(
            rules,
            cfg.intel.load()?,
            cfg.dga.enabled.then(|| ferret_detect::dga::Dga::new(cfg.dga.threshold)),
            std::time::Duration::from_secs(cfg.findings.aggregate_secs),
            if live { std::time::Duration::from_secs(cfg.intel.reload_secs) } else { std::time::Duration::ZERO },
        ))
    }

    /// The findings to write for this event (first occurrences, and folded ones whose window closed).
    pub fn event(&mut self, ev: &Event) -> Vec<Finding> {
        let mut out = self.agg.expire(&ev.time);
        let hits = self.intel.check(ev);
        let mut found = self
            .rules
            .matches(ev)
            .iter()
            .map(|m| from_match(m, ev))
            .chain(hits.iter().map(|h| from_intel(h, ev)))
            .collect::<Vec<_>>();
        if let (Some(dga), "dns_query") = (&self.dga, ev.event_type.as_str()) {
            if let Some(q) = ev.dns.as_ref().and_then(|d| d.questions.first()) {
                if let Some(v) = dga.check(&q.name) {
                    found.push(from_dga(&v, &q.name, ev));
                }
            }
        }
        for f in found {
            out.extend(self.agg.offer(f));
        }
        self.reload();
        out
    }

    /// The folded findings still open (at the end of a run or replay).
    pub fn drain(&mut self) -> Vec<Finding> {
        self.agg.drain()
    }

    fn reload(&mut self) {
        let Some(rx) = &self.reloads else { return };
        while let Ok(r) = rx.try_recv() {
            match r {
                Ok(t) => {
                    self.intel.replace(t);
                    let (d, n, h) = self.intel.counts();
                    eprintln!("ferret: threat lists reloaded: {d} domains, {n} networks, {h} hashes");
                }
                Err(e) => eprintln!("ferret: threat lists not reloaded (the previous ones stay): {e}"),
            }
        }
    }
}

/// Load rules for `run` and `replay`: any error stops ferret (as Falco does), with every message.
pub fn load_rules(defaults: bool, paths: &[PathBuf]) -> Result<RuleSet> {
    let (set, report) = RuleSet::load_with_defaults(defaults, paths);
    let errors: Vec<String> = report.errors().map(|d| d.to_string()).collect();
    if !errors.is_empty() {
        bail!("rules did not load:\n{}", errors.join("\n"));
    }
    if defaults || !paths.is_empty() {
        let skipped: usize = report.files.iter().map(|f| f.skipped.len()).sum();
        eprintln!(
            "ferret: {} rules loaded from {} files ({skipped} not active: see `ferret rules check`)",
            set.rules().len(),
            report.files.len()
        );
    }
    Ok(set)
}

/// Folds repeats of a finding (same rule, same process) within a window into the first one.
///
/// The first occurrence is written at once. Repeats inside the window are counted; when the window
/// closes (or ferret stops) a finding that repeated is written again under the same `id`, with
/// `count`, `first_seen`, `last_seen` and up to five evidence events: a reader keeps the last
/// record of an id. Windows run on event time, so a replay folds exactly as the live run did.
#[derive(Debug)]
pub struct Aggregator {
    window_ns: i128,
    open: std::collections::HashMap<(String, String), Open>,
    order: std::collections::VecDeque<(i128, (String, String))>,
    /// The latest event time seen, for times that do not parse.
    latest_ns: i128,
}

#[derive(Debug)]
struct Open {
    finding: Finding,
    count: u64,
    last_seen: String,
    deadline: i128,
}

/// Evidence events kept on an aggregated finding.
const MAX_EVIDENCE: usize = 5;

impl Aggregator {
    pub fn new(window: std::time::Duration) -> Aggregator {
        Aggregator {
            window_ns: window.as_nanos() as i128,
            open: Default::default(),
            order: Default::default(),
            latest_ns: 0,
        }
    }

    /// Event time in nanoseconds. A time that does not parse (a hand-edited recording) counts as
    /// the latest time seen, so windows still close.
    fn time_ns(&mut self, t: &str) -> i128 {
        match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
            Ok(t) => {
                let ns = t.unix_timestamp_nanos();
                self.latest_ns = self.latest_ns.max(ns);
                ns
            }
            Err(_) => self.latest_ns,
        }
    }

    /// A new finding: what is to be written now. That is the finding itself when it opens a
    /// window, nothing when it was folded, and also the previous window's total when that window
    /// had closed (event times may arrive out of order, before `expire` reached it).
    pub fn offer(&mut self, f: Finding) -> Vec<Finding> {
        if self.window_ns == 0 {
            return vec![f];
        }
        let now = self.time_ns(&f.time);
        let key = (f.rule.clone(), f.process.exec_id.clone());
        let mut out = Vec::new();
        if let Some(o) = self.open.get_mut(&key) {
            if now <= o.deadline {
                o.count += 1;
                if f.time > o.last_seen {
                    o.last_seen = f.time.clone();
                }
                if o.finding.evidence.len() < MAX_EVIDENCE {
                    o.finding.evidence.extend(f.evidence);
                }
                return out;
            }
            // Stale: its queue entry is still waiting; it no longer matches a live window.
            if let Some(o) = self.open.remove(&key) {
                out.extend(Self::close(o));
            }
        }
        let deadline = now + self.window_ns;
        self.order.push_back((deadline, key.clone()));
        self.open.insert(key, Open { finding: f.clone(), count: 1, last_seen: f.time.clone(), deadline });
        out.push(f);
        out
    }

    /// Findings whose window closed before `now` (event time) and that repeated.
    pub fn expire(&mut self, now: &str) -> Vec<Finding> {
        let now = self.time_ns(now);
        let mut out = Vec::new();
        while let Some((deadline, _)) = self.order.front() {
            if *deadline >= now {
                break;
            }
            let Some((deadline, key)) = self.order.pop_front() else { break };
            // The key may have been reopened with a later deadline.
            if self.open.get(&key).is_some_and(|o| o.deadline == deadline) {
                if let Some(o) = self.open.remove(&key) {
                    out.extend(Self::close(o));
                }
            }
        }
        out
    }

    /// Every open finding that repeated (ferret is stopping).
    pub fn drain(&mut self) -> Vec<Finding> {
        self.order.clear();
        let mut open: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        open.sort_by(|a, b| a.finding.time.cmp(&b.finding.time).then(a.finding.id.cmp(&b.finding.id)));
        open.into_iter().filter_map(Self::close).collect()
    }

    fn close(o: Open) -> Option<Finding> {
        if o.count < 2 {
            return None;
        }
        let mut f = o.finding;
        f.extra.insert("count".into(), json!(o.count));
        f.extra.insert("first_seen".into(), json!(f.time));
        f.extra.insert("last_seen".into(), json!(o.last_seen));
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, exec_id: &str, time: &str, id: &str) -> Finding {
        let mut f = Finding { rule: rule.into(), time: time.into(), id: id.into(), ..Default::default() };
        f.process.exec_id = exec_id.into();
        f
    }

    #[test]
    fn repeats_fold_into_the_first_finding() {
        let mut a = Aggregator::new(std::time::Duration::from_secs(60));
        assert_eq!(a.offer(finding("r", "p1", "2026-11-26T10:00:00Z", "a")).len(), 1);
        assert!(a.offer(finding("r", "p1", "2026-11-26T10:00:01Z", "b")).is_empty());
        assert!(a.offer(finding("r", "p1", "2026-11-26T10:00:02Z", "c")).is_empty());
        assert_eq!(a.offer(finding("r", "p2", "2026-11-26T10:00:02Z", "d")).len(), 1);
        assert_eq!(a.offer(finding("q", "p1", "2026-11-26T10:00:02Z", "e")).len(), 1);
        assert!(a.expire("2026-11-26T10:00:30Z").is_empty());
        let closed = a.expire("2026-11-26T10:01:01Z");
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].id, "a");
        assert_eq!(closed[0].extra["count"], json!(3));
        assert_eq!(closed[0].extra["last_seen"], json!("2026-11-26T10:00:02Z"));
        // After the window, the same process and rule start a new finding.
        assert_eq!(a.offer(finding("r", "p1", "2026-11-26T10:02:00Z", "f")).len(), 1);
        assert!(a.drain().is_empty());
    }

    #[test]
    fn a_closed_window_is_not_lost_when_a_repeat_comes_first() {
        let mut a = Aggregator::new(std::time::Duration::from_secs(60));
        assert_eq!(a.offer(finding("r", "p1", "2026-11-26T10:00:00Z", "a")).len(), 1);
        assert!(a.offer(finding("r", "p1", "2026-11-26T10:00:10Z", "b")).is_empty());
        // No event reached `expire` in between: the repeat after the window closes the first.
        let out = a.offer(finding("r", "p1", "2026-11-26T10:05:00Z", "c"));
        let ids: Vec<_> = out.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(out[0].extra["count"], json!(2));
        assert!(a.expire("2026-11-26T10:05:30Z").is_empty(), "the stale queue entry closes nothing");
        // An unparsable time counts as the latest time seen, so the window still closes.
        assert!(a.offer(finding("r", "p1", "garbage", "d")).is_empty());
        assert_eq!(a.expire("2026-11-26T10:06:01Z").len(), 1);
    }
}
