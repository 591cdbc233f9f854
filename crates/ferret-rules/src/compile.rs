//! The compiled form every front end produces: a boolean tree whose leaves are a field getter and
//! a prepared matcher (hash sets for `in`, Aho-Corasick for case-insensitive and multi-needle
//! `contains`, compiled globs and linear-time regexes). Compiling a Falco condition inlines its
//! macros and expands its lists once; evaluation does no parsing and little allocation.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashSet;
use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use ipnet::IpNet;

use crate::condition::{Check, Expr, ListItem, Modifier, Op, Operand, Rhs, Transformer};
use crate::fields::{self, Ctx, FieldRef, Id, Type, Val};

/// Biggest compiled regex accepted (bytes of automaton): a hostile pattern is refused, not run.
const REGEX_SIZE_LIMIT: usize = 2 << 20;

#[derive(Debug)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Const(bool),
    Test { get: Getter, m: Matcher },
}

#[derive(Debug, Clone)]
pub enum Getter {
    Field(FieldRef),
    Transform(Transformer, Vec<Getter>, Option<Box<str>>),
    Lit(Box<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affix {
    Prefix,
    Suffix,
    Exact,
}

/// Longest needle an `Affixes` matcher takes (the end of a value is reversed on the stack).
const MAX_AFFIX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Eq,
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug)]
pub enum Matcher {
    Exists,
    Int {
        op: Op,
        n: i64,
    },
    Bool {
        eq: bool,
        b: bool,
    },
    Ip {
        eq: bool,
        ip: IpAddr,
    },
    Net {
        eq: bool,
        nets: Vec<IpNet>,
    },
    Str {
        op: StrOp,
        needle: Box<str>,
        ci: bool,
        negate: bool,
    },
    /// Any of several needles anywhere in the value (the needles are kept for `shared`).
    AnyOf {
        ac: AhoCorasick,
        needles: Vec<String>,
        ci: bool,
    },
    /// `op oneof|anyof|allof (...)`: one matcher per value, and how many must hold.
    Multi {
        modifier: Modifier,
        each: Vec<Matcher>,
    },
    /// `contains` moved into a rule set's shared automaton: pattern ids in group `group`.
    Shared {
        group: usize,
        ids: Box<[u32]>,
    },
    /// Any of several needles at the start, at the end, or as the whole value: one anchored
    /// automaton (over the reversed needles for the end) instead of one comparison per needle.
    Affixes {
        ac: AhoCorasick,
        kind: Affix,
        max_len: usize,
        /// The needles as given (for the rule set's prefilter).
        needles: Vec<String>,
        ci: bool,
    },
    StrSet {
        set: FxHashSet<Box<str>>,
        ci: bool,
    },
    IntSet(Vec<i64>),
    Glob(glob::Pattern, bool),
    Regex(regex::Regex),
    Pmatch(Vec<Box<str>>),
    Bytes {
        starts: bool,
        needle: Vec<u8>,
    },
    /// Numeric comparisons on strings (`<` on a string field compares text).
    StrOrd {
        op: Op,
        s: Box<str>,
    },
    Field {
        op: Op,
        other: Getter,
    },
}

/// A compile error: where (offset in the condition, and the macro it is in) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub at: usize,
    pub in_macro: Option<String>,
    pub message: String,
}

/// What compilation needs from the rule files: macros (already parsed) and lists (unexpanded).
pub trait Definitions {
    fn macro_expr(&self, name: &str) -> Option<Result<&Expr, String>>;
    fn list(&self, name: &str) -> Option<&[String]>;
}

/// Deepest compiled tree accepted, macros inlined: evaluation recurses this deep at most.
pub const MAX_DEPTH: usize = 256;
/// Most nodes one rule may compile to, macros inlined (`m1: m0 or m0`... doubles each level).
pub const MAX_NODES: usize = 200_000;
/// Most items one list operand may expand to, nested lists included.
pub const MAX_LIST_ITEMS: usize = 100_000;

pub struct Compiler<'d, D: Definitions> {
    defs: &'d D,
    stack: Vec<String>,
    depth: usize,
    nodes: usize,
    /// Falco fields used that ferret cannot extract, for `rules check`.
    pub unavailable: Vec<String>,
}

/// Unquote a list item written in YAML with its quotes kept (`'"10.0.0.0/8"'`).
/// A list item as written in YAML, possibly with its quotes kept (`'"10.0.0.0/8"'`): quoted
/// items are read as the condition language reads a quoted string (escapes included).
pub fn unquote(s: &str) -> (String, bool) {
    let t = s.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return (crate::condition::unescape(&t[1..t.len() - 1]), true);
        }
    }
    (t.to_string(), false)
}

