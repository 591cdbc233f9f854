//! Skipping rules that cannot match, by one literal every match needs.
//!
//! Most rules require one field to equal, start with or end with one of a few literals (a Sigma
//! rule's `Image|endswith` list, a Falco rule's `proc.name in (...)`). For each such rule the
//! requirement is found in its tree (a conjunct of the top-level `and`, or the same kind of test on
//! the same field in every branch of an `or`); rules that share a field and kind share one table,
//! looked up once per event. A rule whose literal is absent from the event is not evaluated; a rule
//! with no such requirement always is. The answer is the same as evaluating every rule
//! (`tests::prefilter_agrees_with_evaluating_every_rule` checks it on the corpora).

use rustc_hash::{FxHashMap, FxHashSet};

use crate::compile::{Affix, Getter, Matcher, Node, StrOp};
use crate::fields::{is_ancestor_field, Ctx, FieldRef, Id, Type};

/// What one rule needs: `field` equal to / starting with / ending with one of `needles`.
#[derive(Debug, Clone, PartialEq)]
struct Req {
    field: FieldRef,
    kind: Affix,
    ci: bool,
    needles: Vec<String>,
}

fn test_req(get: &Getter, m: &Matcher) -> Option<Req> {
    let Getter::Field(f) = get else { return None };
    if f.ty != Type::Str || (f.level.is_none() && is_ancestor_field(f.id)) {
        return None;
    }
    let (kind, ci, needles) = match m {
        Matcher::Affixes { kind, ci, needles, .. } => (*kind, *ci, needles.clone()),
        Matcher::Str { op, needle, ci, negate: false } => {
            let kind = match op {
                StrOp::Eq => Affix::Exact,
                StrOp::StartsWith => Affix::Prefix,
                StrOp::EndsWith => Affix::Suffix,
                StrOp::Contains => return None,
            };
            (kind, *ci, vec![needle.to_string()])
        }
        Matcher::StrSet { set, ci } => (Affix::Exact, *ci, set.iter().map(|s| s.to_string()).collect()),
        _ => return None,
    };
    if needles.is_empty() || needles.iter().any(|n| n.is_empty() || (ci && !n.is_ascii())) {
        return None;
    }
    Some(Req { field: f.clone(), kind, ci, needles })
}

/// Fields with a handful of values (`fd.typechar = f` holds for every file): poor gates.
fn coarse(id: Id) -> bool {
    matches!(
        id,
        Id::FdTypeChar
            | Id::FdType
            | Id::FdL4Proto
            | Id::FdSockFamily
            | Id::EvtRes
            | Id::EvtDir
            | Id::EvtCategory
            | Id::EvtSource
            | Id::FerretType
            | Id::EvtType
    )
}

/// A requirement every match of `n` meets, if one can be read off the tree.
fn required(n: &Node) -> Option<Req> {
    match n {
        Node::Test { get, m } => test_req(get, m),
        // Any conjunct's requirement holds for the whole: the most selective one is taken.
        Node::And(v) => v.iter().filter_map(required).min_by_key(|r| (coarse(r.field.id), r.needles.len())),
        // Every branch must need the same field and kind: then one of their needles is needed.
        Node::Or(v) => {
            let mut reqs = v.iter().map(required);
            let mut acc = reqs.next()??;
            for r in reqs {
                let r = r?;
                if r.field != acc.field || r.kind != acc.kind || r.ci != acc.ci {
                    return None;
                }
                acc.needles.extend(r.needles);
            }
            Some(acc)
        }
        _ => None,
    }
}

/// The rules sharing one field and kind.
#[derive(Debug)]
struct Table {
    field: FieldRef,
    kind: Affix,
    ci: bool,
    /// Needle (lowercased when `ci`) to the rules needing it.
    by_needle: FxHashMap<String, Vec<u32>>,
    /// Needle lengths, longest first.
    lengths: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct Prefilter {
    tables: Vec<Table>,
    /// Rules with a requirement (the others are always evaluated).
    gated: Vec<bool>,
}

impl Prefilter {
    pub fn new(nodes: &[&Node]) -> Prefilter {
        let mut tables: Vec<Table> = Vec::new();
        let mut gated = vec![false; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            let Some(r) = required(n) else { continue };
            gated[i] = true;
            let t = match tables.iter().position(|t| t.field == r.field && t.kind == r.kind && t.ci == r.ci) {
                Some(t) => t,
                None => {
                    tables.push(Table {
                        field: r.field.clone(),
                        kind: r.kind,
                        ci: r.ci,
                        by_needle: FxHashMap::default(),
                        lengths: Vec::new(),
                    });
                    tables.len() - 1
                }
            };
            let t = &mut tables[t];
            for needle in r.needles {
                let key = if r.ci { needle.to_ascii_lowercase() } else { needle };
                if !t.lengths.contains(&key.len()) {
                    t.lengths.push(key.len());
                }
                let rules = t.by_needle.entry(key).or_default();
                if rules.last() != Some(&(i as u32)) {
                    rules.push(i as u32);
                }
            }
        }
        for t in &mut tables {
            t.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        Prefilter { tables, gated }
    }

    /// How many rules have a requirement, and in how many tables.
    pub fn stats(&self) -> (usize, usize) {
        (self.gated.iter().filter(|g| **g).count(), self.tables.len())
    }

    /// The tables holding any of `rules` (an event type's candidates): only those are looked up.
    pub fn tables_for(&self, rules: &[usize]) -> Vec<usize> {
        let wanted: FxHashSet<u32> = rules.iter().map(|&r| r as u32).collect();
        (0..self.tables.len())
            .filter(|&t| self.tables[t].by_needle.values().flatten().any(|r| wanted.contains(r)))
            .collect()
    }

    /// The gated rules whose requirement this event meets, looking only in `tables`.
    pub fn passing(&self, ctx: &Ctx, tables: &[usize]) -> FxHashSet<u32> {
        let mut out = FxHashSet::default();
        for t in tables.iter().filter_map(|&t| self.tables.get(t)) {
            let look = |v: &str| {
                // Unicode case folding can turn a non-ASCII letter into an ASCII one (the Kelvin
                // sign into `k`): such values pass every rule of a case-insensitive table.
                if t.ci && !v.is_ascii() {
                    out.extend(t.by_needle.values().flatten().copied());
                    return;
                }
                let lowered;
                let v = if t.ci && v.bytes().any(|b| b.is_ascii_uppercase()) {
                    lowered = v.to_ascii_lowercase();
                    lowered.as_str()
                } else {
                    v
                };
                let b = v.as_bytes();
                for &len in &t.lengths {
                    if len > b.len() {
                        continue;
                    }
                    let slice = match t.kind {
                        Affix::Exact if len != b.len() => continue,
                        Affix::Exact => v,
                        Affix::Prefix => match v.get(..len) {
                            Some(s) => s,
                            None => continue,
                        },
                        Affix::Suffix => match v.get(b.len() - len..) {
                            Some(s) => s,
                            None => continue,
                        },
                    };
                    if let Some(rules) = t.by_needle.get(slice) {
                        out.extend(rules.iter().copied());
                    }
                }
            };
            ctx.each_text(&t.field, look);
        }
        out
    }

    pub fn is_gated(&self, rule: usize) -> bool {
        self.gated.get(rule).copied().unwrap_or(false)
    }
}
