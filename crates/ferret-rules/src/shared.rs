//! One scan per field per event for every `contains` in every rule.
//!
//! A rule set holds hundreds of `contains` tests on the same few fields (the command line above
//! all). Checked one by one, each scans the whole value. After compilation, this pass collects the
//! needles of every `contains` on a field into one Aho-Corasick automaton (one for case-sensitive
//! needles, one for ASCII-case-insensitive ones) and rewrites each test to look up its needles in
//! the set of needles found. The scan runs at most once per event, on the first test that needs it.

use std::cell::OnceCell;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::compile::{Getter, Matcher, Node, StrOp};
use crate::fields::{is_ancestor_field, Ctx, FieldRef, Type};

/// The needles of one field (and case mode) across all rules.
#[derive(Debug)]
pub struct Group {
    pub field: FieldRef,
    pub ci: bool,
    ac: AhoCorasick,
    patterns: usize,
}

/// Needles found in an event's values, one bit per pattern, per group; filled lazily.
#[derive(Debug, Default)]
pub struct Hits {
    cells: Box<[OnceCell<Box<[u64]>>]>,
}

impl Hits {
    pub fn new(groups: usize) -> Hits {
        Hits { cells: (0..groups).map(|_| OnceCell::new()).collect() }
    }
}

fn scan(g: &Group, ctx: &Ctx) -> Box<[u64]> {
    let mut bits = vec![0u64; g.patterns.div_ceil(64)].into_boxed_slice();
    let mark = |s: &str| {
        for m in g.ac.find_overlapping_iter(s) {
            let i = m.pattern().as_usize();
            bits[i / 64] |= 1 << (i % 64);
        }
    };
    ctx.each_text(&g.field, mark);
    bits
}

/// Whether any of `ids` was found in group `group`'s field of this event.
pub fn hit(ctx: &Ctx, group: usize, ids: &[u32]) -> bool {
    let (Some(groups), Some(hits)) = (ctx.groups, ctx.hits) else { return false };
    let (Some(g), Some(cell)) = (groups.get(group), hits.cells.get(group)) else { return false };
    let bits = cell.get_or_init(|| scan(g, ctx));
    ids.iter().any(|&i| bits[i as usize / 64] & (1 << (i % 64)) != 0)
}

/// Longer needles keep their own matcher: the shared automaton stays small.
const MAX_NEEDLE: usize = 256;

#[derive(Default)]
struct Builder {
    /// Per group: field, case mode, needles.
    groups: Vec<(FieldRef, bool, Vec<String>)>,
}

impl Builder {
    fn add(&mut self, field: &FieldRef, ci: bool, needles: &[String]) -> (usize, Box<[u32]>) {
        let g = match self.groups.iter().position(|(f, c, _)| f == field && *c == ci) {
            Some(g) => g,
            None => {
                self.groups.push((field.clone(), ci, Vec::new()));
                self.groups.len() - 1
            }
        };
        let pats = &mut self.groups[g].2;
        let ids = needles
            .iter()
            .map(|n| match pats.iter().position(|p| p == n) {
                Some(i) => i as u32,
                None => {
                    pats.push(n.clone());
                    (pats.len() - 1) as u32
                }
            })
            .collect();
        (g, ids)
    }

    /// First pass (`built` is None): collect the needles. Second pass: rewrite the tests whose
    /// group's automaton was built (`built[g]` is its final index).
    fn rewrite(&mut self, n: &mut Node, built: Option<&[Option<usize>]>) {
        match n {
            Node::And(v) | Node::Or(v) => v.iter_mut().for_each(|x| self.rewrite(x, built)),
            Node::Not(x) => self.rewrite(x, built),
            Node::Const(_) => {}
            Node::Test { get: Getter::Field(f), m }
                if f.ty == Type::Str && !(f.level.is_none() && is_ancestor_field(f.id)) =>
            {
                let fits = |n: &str| !n.is_empty() && n.len() <= MAX_NEEDLE;
                let found = match m {
                    Matcher::Str { op: StrOp::Contains, needle, ci, negate: false }
                        if fits(needle) && (!*ci || needle.is_ascii()) =>
                    {
                        Some((*ci, vec![needle.to_string()]))
                    }
                    // The automaton folds ASCII case only: other needles keep their matcher.
                    Matcher::AnyOf { needles, ci, .. } if needles.iter().all(|n| fits(n) && (!*ci || n.is_ascii())) => {
                        Some((*ci, needles.clone()))
                    }
                    _ => None,
                };
                if let Some((ci, needles)) = found {
                    let (group, ids) = self.add(f, ci, &needles);
                    match built {
                        None => {}
                        Some(built) => {
                            if let Some(&Some(group)) = built.get(group) {
                                *m = Matcher::Shared { group, ids };
                            }
                        }
                    }
                }
            }
            Node::Test { .. } => {}
        }
    }
}

/// Rewrite every `contains` of the rules into lookups in shared automata; returns the groups.
///
/// A group whose automaton cannot be built (too large) is left out, and its tests keep their own
/// matchers: the tests are rewritten only after every automaton is built.
pub fn share(nodes: &mut [&mut Node]) -> Vec<Group> {
    let mut b = Builder::default();
    for n in nodes.iter_mut() {
        b.rewrite(n, None);
    }
    let mut groups = Vec::new();
    let built: Vec<Option<usize>> = b
        .groups
        .iter()
        .map(|(field, ci, pats)| {
            let ac =
                AhoCorasick::builder().ascii_case_insensitive(*ci).match_kind(MatchKind::Standard).build(pats).ok()?;
            groups.push(Group { field: field.clone(), ci: *ci, ac, patterns: pats.len() });
            Some(groups.len() - 1)
        })
        .collect();
    // The same traversal again: `add` finds every needle already there, with the same ids.
    for n in nodes.iter_mut() {
        b.rewrite(n, Some(&built));
    }
    groups
}