impl<D: Definitions> std::fmt::Debug for Compiler<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler").field("stack", &self.stack).finish()
    }
}

impl<'d, D: Definitions> Compiler<'d, D> {
    pub fn new(defs: &'d D) -> Self {
        Compiler { defs, stack: Vec::new(), depth: 0, nodes: 0, unavailable: Vec::new() }
    }

    fn err(&self, at: usize, message: String) -> CompileError {
        CompileError { at, in_macro: self.stack.last().cloned(), message }
    }

    pub fn compile(&mut self, e: &Expr) -> Result<Node, CompileError> {
        self.depth += 1;
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.depth -= 1;
            return Err(
                self.err(0, format!("condition expands to more than {MAX_NODES} nodes with its macros inlined"))
            );
        }
        let r = self.compile_inner(e);
        self.depth -= 1;
        r
    }

    fn compile_inner(&mut self, e: &Expr) -> Result<Node, CompileError> {
        if self.depth > MAX_DEPTH {
            let at = match e {
                Expr::Macro { at, .. } => *at,
                Expr::Check(c) => c.at,
                _ => 0,
            };
            return Err(self.err(at, format!("condition nests deeper than {MAX_DEPTH} levels with its macros inlined")));
        }
        Ok(match e {
            Expr::And(v) => Node::And(v.iter().map(|x| self.compile(x)).collect::<Result<_, _>>()?),
            Expr::Or(v) => Node::Or(v.iter().map(|x| self.compile(x)).collect::<Result<_, _>>()?),
            Expr::Not(x) => Node::Not(Box::new(self.compile(x)?)),
            Expr::Macro { name, at } => {
                if self.stack.iter().any(|m| m == name) {
                    let mut chain = self.stack.clone();
                    chain.push(name.clone());
                    return Err(self.err(*at, format!("macro recursion: {}", chain.join(" -> "))));
                }
                let expr = match self.defs.macro_expr(name) {
                    None => return Err(self.err(*at, format!("undefined macro '{name}'"))),
                    Some(Err(_)) => {
                        return Err(self.err(
                            *at,
                            format!("macro '{name}' does not parse (its error is reported where it is written)"),
                        ))
                    }
                    Some(Ok(x)) => x,
                };
                if self.stack.len() >= 64 {
                    return Err(self.err(*at, "macros nested more than 64 deep".into()));
                }
                self.stack.push(name.clone());
                let r = self.compile(expr);
                self.stack.pop();
                r?
            }
            Expr::Check(c) => self.check(c)?,
        })
    }

    fn getter(&mut self, o: &Operand) -> Result<(Getter, Type), CompileError> {
        match o {
            Operand::Field { name, arg, at } => {
                let f = fields::resolve(name, arg.as_deref()).map_err(|m| self.err(*at, m))?;
                if f.id == Id::Unavailable && !self.unavailable.contains(&f.name.to_string()) {
                    self.unavailable.push(f.name.to_string());
                }
                let ty = f.ty;
                Ok((Getter::Field(f), ty))
            }
            Operand::Literal(s) => Ok((Getter::Lit(s.as_str().into()), Type::Str)),
            Operand::Transform { func, args, at, select } => {
                let mut gs = Vec::new();
                for a in args {
                    gs.push(self.getter(a)?.0);
                }
                let want = match func {
                    Transformer::Concat => None,
                    Transformer::Join | Transformer::Getopt => Some(2),
                    _ => Some(1),
                };
                if let Some(n) = want {
                    if gs.len() != n {
                        return Err(
                            self.err(*at, format!("{func:?} takes {n} argument(s), found {}", gs.len()).to_lowercase())
                        );
                    }
                }
                let ty = if *func == Transformer::Len { Type::Int } else { Type::Str };
                if select.is_some() && *func != Transformer::Getopt {
                    return Err(self.err(*at, format!("only getopt() takes a [selector], not {func:?}").to_lowercase()));
                }
                if *func == Transformer::Concat && gs.len() < 2 {
                    return Err(self.err(*at, "concat() takes at least 2 arguments".into()));
                }
                Ok((Getter::Transform(*func, gs, select.as_deref().map(Into::into)), ty))
            }
        }
    }

    /// Expand list names (recursively) in a condition's or exception's items.
    fn expand(&self, items: &[ListItem], out: &mut Vec<String>, depth: usize) -> Result<(), CompileError> {
        for it in items {
            if !it.quoted {
                if let Some(list) = self.defs.list(&it.text) {
                    if depth > 32 {
                        return Err(self.err(it.at, format!("list '{}' nests more than 32 deep", it.text)));
                    }
                    let nested: Vec<ListItem> = list
                        .iter()
                        .map(|s| {
                            let (text, quoted) = unquote(s);
                            ListItem { text, quoted, at: it.at }
                        })
                        .collect();
                    self.expand(&nested, out, depth + 1)?;
                    continue;
                }
            }
            if out.len() >= MAX_LIST_ITEMS {
                return Err(self.err(it.at, format!("lists expand to more than {MAX_LIST_ITEMS} items")));
            }
            out.push(it.text.clone());
        }
        Ok(())
    }

    fn check(&mut self, c: &Check) -> Result<Node, CompileError> {
        let (get, ty) = self.getter(&c.lhs)?;
        if c.op == Op::Exists {
            return Ok(Node::Test { get, m: Matcher::Exists });
        }
        let at = c.at;
        let m = match &c.rhs {
            Rhs::None => return Err(self.err(at, format!("operator '{}' needs a value", c.op.name()))),
            Rhs::Operand(o) => Matcher::Field { op: c.op, other: self.getter(o)?.0 },
            Rhs::List(items) => {
                let mut values = Vec::new();
                self.expand(items, &mut values, 0)?;
                self.list_matcher(c.op, ty, values, at)?
            }
            Rhs::Modified { modifier, items } => {
                let mut values = Vec::new();
                self.expand(items, &mut values, 0)?;
                if values.is_empty() {
                    return Err(self.err(at, "the list after the modifier is empty".into()));
                }
                let each = values.iter().map(|v| self.value_matcher(c.op, ty, v, at)).collect::<Result<Vec<_>, _>>()?;
                Matcher::Multi { modifier: *modifier, each }
            }
            Rhs::Value { text, at: vat } => {
                // A bare value naming a list after a scalar operator is a literal in Falco.
                self.value_matcher(c.op, ty, text, *vat)?
            }
        };
        Ok(Node::Test { get, m })
    }

    fn list_matcher(&self, op: Op, ty: Type, values: Vec<String>, at: usize) -> Result<Matcher, CompileError> {
        match op {
            Op::Pmatch => {
                Ok(Matcher::Pmatch(values.into_iter().map(|v| v.trim_end_matches('/').to_string().into()).collect()))
            }
            Op::In | Op::Intersects => match ty {
                Type::Int => {
                    let mut ns = Vec::new();
                    for v in &values {
                        ns.push(
                            parse_int(v)
                                .ok_or_else(|| self.err(at, format!("expected a number in the list, found '{v}'")))?,
                        );
                    }
                    Ok(Matcher::IntSet(ns))
                }
                Type::Ip | Type::Net => {
                    let mut nets = Vec::new();
                    for v in &values {
                        nets.push(
                            parse_net(v)
                                .ok_or_else(|| self.err(at, format!("expected an address or network, found '{v}'")))?,
                        );
                    }
                    Ok(Matcher::Net { eq: true, nets })
                }
                Type::Bool | Type::Str => {
                    Ok(Matcher::StrSet { set: values.into_iter().map(Into::into).collect(), ci: false })
                }
            },
            _ => Err(self.err(at, format!("operator '{}' takes one value, not a list", op.name()))),
        }
    }

    fn value_matcher(&self, op: Op, ty: Type, v: &str, at: usize) -> Result<Matcher, CompileError> {
        let strop = |o: StrOp| Matcher::Str { op: o, needle: v.into(), ci: false, negate: false };
        Ok(match op {
            Op::Eq | Op::Ne => {
                let eq = op == Op::Eq;
                match ty {
                    Type::Int => {
                        let n = parse_int(v).ok_or_else(|| self.err(at, format!("expected a number, found '{v}'")))?;
                        Matcher::Int { op, n }
                    }
                    Type::Bool => match v {
                        "true" => Matcher::Bool { eq, b: true },
                        "false" => Matcher::Bool { eq, b: false },
                        _ => return Err(self.err(at, format!("expected true or false, found '{v}'"))),
                    },
                    Type::Ip => {
                        if let Ok(ip) = v.parse::<IpAddr>() {
                            Matcher::Ip { eq, ip }
                        } else {
                            let net = parse_net(v)
                                .ok_or_else(|| self.err(at, format!("expected an address, found '{v}'")))?;
                            Matcher::Net { eq, nets: vec![net] }
                        }
                    }
                    Type::Net => {
                        let net = parse_net(v).ok_or_else(|| {
                            self.err(at, format!("expected a network such as 10.0.0.0/8, found '{v}'"))
                        })?;
                        Matcher::Net { eq, nets: vec![net] }
                    }
                    Type::Str => Matcher::Str { op: StrOp::Eq, needle: v.into(), ci: false, negate: !eq },
                }
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match ty {
                Type::Int => {
                    let n = parse_int(v).ok_or_else(|| self.err(at, format!("expected a number, found '{v}'")))?;
                    Matcher::Int { op, n }
                }
                _ => Matcher::StrOrd { op, s: v.into() },
            },
            Op::Contains => strop(StrOp::Contains),
            Op::StartsWith => strop(StrOp::StartsWith),
            Op::EndsWith => strop(StrOp::EndsWith),
            Op::IContains => icontains(&[v.to_string()]).map_err(|e| self.err(at, e))?,
            Op::BContains | Op::BStartsWith => {
                let needle = hex::decode(v.replace(' ', ""))
                    .map_err(|_| self.err(at, format!("expected hex bytes, found '{v}'")))?;
                Matcher::Bytes { starts: op == Op::BStartsWith, needle }
            }
            Op::Glob | Op::IGlob => {
                let p = glob::Pattern::new(v).map_err(|e| self.err(at, format!("bad glob '{v}': {e}")))?;
                Matcher::Glob(p, op == Op::IGlob)
            }
            // Falco's `regex` matches the whole value.
            Op::Regex => Matcher::Regex(build_regex(&format!("^(?:{v})$"), false).map_err(|e| self.err(at, e))?),
            Op::In | Op::Intersects | Op::Pmatch => self.list_matcher(op, ty, vec![v.to_string()], at)?,
            Op::Exists => Matcher::Exists,
        })
    }
}

