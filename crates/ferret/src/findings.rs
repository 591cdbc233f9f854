//! Findings from rule matches: the finding record, with the evidence event and `why` it fired.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use ferret_event::{Event, Finding};
use ferret_rules::{Match, RuleSet};
use serde_json::json;

/// A finding for one rule match. Its id is derived from the event id and the rule, so a replay of
/// the same events gives the same findings.
pub fn from_match(m: &Match, ev: &Event) -> Finding {
    let r = m.rule;
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}/{}", ev.id, r.name).as_bytes());
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
    Finding {
        id: id.to_string(),
        time: ev.time.clone(),
        finding_type: r.finding_type.clone(),
        rule: r.name.clone(),
        severity: r.severity.as_str().to_string(),
        mitre: r.mitre.clone(),
        title: m.output.clone(),
        description: r.desc.clone(),
        process: ev.process.clone(),
        container: ev.container.clone(),
        host: ev.host.clone(),
        evidence: vec![ev.clone()],
        action: "none".to_string(),
        extra,
    }
}

/// Load rules for `run` and `replay`: any error stops ferret (as Falco does), with every message.
pub fn load_rules(paths: &[PathBuf]) -> Result<RuleSet> {
    let (set, report) = RuleSet::load(paths);
    let errors: Vec<String> = report.errors().map(|d| d.to_string()).collect();
    if !errors.is_empty() {
        bail!("rules did not load:\n{}", errors.join("\n"));
    }
    if !paths.is_empty() {
        let skipped: usize = report.files.iter().map(|f| f.skipped.len()).sum();
        eprintln!(
            "ferret: {} rules loaded from {} files ({skipped} not active: see `ferret rules check`)",
            set.rules().len(),
            report.files.len()
        );
    }
    Ok(set)
}
