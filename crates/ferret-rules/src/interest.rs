//! Which read-only opens the loaded rules can match, so the kernel filter passes exactly those.
//!
//! Read-only opens are the flood; the kernel sends one only when its path is in the interest set.
//! For each rule that can match an open, this walks its condition for constraints on the path
//! (`fd.name = / in / startswith / pmatch / glob`, `fd.directory`, `fd.filename`) that every match
//! must satisfy. A rule with no such constraint on read-only opens could match any file: it is
//! reported, and the kernel keeps filtering to the interest set (the configuration's and the
//! other rules'), which is said at start-up.

use std::collections::BTreeSet;

use crate::compile::{Getter, Matcher, Node, StrOp};
use crate::fields::Id;
use crate::RuleSet;

/// Paths (exact, or prefixes ending in `/`) and file names whose read-only opens rules need.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenInterest {
    pub paths: BTreeSet<String>,
    pub names: BTreeSet<String>,
    /// Rules that could match a read-only open of any file.
    pub unbounded: Vec<String>,
}

/// What one sub-condition says about the read-only opens it can match.
#[derive(Debug, Clone)]
enum Need {
    /// Any read-only open may match.
    Any,
    /// Only these (an empty set: no read-only open at all).
    Some { paths: BTreeSet<String>, names: BTreeSet<String> },
}

fn none() -> Need {
    Need::Some { paths: BTreeSet::new(), names: BTreeSet::new() }
}

const OPEN_TYPES: &[&str] = &["open", "openat", "openat2", "creat"];

/// Longest file name the kernel's name set holds (its key is 64 bytes with the NUL).
pub const MAX_NAME: usize = 63;

/// Opens of files with these names; a name the kernel cannot hold bounds nothing.
fn names_need<'a>(names: impl IntoIterator<Item = &'a str>) -> Need {
    let mut set = BTreeSet::new();
    for n in names {
        if n.len() > MAX_NAME {
            return Need::Any;
        }
        set.insert(n.to_string());
    }
    Need::Some { paths: BTreeSet::new(), names: set }
}

/// The directory part of a literal prefix: `/etc/ssh` covers `/etc/sshd_config` too, so its
/// directory `/etc/` is what the kernel must pass.
fn dir_prefix(s: &str) -> Option<String> {
    if !s.starts_with('/') {
        return None;
    }
    if s.ends_with('/') {
        return Some(s.to_string());
    }
    s.rfind('/').map(|i| s[..=i].to_string())
}

fn test_need(get: &Getter, m: &Matcher) -> Need {
    let Getter::Field(f) = get else { return Need::Any };
    let paths = |v: Vec<String>| Need::Some { paths: v.into_iter().collect(), names: BTreeSet::new() };
    match (f.id, m) {
        // Writes, creations, non-opens: never a read-only open.
        (Id::EvtIsOpenWrite | Id::EvtIsOpenCreate, Matcher::Bool { eq: true, b: true }) => none(),
        (Id::EvtIsOpenRead, Matcher::Bool { eq: true, b: false }) => none(),
        (Id::FerretType, Matcher::Str { op: StrOp::Eq, needle, negate: true, .. }) if &**needle == "file_open" => {
            none()
        }
        (Id::EvtType, Matcher::Str { op: StrOp::Eq, needle, negate: false, .. })
            if !OPEN_TYPES.contains(&&**needle) =>
        {
            none()
        }
        (Id::EvtType, Matcher::StrSet { set, .. }) if !set.iter().any(|t| OPEN_TYPES.contains(&&**t)) => none(),
        (Id::FdName, Matcher::Str { op: StrOp::Eq, needle, negate: false, ci: false }) if needle.starts_with('/') => {
            paths(vec![needle.to_string()])
        }
        (Id::FdName, Matcher::StrSet { set, ci: false }) if set.iter().all(|s| s.starts_with('/')) => {
            paths(set.iter().map(|s| s.to_string()).collect())
        }
        (Id::FdName, Matcher::Str { op: StrOp::StartsWith, needle, negate: false, ci: false }) => {
            match dir_prefix(needle) {
                Some(p) => paths(vec![p]),
                None => Need::Any,
            }
        }
        (Id::FdName | Id::FdDirectory, Matcher::Pmatch(prefixes)) if prefixes.iter().all(|p| p.starts_with('/')) => {
            paths(prefixes.iter().flat_map(|p| [p.to_string(), format!("{p}/")]).collect())
        }
        (Id::FdName, Matcher::Glob(p, false)) => {
            let s = p.as_str();
            let literal = &s[..s.find(['*', '?', '[']).unwrap_or(s.len())];
            // `/proc/*/environ`: the literal file name is narrower than the directory `/proc/`.
            let last = s.rsplit('/').next().unwrap_or("");
            if literal.len() < s.len() && !last.is_empty() && !last.contains(['*', '?', '[', ']']) {
                return names_need([last]);
            }
            match dir_prefix(literal) {
                Some(d) if literal.len() < s.len() => paths(vec![d]),
                Some(_) => paths(vec![s.to_string()]),
                None => Need::Any,
            }
        }
        (Id::FdDirectory, Matcher::Str { op: StrOp::Eq, needle, negate: false, ci: false })
            if needle.starts_with('/') =>
        {
            paths(vec![format!("{}/", needle.trim_end_matches('/'))])
        }
        (Id::FdDirectory, Matcher::StrSet { set, ci: false }) if set.iter().all(|s| s.starts_with('/')) => {
            paths(set.iter().map(|s| format!("{}/", s.trim_end_matches('/'))).collect())
        }
        (Id::FdFilename, Matcher::Str { op: StrOp::Eq, needle, negate: false, ci: false }) if !needle.contains('/') => {
            names_need([&**needle])
        }
        (Id::FdFilename, Matcher::StrSet { set, ci: false }) if set.iter().all(|s| !s.contains('/')) => {
            names_need(set.iter().map(|s| &**s))
        }
        _ => Need::Any,
    }
}