pub fn build_regex(pattern: &str, ci: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ci)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(100)
        .build()
        .map_err(|e| {
            format!("bad regex '{}': {}", pattern.chars().take(80).collect::<String>(), first_line(&e.to_string()))
        })
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

pub fn parse_int(v: &str) -> Option<i64> {
    let t = v.trim();
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    t.parse().ok()
}

pub fn parse_net(v: &str) -> Option<IpNet> {
    let t = v.trim();
    t.parse::<IpNet>().ok().or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether `v` starts with `p`, ASCII case folded when `ci`.
fn starts(v: &str, p: &str, ci: bool) -> bool {
    v.len() >= p.len()
        && (if ci {
            v.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        } else {
            v.as_bytes().starts_with(p.as_bytes())
        })
}

fn ends(v: &str, p: &str, ci: bool) -> bool {
    v.len() >= p.len()
        && (if ci {
            v.as_bytes()[v.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
        } else {
            v.as_bytes().ends_with(p.as_bytes())
        })
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle_lower.is_ascii() {
        let n = needle_lower.as_bytes();
        return hay.as_bytes().windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle_lower)
}

impl Matcher {
    fn test_str(&self, v: &str, ctx: &Ctx) -> bool {
        match self {
            Matcher::Str { op, needle, ci, negate } => {
                let r = match op {
                    StrOp::Eq => {
                        if *ci {
                            v.eq_ignore_ascii_case(needle)
                                || (!v.is_ascii() && v.to_lowercase() == needle.to_lowercase())
                        } else {
                            v == &**needle
                        }
                    }
                    StrOp::StartsWith => starts(v, needle, *ci),
                    StrOp::EndsWith => ends(v, needle, *ci),
                    StrOp::Contains => {
                        if *ci {
                            contains_ci(v, needle)
                        } else {
                            memchr::memmem::find(v.as_bytes(), needle.as_bytes()).is_some()
                        }
                    }
                };
                r != *negate
            }
            Matcher::AnyOf { ac, .. } => ac.is_match(v),
            // Evaluated by `Node::eval` from the shared scan; reached only through `val()`.
            Matcher::Shared { .. } => false,
            Matcher::Multi { .. } => self.test(&Val::Str(Cow::Borrowed(v)), ctx),
            Matcher::Affixes { ac, kind, max_len, .. } => {
                let b = v.as_bytes();
                let anchored = |h: &[u8]| ac.find(aho_corasick::Input::new(h).anchored(aho_corasick::Anchored::Yes));
                match kind {
                    Affix::Prefix => anchored(b).is_some(),
                    Affix::Exact => anchored(b).is_some_and(|m| m.end() == b.len()),
                    Affix::Suffix => {
                        let n = b.len().min(*max_len);
                        let mut buf = [0u8; MAX_AFFIX];
                        for (d, s) in buf.iter_mut().zip(b[b.len() - n..].iter().rev()) {
                            *d = *s;
                        }
                        anchored(&buf[..n]).is_some()
                    }
                }
            }
            Matcher::StrSet { set, ci } => {
                if *ci {
                    set.contains(v.to_lowercase().as_str())
                } else {
                    set.contains(v)
                }
            }
            Matcher::Glob(p, ci) => {
                let opts = glob::MatchOptions {
                    case_sensitive: !ci,
                    require_literal_separator: false,
                    require_literal_leading_dot: false,
                };
                p.matches_with(v, opts)
            }
            Matcher::Regex(r) => r.is_match(v),
            Matcher::Pmatch(prefixes) => prefixes
                .iter()
                .any(|p| v.starts_with(&**p) && (v.len() == p.len() || v.as_bytes()[p.len()] == b'/' || p.is_empty())),
            Matcher::Bytes { starts: s, needle } => {
                if *s {
                    v.as_bytes().starts_with(needle)
                } else {
                    memchr::memmem::find(v.as_bytes(), needle).is_some()
                }
            }
            Matcher::StrOrd { op, s } => cmp_ord(*op, v.cmp(s)),
            Matcher::IntSet(ns) => v.parse::<i64>().is_ok_and(|n| ns.contains(&n)),
            Matcher::Int { op, n } => v.parse::<i64>().is_ok_and(|x| cmp_ord(*op, x.cmp(n))),
            Matcher::Bool { eq, b } => (v == if *b { "true" } else { "false" }) == *eq,
            Matcher::Ip { eq, ip } => v.parse::<IpAddr>().is_ok_and(|x| (x == *ip) == *eq),
            Matcher::Net { eq, nets } => v.parse::<IpAddr>().is_ok_and(|x| nets.iter().any(|n| n.contains(&x)) == *eq),
            Matcher::Exists => true,
            Matcher::Field { op, other } => match other.get(ctx) {
                Some(o) => compare_vals(*op, &Val::Str(Cow::Borrowed(v)), &o),
                None => false,
            },
        }
    }

    /// Whether the value satisfies the matcher. Lists hold when one element does (for `!=` and
    /// the other negated tests: when every element does).
    pub fn test(&self, v: &Val, ctx: &Ctx) -> bool {
        if let Matcher::Multi { modifier, each } = self {
            let n = each.iter().filter(|m| m.test(v, ctx)).count();
            return match modifier {
                Modifier::OneOf => n == 1,
                Modifier::AnyOf => n >= 1,
                Modifier::AllOf => n == each.len(),
            };
        }
        match v {
            Val::List(items) => {
                let negated = matches!(
                    self,
                    Matcher::Str { negate: true, .. }
                        | Matcher::Int { op: Op::Ne, .. }
                        | Matcher::Bool { eq: false, .. }
                        | Matcher::Ip { eq: false, .. }
                        | Matcher::Net { eq: false, .. }
                );
                if negated {
                    items.iter().all(|i| self.test(i, ctx))
                } else {
                    items.iter().any(|i| self.test(i, ctx))
                }
            }
            Val::Str(s) => self.test_str(s, ctx),
            Val::Int(x) => match self {
                Matcher::Int { op, n } => cmp_ord(*op, x.cmp(n)),
                Matcher::IntSet(ns) => ns.contains(x),
                Matcher::Exists => true,
                Matcher::Field { op, other } => other.get(ctx).is_some_and(|o| compare_vals(*op, v, &o)),
                _ => self.test_str(&x.to_string(), ctx),
            },
            Val::Bool(b) => match self {
                Matcher::Bool { eq, b: want } => (b == want) == *eq,
                Matcher::Exists => true,
                _ => self.test_str(if *b { "true" } else { "false" }, ctx),
            },
            Val::Ip(ip) => match self {
                Matcher::Ip { eq, ip: want } => (ip == want) == *eq,
                Matcher::Net { eq, nets } => nets.iter().any(|n| n.contains(ip)) == *eq,
                Matcher::Exists => true,
                _ => self.test_str(&ip.to_string(), ctx),
            },
        }
    }
}

fn cmp_ord(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => false,
    }
}

/// `field op val(other)`: both sides extracted from the event.
fn compare_vals(op: Op, a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => cmp_ord(op, x.cmp(y)),
        _ => {
            let (x, y) = (a.render(), b.render());
            match op {
                Op::Contains => x.contains(&y),
                Op::IContains => x.to_lowercase().contains(&y.to_lowercase()),
                Op::StartsWith => x.starts_with(&y),
                Op::EndsWith => x.ends_with(&y),
                Op::In | Op::Intersects => x == y,
                Op::Pmatch => x.starts_with(&y),
                Op::Glob => glob::Pattern::new(&y).is_ok_and(|p| p.matches(&x)),
                _ => cmp_ord(op, x.cmp(&y)),
            }
        }
    }
}

