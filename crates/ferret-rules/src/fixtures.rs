//! Rule fixtures for `ferret rules test` and the rule tests: events in the event JSON format, each
//! with the exact set of rules it must fire.
//!
//! A fixture file holds one JSON object per line (blank lines and lines starting with `//` are
//! skipped): `{"name": "...", "expect": ["Rule A"], "event": {...}}`. The event may be partial:
//! it is merged over a default event (a successful `execve` of `/usr/bin/true` by root on the
//! host, with a parent `bash`), and a partial `container`, `file`, `net`, `exec` or ancestor is
//! merged over a default of its own, so a fixture states only what matters to the rule.

use std::collections::BTreeSet;

use ferret_event::Event;
use serde_json::{json, Map, Value};

use crate::RuleSet;

#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub line: usize,
    pub expect: Vec<String>,
    pub event: Event,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub line: usize,
    pub expected: BTreeSet<String>,
    pub fired: BTreeSet<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.expected == self.fired
    }
}

fn default_event() -> Value {
    json!({
        "id": "fixture", "time": "2026-11-26T12:00:10Z", "type": "process_exec", "ret": 0,
        "host": {"hostname": "fixture-host", "boot_id": "0", "kernel": "6.18.0"},
        "process": {
            "pid": 4242, "tid": 4242, "ppid": 4200, "uid": 0, "euid": 0, "gid": 0, "egid": 0,
            "loginuid": 4294967295u32, "comm": "true", "exe": "/usr/bin/true", "exe_sha256": null,
            "args": ["/usr/bin/true"], "cmdline": "/usr/bin/true", "cwd": "/root", "tty": null,
            "start_time": "2026-11-26T12:00:00Z", "exec_id": "0:1:4242", "ns_pid": 4242,
            "ancestors": [{"pid": 4200, "exe": "/usr/bin/bash", "args": ["bash"], "comm": "bash", "uid": 0, "exec_id": "0:1:4200"}]
        },
        "container": null,
        "exec": {"filename": "/usr/bin/true", "path_source": "kernel", "argc": 1}
    })
}

fn default_of(key: &str) -> Option<Value> {
    Some(match key {
        "container" => json!({
            "id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "runtime": "podman",
            "cgroup": "fixture", "metadata": "ok", "name": "app", "image": "docker.io/library/app:1",
            "image_repository": "docker.io/library/app", "image_tag": "1", "image_id": null,
            "privileged": false, "network_mode": "bridge", "started_at": "2026-11-26T11:00:00Z"
        }),
        "file" => json!({"path": null, "path_source": "kernel"}),
        "net" => {
            json!({"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "tcp", "local": null, "remote": null, "address_source": "kernel"})
        }
        "exec" => json!({"filename": null, "path_source": "kernel", "argc": 1}),
        "syscall" => json!({"name": "", "args": {}}),
        "dns" => json!({"id": 1, "size": 0}),
        "ancestor" => json!({"pid": 1, "exe": null, "args": [], "comm": "", "uid": 0, "exec_id": "0:1:1"}),
        _ => return None,
    })
}

/// Merge `patch` over `base` (objects key by key, anything else replaced).
fn merge(base: &mut Value, patch: &Value, key: &str) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if k == "ancestors" {
                    let list: Vec<Value> = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|item| {
                                    let mut d = default_of("ancestor").unwrap_or(Value::Null);
                                    merge(&mut d, item, "ancestor");
                                    d
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    b.insert(k.clone(), Value::Array(list));
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v, k),
                    _ => {
                        let mut fresh = match (default_of(k), v.is_object()) {
                            (Some(d), true) => d,
                            _ => Value::Null,
                        };
                        if fresh.is_null() {
                            b.insert(k.clone(), v.clone());
                        } else {
                            merge(&mut fresh, v, k);
                            b.insert(k.clone(), fresh);
                        }
                    }
                }
            }
        }
        (b, p) => {
            let _ = key;
            *b = p.clone();
        }
    }
}

/// Build an event from a partial one.
pub fn event_from(partial: &Value) -> Result<Event, String> {
    let mut ev = default_event();
    merge(&mut ev, partial, "");
    // Keep `cmdline` in step with `args` unless the fixture set it.
    if partial.pointer("/process/cmdline").is_none() {
        if let Some(args) = ev.pointer("/process/args").and_then(Value::as_array) {
            let joined = args.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ");
            if let Some(p) = ev.get_mut("process").and_then(Value::as_object_mut) {
                p.insert("cmdline".into(), Value::String(joined));
            }
        }
    }
    serde_json::from_value(ev).map_err(|e| format!("not a valid event: {e}"))
}

/// Read fixtures from JSON-lines text.
pub fn parse(text: &str) -> Result<Vec<Fixture>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("//") {
            continue;
        }
        let v: Value = serde_json::from_str(t).map_err(|e| format!("line {}: {e}", i + 1))?;
        let obj: &Map<String, Value> = v.as_object().ok_or_else(|| format!("line {}: expected an object", i + 1))?;
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let expect = match obj.get("expect") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_string).ok_or_else(|| format!("line {}: expect holds rule names", i + 1))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(format!("line {}: missing \"expect\" (a list of rule names, empty for none)", i + 1)),
        };
        let event = event_from(obj.get("event").unwrap_or(&Value::Null)).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(Fixture { name, line: i + 1, expect, event });
    }
    Ok(out)
}

/// Run every fixture through the rules.
pub fn run(set: &RuleSet, fixtures: &[Fixture]) -> Vec<Outcome> {
    fixtures
        .iter()
        .map(|f| Outcome {
            name: f.name.clone(),
            line: f.line,
            expected: f.expect.iter().cloned().collect(),
            fired: set.matches(&f.event).into_iter().map(|m| m.rule.name.clone()).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_events_merge_over_defaults() {
        let ev = event_from(
            &json!({"process": {"comm": "nc", "args": ["nc", "-e", "/bin/sh"]}, "container": {"name": "web"}}),
        )
        .unwrap();
        assert_eq!(ev.process.comm, "nc");
        assert_eq!(&*ev.process.cmdline, "nc -e /bin/sh");
        assert_eq!(ev.process.pid, 4242);
        let c = ev.container.unwrap();
        assert_eq!(c.name.as_deref(), Some("web"));
        assert_eq!(c.runtime, "podman");
        assert!(parse("{\"name\": \"x\"}").unwrap_err().contains("expect"));
    }
}