fn size(n: &Need) -> usize {
    match n {
        Need::Any => usize::MAX,
        Need::Some { paths, names } => paths.len() + names.len(),
    }
}

fn need(n: &Node) -> Need {
    match n {
        Node::Const(false) => none(),
        Node::Const(true) | Node::Not(_) => Need::Any,
        Node::Test { get, m } => test_need(get, m),
        // Every conjunct must hold: the narrowest one bounds the rule.
        Node::And(v) => v.iter().map(need).min_by_key(size).unwrap_or(Need::Any),
        Node::Or(v) => {
            let mut paths = BTreeSet::new();
            let mut names = BTreeSet::new();
            for x in v {
                match need(x) {
                    Need::Any => return Need::Any,
                    Need::Some { paths: p, names: n } => {
                        paths.extend(p);
                        names.extend(n);
                    }
                }
            }
            Need::Some { paths, names }
        }
    }
}

impl RuleSet {
    /// The read-only opens the loaded rules need to see.
    pub fn open_interest(&self) -> OpenInterest {
        let mut out = OpenInterest::default();
        for r in self.rules() {
            if let Some(types) = &r.types {
                if !types.iter().any(|t| OPEN_TYPES.contains(&t.as_str())) {
                    continue;
                }
            }
            match need(&r.node) {
                Need::Any => out.unbounded.push(r.name.clone()),
                Need::Some { paths, names } => {
                    out.paths.extend(paths);
                    out.names.extend(names);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interest(rules: &str) -> OpenInterest {
        let (set, report) = RuleSet::load_str("r.yaml", rules);
        assert!(report.ok(), "{report:?}");
        set.open_interest()
    }

    #[test]
    fn read_rules_give_paths_names_and_prefixes() {
        let i = interest(
            r#"
- list: sens
  items: [/etc/shadow, /etc/sudoers]
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- rule: a
  desc: d
  condition: open_read and (fd.name in (sens) or fd.directory in (/etc/pam.d)) and not proc.name = sshd
  output: o
  priority: WARNING
- rule: b
  desc: d
  condition: open_read and (fd.name startswith /root/.ssh or fd.filename = id_rsa or fd.name glob '/home/*/.aws/*' or fd.name glob /proc/*/environ)
  output: o
  priority: WARNING
- rule: writes
  desc: d
  condition: evt.type = openat and evt.is_open_write = true and fd.name contains log
  output: o
  priority: WARNING
- rule: execs
  desc: d
  condition: evt.type = execve and proc.name = x
  output: o
  priority: WARNING
- rule: any
  desc: d
  condition: open_read and fd.name contains secret
  output: o
  priority: WARNING
"#,
        );
        let paths: Vec<&str> = i.paths.iter().map(String::as_str).collect();
        assert_eq!(paths, vec!["/etc/pam.d/", "/etc/shadow", "/etc/sudoers", "/home/", "/root/"]);
        assert_eq!(i.names.iter().collect::<Vec<_>>(), vec!["environ", "id_rsa"]);
        assert_eq!(i.unbounded, vec!["any".to_string()]);
    }

    #[test]
    fn a_name_too_long_for_the_kernel_makes_the_rule_unbounded() {
        let long = "k".repeat(MAX_NAME + 1);
        let i = interest(&format!(
            "- rule: long\n  desc: d\n  condition: evt.type = openat and fd.filename in (short, {long})\n  output: o\n  priority: WARNING\n"
        ));
        assert!(i.names.is_empty(), "{i:?}");
        assert_eq!(i.unbounded, vec!["long".to_string()]);
        // Another constraint of the same rule still bounds it.
        let i = interest(&format!(
            "- rule: long\n  desc: d\n  condition: evt.type = openat and fd.filename = {long} and fd.directory = /srv\n  output: o\n  priority: WARNING\n"
        ));
        assert_eq!(i.paths.iter().collect::<Vec<_>>(), vec!["/srv/"]);
        assert!(i.unbounded.is_empty());
    }
}