impl Getter {
    pub fn get<'c>(&self, ctx: &'c Ctx) -> Option<Val<'c>> {
        match self {
            Getter::Field(f) => ctx.get(f),
            Getter::Lit(s) => Some(Val::Str(Cow::Owned(s.to_string()))),
            Getter::Transform(t, args, select) => {
                let first = || args.first().and_then(|a| a.get(ctx));
                let map_str = |v: Val<'c>, f: &dyn Fn(&str) -> String| -> Val<'c> {
                    match v {
                        Val::List(items) => {
                            Val::List(items.into_iter().map(|i| Val::Str(Cow::Owned(f(&i.render())))).collect())
                        }
                        other => Val::Str(Cow::Owned(f(&other.render()))),
                    }
                };
                match t {
                    Transformer::ToLower => first().map(|v| map_str(v, &|s| s.to_lowercase())),
                    Transformer::ToUpper => first().map(|v| map_str(v, &|s| s.to_uppercase())),
                    Transformer::B64 => first().and_then(|v| {
                        let bytes = base64::engine::general_purpose::STANDARD.decode(v.render().trim()).ok()?;
                        Some(Val::Str(Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())))
                    }),
                    Transformer::Basename => {
                        first().map(|v| map_str(v, &|s| s.rsplit('/').next().unwrap_or(s).to_string()))
                    }
                    Transformer::Len => first().map(|v| match v {
                        Val::List(items) => Val::Int(items.len() as i64),
                        Val::Str(s) => Val::Int(s.len() as i64),
                        other => Val::Int(other.render().len() as i64),
                    }),
                    Transformer::Join => {
                        let sep = args.first()?.get(ctx)?.render();
                        let v = args.get(1)?.get(ctx)?;
                        Some(Val::Str(Cow::Owned(match v {
                            Val::List(items) => items.iter().map(Val::render).collect::<Vec<_>>().join(&sep),
                            other => other.render(),
                        })))
                    }
                    Transformer::Concat => {
                        let mut s = String::new();
                        for a in args {
                            s.push_str(&a.get(ctx)?.render());
                        }
                        Some(Val::Str(Cow::Owned(s)))
                    }
                    Transformer::Getopt => {
                        let words: Vec<String> = match args.first()?.get(ctx)? {
                            Val::List(items) => items.iter().map(Val::render).collect(),
                            other => other.render().split_whitespace().map(str::to_string).collect(),
                        };
                        let optstring = args.get(1)?.get(ctx)?.render();
                        getopt(&words, &optstring, select.as_deref().and_then(|s| s.chars().next()))
                    }
                }
            }
        }
    }
}

/// getopt(3) over an argument list: short options only, clusters (`-nt`) expanded, stopping at
/// `--` or the first operand, long options skipped. Without a selector: the options found, each
/// followed by its value when it takes one (`?` for an unknown option). With `[c]`: the value of
/// the last `-c` (its name when it takes no value); nothing when it is absent.
fn getopt<'c>(words: &[String], optstring: &str, select: Option<char>) -> Option<Val<'c>> {
    let mut takes_arg = std::collections::HashMap::new();
    let chars: Vec<char> = optstring.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != ':' {
            takes_arg.insert(chars[i], chars.get(i + 1) == Some(&':'));
        }
        i += 1;
    }
    let mut out: Vec<String> = Vec::new();
    let mut selected = None;
    let mut idx = 0;
    while idx < words.len() {
        let w = &words[idx];
        if w == "--" {
            break;
        }
        if w.len() > 2 && w.starts_with("--") {
            idx += 1;
            continue;
        }
        if !w.starts_with('-') || w.len() == 1 {
            break;
        }
        let cs: Vec<char> = w.chars().collect();
        for (pos, &c) in cs.iter().enumerate().skip(1) {
            let Some(&needs) = takes_arg.get(&c) else {
                if select.is_none() {
                    out.push("?".into());
                }
                continue;
            };
            let matches = select.is_none_or(|s| s == c);
            if !needs {
                if matches {
                    match select {
                        Some(_) => selected = Some(c.to_string()),
                        None => out.push(c.to_string()),
                    }
                }
                continue;
            }
            let rest: String = cs[pos + 1..].iter().collect();
            let value = if !rest.is_empty() {
                Some(rest)
            } else if idx + 1 < words.len() {
                idx += 1;
                Some(words[idx].clone())
            } else {
                None
            };
            if matches {
                match select {
                    Some(_) => selected = Some(value.clone().unwrap_or_default()),
                    None => {
                        out.push(c.to_string());
                        if let Some(v) = &value {
                            out.push(v.clone());
                        }
                    }
                }
            }
            break;
        }
        idx += 1;
    }
    match select {
        Some(_) => selected.map(|v| Val::Str(Cow::Owned(v))),
        None => Some(Val::List(out.into_iter().map(|s| Val::Str(Cow::Owned(s))).collect())),
    }
}

impl Node {
    pub fn eval(&self, ctx: &Ctx) -> bool {
        match self {
            Node::And(v) => v.iter().all(|n| n.eval(ctx)),
            Node::Or(v) => v.iter().any(|n| n.eval(ctx)),
            Node::Not(n) => !n.eval(ctx),
            Node::Const(b) => *b,
            // Any ancestor: tested one by one, without building a list.
            Node::Test { get: Getter::Field(f), m } if f.level.is_none() && fields::is_ancestor_field(f.id) => (1
                ..=ctx.ev.process.ancestors.len())
                .any(|n| ctx.ancestor_value(f.id, n).is_some_and(|v| m.test(&v, ctx))),
            Node::Test { m: Matcher::Shared { group, ids }, .. } => crate::shared::hit(ctx, *group, ids),
            Node::Test { get, m } => match get.get(ctx) {
                Some(v) => m.test(&v, ctx),
                None => false,
            },
        }
    }

    /// Fold what the rule index already guarantees: `evt.type` tests that hold for every type in
    /// `types` become `true`, those that hold for none become `false`, and constants are folded
    /// into their parents. (`spawned_process` is a hash lookup per rule otherwise.)
    pub fn fold_types(self, types: &HashSet<String>) -> Node {
        match self {
            Node::Test { get: Getter::Field(f), m } if f.id == Id::EvtType => {
                let holds = |t: &str| match &m {
                    Matcher::Str { op: StrOp::Eq, needle, ci: false, negate } => (&**needle == t) != *negate,
                    Matcher::StrSet { set, ci: false } => set.contains(t),
                    _ => false,
                };
                let known =
                    matches!(&m, Matcher::Str { op: StrOp::Eq, ci: false, .. } | Matcher::StrSet { ci: false, .. });
                if known && types.iter().all(|t| holds(t)) {
                    Node::Const(true)
                } else if known && !types.iter().any(|t| holds(t)) {
                    Node::Const(false)
                } else {
                    Node::Test { get: Getter::Field(f), m }
                }
            }
            Node::Not(x) => match x.fold_types(types) {
                Node::Const(b) => Node::Const(!b),
                other => Node::Not(Box::new(other)),
            },
            Node::And(v) => fold_junction(v, types, true, Node::And),
            Node::Or(v) => fold_junction(v, types, false, Node::Or),
            other => other,
        }
    }

    /// The Falco event types this condition can match, or None when it does not restrict them.
    pub fn event_types(&self) -> Option<HashSet<String>> {
        match self {
            Node::Test { get: Getter::Field(f), m } if f.id == Id::EvtType => match m {
                Matcher::Str { op: StrOp::Eq, needle, ci: false, negate: false } => Some([needle.to_string()].into()),
                Matcher::StrSet { set, ci: false } => Some(set.iter().map(|s| s.to_string()).collect()),
                _ => None,
            },
            Node::Const(false) => Some(HashSet::new()),
            Node::And(v) => {
                let mut acc: Option<HashSet<String>> = None;
                for n in v {
                    if let Some(s) = n.event_types() {
                        acc = Some(match acc {
                            None => s,
                            Some(a) => a.intersection(&s).cloned().collect(),
                        });
                    }
                }
                acc
            }
            Node::Or(v) => {
                let mut acc = HashSet::new();
                for n in v {
                    acc.extend(n.event_types()?);
                }
                Some(acc)
            }
            _ => None,
        }
    }
}

/// Folds an `and` (`unit` true) or an `or` (`unit` false) after its children: the unit constant
/// drops out, the other one decides the whole, and one child left stands alone.
fn fold_junction(v: Vec<Node>, types: &HashSet<String>, unit: bool, make: fn(Vec<Node>) -> Node) -> Node {
    let mut out = Vec::new();
    for n in v {
        match n.fold_types(types) {
            Node::Const(b) if b == unit => {}
            Node::Const(_) => return Node::Const(!unit),
            other => out.push(other),
        }
    }
    match out.len() {
        0 => Node::Const(unit),
        1 => out.pop().unwrap_or(Node::Const(unit)),
        _ => make(out),
    }
}

/// Case-insensitive `contains` of any of `needles`: one ASCII-case-folding automaton, or (for
/// needles with non-ASCII letters) a lowercase comparison.
pub fn icontains(needles: &[String]) -> Result<Matcher, String> {
    if needles.iter().all(|n| n.is_ascii()) {
        return any_of(needles, true);
    }
    if let [one] = needles {
        return Ok(Matcher::Str { op: StrOp::Contains, needle: one.to_lowercase().into(), ci: true, negate: false });
    }
    Err("case-insensitive lists of non-ASCII strings are not supported".into())
}

/// A matcher for "starts with / ends with / equals one of `needles`" as one anchored automaton.
pub fn affixes(needles: &[String], kind: Affix, ci: bool) -> Result<Matcher, String> {
    let max_len = needles.iter().map(String::len).max().unwrap_or(0);
    if max_len > MAX_AFFIX || needles.iter().any(String::is_empty) || (ci && !needles.iter().all(|n| n.is_ascii())) {
        return Err("needles unsuited to one automaton".into());
    }
    let pats: Vec<Vec<u8>> = match kind {
        Affix::Suffix => needles.iter().map(|n| n.bytes().rev().collect()).collect(),
        _ => needles.iter().map(|n| n.as_bytes().to_vec()).collect(),
    };
    let match_kind =
        if kind == Affix::Exact { aho_corasick::MatchKind::LeftmostLongest } else { aho_corasick::MatchKind::Standard };
    AhoCorasick::builder()
        .ascii_case_insensitive(ci)
        .start_kind(aho_corasick::StartKind::Anchored)
        .match_kind(match_kind)
        .build(&pats)
        .map(|ac| Matcher::Affixes { ac, kind, max_len, needles: needles.to_vec(), ci })
        .map_err(|e| format!("cannot build a matcher for {} strings: {e}", needles.len()))
}

/// Build a matcher that holds when the value contains any of `needles` (one automaton).
pub fn any_of(needles: &[String], ci: bool) -> Result<Matcher, String> {
    // A DFA is fastest but costs 256 transitions per state: only for small needle sets.
    let total: usize = needles.iter().map(String::len).sum();
    let kind = if total > 4096 { Some(aho_corasick::AhoCorasickKind::ContiguousNFA) } else { None };
    AhoCorasick::builder()
        .kind(kind)
        .ascii_case_insensitive(ci)
        .build(needles)
        .map(|ac| Matcher::AnyOf { ac, needles: needles.to_vec(), ci })
        .map_err(|e| format!("cannot build a matcher for {} strings: {e}", needles.len()))
}

/// A definitions table with nothing in it (for compiling standalone conditions).
#[derive(Debug, Default)]
pub struct NoDefinitions {
    pub lists: HashMap<String, Vec<String>>,
}

impl Definitions for NoDefinitions {
    fn macro_expr(&self, _: &str) -> Option<Result<&Expr, String>> {
        None
    }
    fn list(&self, name: &str) -> Option<&[String]> {
        self.lists.get(name).map(|v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(m: &Matcher, v: &str) -> bool {
        let ev = ferret_event::Event::default();
        let users = crate::Users::fixed(&[], &[]);
        m.test(&Val::Str(Cow::Borrowed(v)), &Ctx::new(&ev, 1, &users))
    }

    #[test]
    fn getopt_follows_getopt3() {
        let w: Vec<String> = ["-nt", "60", "-x", "--long", "-v", "file", "-z"].iter().map(|s| s.to_string()).collect();
        let all = getopt(&w, "nt:v", None).unwrap();
        assert_eq!(all.render(), "n,t,60,?,v");
        assert_eq!(getopt(&w, "nt:v", Some('t')).unwrap().render(), "60");
        assert!(getopt(&w, "nt:vz", Some('z')).is_none());
    }

    #[test]
    fn affix_automata_match_like_one_comparison_per_needle() {
        let needles: Vec<String> = ["/bin/sh", "/usr/bin/NC", "/x"].iter().map(|s| s.to_string()).collect();
        let suffix = affixes(&needles, Affix::Suffix, true).unwrap();
        assert!(hit(&suffix, "/usr/bin/nc"));
        assert!(hit(&suffix, "/opt/x"));
        assert!(!hit(&suffix, "/usr/bin/nc2"));
        assert!(!hit(&suffix, ""));
        let prefix = affixes(&needles, Affix::Prefix, true).unwrap();
        assert!(hit(&prefix, "/bin/sh -c"));
        assert!(!hit(&prefix, " /bin/sh"));
        let exact = affixes(&needles, Affix::Exact, true).unwrap();
        assert!(hit(&exact, "/BIN/SH"));
        assert!(hit(&exact, "/x"));
        assert!(!hit(&exact, "/bin/shx"));
        assert!(!hit(&exact, "/bin/s"));
        let long = vec!["a".repeat(300)];
        assert!(affixes(&long, Affix::Suffix, true).is_err());
    }
}
