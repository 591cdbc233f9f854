//! Sigma rules for Linux (process_creation, file_event, network_connection), translated into the
//! same compiled form as Falco conditions.
//!
//! Field mapping (Sigma → ferret field): Image → proc.exepath, CommandLine → proc.argv (argv as
//! the process passed it), ParentImage → proc.pexepath, ParentCommandLine → proc.pargv, User →
//! user.name, CurrentDirectory → proc.cwd.raw, LogonId → user.loginuid, ProcessId → proc.pid,
//! ParentProcessId → proc.ppid, TargetFilename → ferret.file.created, DestinationIp → fd.rip,
//! DestinationHostname → fd.rip.name, DestinationPort → fd.rport, SourceIp → fd.lip, SourcePort →
//! fd.lport, Initiated → fd.initiated, Protocol → fd.l4proto.
//!
//! Sigma compares strings case-insensitively except with `re`; `*` and `?` are wildcards unless
//! escaped with a backslash.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::compile::{self, Getter, Matcher, Node, StrOp};
use crate::condition::Op;
use crate::fields::{self, Type};
use crate::output::Template;
use crate::source::{File, Location};
use crate::yaml::{Kind, Node as Y};
use crate::{Diagnostic, Format, Rule, Severity};

#[derive(Debug)]
pub enum Outcome {
    Rule(Box<Rule>),
    /// A valid rule ferret does not run (another product or category): name and reason.
    Skipped(String, String),
}

/// Deepest nesting of parentheses and `not` in a Sigma condition.
const MAX_NESTING: usize = 64;

fn field_for(sigma: &str) -> Option<&'static str> {
    Some(match sigma {
        "Image" => "proc.exepath",
        "CommandLine" => "proc.argv",
        "ParentImage" => "proc.pexepath",
        "ParentCommandLine" => "proc.pargv",
        "User" => "user.name",
        "CurrentDirectory" => "proc.cwd.raw",
        "LogonId" => "user.loginuid",
        "ProcessId" => "proc.pid",
        "ParentProcessId" => "proc.ppid",
        "TargetFilename" => "ferret.file.created",
        "DestinationIp" => "fd.rip",
        "DestinationHostname" => "fd.rip.name",
        "DestinationPort" => "fd.rport",
        "SourceIp" => "fd.lip",
        "SourcePort" => "fd.lport",
        "Initiated" => "fd.initiated",
        "Protocol" => "fd.l4proto",
        _ => return None,
    })
}

/// Fields a keyword (a bare string in a selection) is searched in.
const KEYWORD_FIELDS: &[&str] = &["proc.argv", "proc.exepath", "ferret.file.created"];

struct Category {
    types: &'static [&'static str],
    /// Extra condition on top of the event types (success, file creation...).
    extra: &'static str,
    output: &'static [&'static str],
}

fn category(name: &str) -> Option<Category> {
    Some(match name {
        "process_creation" => Category {
            types: &["execve", "execveat"],
            extra: "evt.rawres >= 0",
            output: &["proc.exepath", "proc.argv", "proc.pexepath", "user.name", "proc.pid", "container.id"],
        },
        "file_event" => Category {
            types: &["open", "openat", "openat2", "creat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat"],
            extra: "evt.rawres >= 0 and (ferret.type != file_open or evt.is_open_write = true or evt.is_open_create = true)",
            output: &["ferret.file.created", "proc.exepath", "proc.argv", "user.name", "container.id"],
        },
        "network_connection" => Category {
            types: &["connect", "accept", "accept4"],
            extra: "(evt.rawres >= 0 or evt.res = EINPROGRESS)",
            output: &["fd.name", "fd.rip.name", "proc.exepath", "proc.argv", "user.name", "container.id"],
        },
        _ => return None,
    })
}

struct Ctx<'a> {
    file: &'a Arc<File>,
}

impl Ctx<'_> {
    fn err(&self, n: &Y, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(Location { path: self.file.path.clone(), pos: n.pos }, message)
    }
}

fn test(field: &str, m: Matcher) -> Result<Node, String> {
    let f = fields::resolve(field, None)?;
    Ok(Node::Test { get: Getter::Field(f), m })
}

/// Index of the first unescaped wildcard, and the value with escapes removed.
fn unescape(v: &str) -> (String, bool) {
    let mut out = String::new();
    let mut wild = false;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*') | Some('?') | Some('\\')) => {
                out.push(chars.next().unwrap_or('\\'));
            }
            '*' | '?' => {
                wild = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (out, wild)
}

/// A Sigma wildcard pattern as an anchored, case-insensitive regex.
fn wildcard_regex(v: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*') | Some('?') | Some('\\')) => {
                let lit = chars.next().unwrap_or('\\');
                re.push_str(&regex::escape(&lit.to_string()));
            }
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    let mut b = regex::RegexBuilder::new(&re);
    b.case_insensitive(true).dot_matches_new_line(true).size_limit(2 << 20);
    b.build().map_err(|e| format!("bad wildcard pattern '{v}': {e}"))
}

/// Modifiers of one field.
#[derive(Default)]
struct Mods {
    op: Option<StrOp>,
    all: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
}

fn value_node(field: &str, ty: Type, mods: &Mods, v: &Y) -> Result<Node, String> {
    if v.is_null() {
        // `Field: null`: the field is absent or empty.
        return Ok(Node::Or(vec![
            Node::Not(Box::new(test(field, Matcher::Exists)?)),
            test(field, Matcher::Str { op: StrOp::Eq, needle: "".into(), ci: false, negate: false })?,
        ]));
    }
    let Some(raw) = v.as_str() else {
        return Err(format!("expected a value for {field}, found {}", v.kind_name()));
    };
    if mods.re {
        let mut flags = String::new();
        for (on, f) in [(mods.re_i, 'i'), (mods.re_m, 'm'), (mods.re_s, 's')] {
            if on {
                flags.push(f);
            }
        }
        let pattern = if flags.is_empty() { raw.to_string() } else { format!("(?{flags}){raw}") };
        return test(field, Matcher::Regex(compile::build_regex(&pattern, false)?));
    }
    if mods.cidr {
        let net = compile::parse_net(raw).ok_or_else(|| format!("bad network '{raw}'"))?;
        return test(field, Matcher::Net { eq: true, nets: vec![net] });
    }
    if ty == Type::Int && mods.op.is_none() {
        let n = compile::parse_int(raw).ok_or_else(|| format!("expected a number for {field}, found '{raw}'"))?;
        return test(field, Matcher::Int { op: Op::Eq, n });
    }
    if ty == Type::Bool && mods.op.is_none() {
        let b = match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" => true,
            "false" | "no" => false,
            _ => return Err(format!("expected true or false for {field}, found '{raw}'")),
        };
        return test(field, Matcher::Bool { eq: true, b });
    }
    let op = mods.op.unwrap_or(StrOp::Eq);
    let (plain, wild) = unescape(raw);
    if !wild {
        if op == StrOp::Contains {
            return test(field, compile::icontains(&[plain])?);
        }
        return test(field, Matcher::Str { op, needle: plain.into(), ci: true, negate: false });
    }
    // A value ending in a lone backslash means a literal backslash, not an escape of the `*` added.
    let trailing = raw.len() - raw.trim_end_matches('\\').len();
    let raw = if trailing % 2 == 1 && op != StrOp::Eq { format!("{raw}\\") } else { raw.to_string() };
    let pattern = match op {
        StrOp::Eq => raw.to_string(),
        StrOp::StartsWith => format!("{raw}*"),
        StrOp::EndsWith => format!("*{raw}"),
        StrOp::Contains => format!("*{raw}*"),
    };
    test(field, Matcher::Regex(wildcard_regex(&pattern)?))
}

fn field_node(key: &str, value: &Y) -> Result<Node, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or("");
    let field = field_for(name).ok_or_else(|| format!("field '{name}' has no ferret mapping"))?;
    let ty = fields::resolve(field, None)?.ty;
    let mut mods = Mods::default();
    for m in parts {
        match m {
            "contains" => mods.op = Some(StrOp::Contains),
            "startswith" => mods.op = Some(StrOp::StartsWith),
            "endswith" => mods.op = Some(StrOp::EndsWith),
            "all" => mods.all = true,
            "re" => mods.re = true,
            "i" if mods.re => mods.re_i = true,
            "m" if mods.re => mods.re_m = true,
            "s" if mods.re => mods.re_s = true,
            "cidr" => mods.cidr = true,
            other => return Err(format!("modifier '{other}' is not supported")),
        }
    }
    let values: Vec<&Y> = match &value.kind {
        Kind::Seq(items) => items.iter().collect(),
        Kind::Map(_) => return Err(format!("{key}: expected a value or a list of values, found a mapping")),
        Kind::Scalar(..) => vec![value],
    };
    if values.is_empty() {
        return Err(format!("{key}: empty list of values"));
    }
    // Many plain `contains` needles: one automaton.
    if !mods.all && mods.op == Some(StrOp::Contains) && !mods.re && !mods.cidr && values.len() > 1 {
        let plain: Option<Vec<String>> = values
            .iter()
            .map(|v| v.as_str().filter(|_| !v.is_null()).map(unescape).and_then(|(s, wild)| (!wild).then_some(s)))
            .collect();
        if let Some(needles) = plain {
            if let Ok(m) = compile::icontains(&needles) {
                return test(field, m);
            }
        }
    }
    // Many plain equality/startswith/endswith values: one anchored automaton.
    if !mods.all && !mods.re && !mods.cidr && values.len() > 1 && ty == Type::Str {
        let plain: Option<Vec<String>> = values
            .iter()
            .map(|v| v.as_str().filter(|_| !v.is_null()).map(unescape).and_then(|(s, wild)| (!wild).then_some(s)))
            .collect();
        let kind = match mods.op {
            None | Some(StrOp::Eq) => Some(compile::Affix::Exact),
            Some(StrOp::StartsWith) => Some(compile::Affix::Prefix),
            Some(StrOp::EndsWith) => Some(compile::Affix::Suffix),
            Some(StrOp::Contains) => None,
        };
        if let (Some(needles), Some(kind)) = (plain, kind) {
            if let Ok(m) = compile::affixes(&needles, kind, true) {
                return test(field, m);
            }
        }
    }
    let nodes = values.into_iter().map(|v| value_node(field, ty, &mods, v)).collect::<Result<Vec<_>, _>>()?;
    Ok(if nodes.len() == 1 {
        nodes.into_iter().next().unwrap_or(Node::Const(false))
    } else if mods.all {
        Node::And(nodes)
    } else {
        Node::Or(nodes)
    })
}

fn selection(v: &Y) -> Result<Node, String> {
    match &v.kind {
        Kind::Map(entries) => {
            let mut nodes = Vec::new();
            for (k, val) in entries {
                let key = k.as_str().ok_or("selection keys must be strings")?;
                nodes.push(field_node(key, val)?);
            }
            Ok(Node::And(nodes))
        }
        Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => {
            Ok(Node::Or(items.iter().map(selection).collect::<Result<_, _>>()?))
        }
        Kind::Seq(items) => {
            // Keywords: any of the strings anywhere in the command line, image or file name.
            let words: Vec<String> = items.iter().filter_map(|i| i.as_str().map(|s| unescape(s).0)).collect();
            let mut alts = Vec::new();
            for f in KEYWORD_FIELDS {
                alts.push(test(f, compile::any_of(&words, true)?)?);
            }
            Ok(Node::Or(alts))
        }
        Kind::Scalar(..) => Err("a selection must be a mapping or a list".into()),
    }
}

/// Sigma's condition language over named selections.
struct Cond<'a> {
    toks: Vec<&'a str>,
    i: usize,
    depth: usize,
    sels: &'a HashMap<String, usize>,
    names: &'a [String],
}

fn tokenize(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() || c == '(' || c == ')' {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
            if c == '(' || c == ')' {
                out.push(&s[i..i + 1]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

enum CondExpr {
    Sel(usize),
    And(Vec<CondExpr>),
    Or(Vec<CondExpr>),
    Not(Box<CondExpr>),
}

impl<'a> Cond<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).copied()
    }

    fn or(&mut self) -> Result<CondExpr, String> {
        let mut v = vec![self.and()?];
        while self.peek() == Some("or") {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { CondExpr::Or(v) })
    }

    fn and(&mut self) -> Result<CondExpr, String> {
        let mut v = vec![self.not()?];
        while self.peek() == Some("and") {
            self.i += 1;
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { CondExpr::And(v) })
    }

    fn not(&mut self) -> Result<CondExpr, String> {
        if self.peek() == Some("not") {
            self.i += 1;
            self.depth += 1;
            if self.depth > MAX_NESTING {
                return Err("condition nested too deeply".into());
            }
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(CondExpr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn matching(&self, pattern: &str) -> Result<Vec<usize>, String> {
        let idx: Vec<usize> = if pattern == "them" {
            // `them` excludes selections whose names start with an underscore.
            self.names.iter().enumerate().filter(|(_, n)| !n.starts_with('_')).map(|(i, _)| i).collect()
        } else {
            let p = glob::Pattern::new(pattern).map_err(|e| format!("bad selection pattern '{pattern}': {e}"))?;
            self.names.iter().enumerate().filter(|(_, n)| p.matches(n)).map(|(i, _)| i).collect()
        };
        if idx.is_empty() {
            return Err(format!("'{pattern}' matches no selection"));
        }
        Ok(idx)
    }

    fn primary(&mut self) -> Result<CondExpr, String> {
        let Some(t) = self.peek() else { return Err("condition ends early: expected a selection".into()) };
        self.i += 1;
        match t {
            "(" => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err("condition nested too deeply".into());
                }
                let e = self.or()?;
                if self.peek() != Some(")") {
                    return Err(format!("expected ')', found '{}'", self.peek().unwrap_or("the end")));
                }
                self.i += 1;
                self.depth -= 1;
                Ok(e)
            }
            "1" | "any" | "all" if self.peek() == Some("of") => {
                self.i += 1;
                let pattern = self.peek().ok_or("expected a selection pattern after 'of'")?;
                self.i += 1;
                let sels = self.matching(pattern)?.into_iter().map(CondExpr::Sel).collect();
                Ok(if t == "all" { CondExpr::And(sels) } else { CondExpr::Or(sels) })
            }
            "|" => Err("aggregations ('|') are not supported".into()),
            name => match self.sels.get(name) {
                Some(&i) => Ok(CondExpr::Sel(i)),
                None => Err(format!("unknown selection '{name}'")),
            },
        }
    }
}

fn to_node(e: &CondExpr, compiled: &mut Vec<Option<Node>>, sources: &[&Y]) -> Result<Node, String> {
    Ok(match e {
        CondExpr::Sel(i) => match compiled[*i].take() {
            Some(n) => n,
            // A selection used twice is compiled again (nodes are not shared).
            None => selection(sources[*i])?,
        },
        CondExpr::And(v) => Node::And(v.iter().map(|x| to_node(x, compiled, sources)).collect::<Result<_, _>>()?),
        CondExpr::Or(v) => Node::Or(v.iter().map(|x| to_node(x, compiled, sources)).collect::<Result<_, _>>()?),
        CondExpr::Not(x) => Node::Not(Box::new(to_node(x, compiled, sources)?)),
    })
}

/// Compile one Sigma rule document.
pub fn compile(file: &Arc<File>, doc: &Y) -> Result<Outcome, Diagnostic> {
    let cx = Ctx { file };
    let title = doc
        .get("title")
        .and_then(Y::as_str)
        .ok_or_else(|| cx.err(doc, "Sigma rule without a title"))?
        .trim()
        .to_string();
    let logsource =
        doc.get("logsource").ok_or_else(|| cx.err(doc, format!("Sigma rule '{title}' has no logsource")))?;
    let product = logsource.get("product").and_then(Y::as_str).unwrap_or("");
    let cat_name = logsource.get("category").and_then(Y::as_str).unwrap_or("");
    if product != "linux" {
        return Ok(Outcome::Skipped(title, format!("logsource product '{product}' is not linux")));
    }
    if let Some(service) = logsource.get("service").and_then(Y::as_str) {
        return Ok(Outcome::Skipped(title, format!("logsource service '{service}' is a log ferret does not read")));
    }
    let Some(cat) = category(cat_name) else {
        return Ok(Outcome::Skipped(title, format!("logsource category '{cat_name}' is not one ferret produces")));
    };
    let det = doc.get("detection").ok_or_else(|| cx.err(doc, format!("Sigma rule '{title}' has no detection")))?;
    let mut names = Vec::new();
    let mut sources = Vec::new();
    let mut condition_node = None;
    for (k, v) in det.entries() {
        let key = k.as_str().unwrap_or("");
        if key == "condition" {
            condition_node = Some(v);
        } else if key != "timeframe" {
            names.push(key.to_string());
            sources.push(v);
        }
    }
    let cond_node =
        condition_node.ok_or_else(|| cx.err(det, format!("Sigma rule '{title}': detection has no condition")))?;
    let cond_texts: Vec<String> = match &cond_node.kind {
        Kind::Seq(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => vec![cond_node.as_str().unwrap_or("").to_string()],
    };
    let sels: HashMap<String, usize> = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
    let mut compiled: Vec<Option<Node>> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        match selection(s) {
            Ok(n) => compiled.push(Some(n)),
            Err(e) if e.contains("has no ferret mapping") || e.contains("is not supported") => {
                return Ok(Outcome::Skipped(title, format!("selection '{}': {e}", names[i])));
            }
            Err(e) => return Err(cx.err(s, format!("Sigma rule '{title}', selection '{}': {e}", names[i]))),
        }
    }
    let mut alts = Vec::new();
    for text in &cond_texts {
        if text.contains('|') {
            return Ok(Outcome::Skipped(title, format!("condition '{text}': aggregations ('|') are not supported")));
        }
        let mut p = Cond { toks: tokenize(text), i: 0, depth: 0, sels: &sels, names: &names };
        let e = p.or().and_then(|e| match p.peek() {
            None => Ok(e),
            Some(t) => Err(format!("unexpected '{t}' in condition")),
        });
        match e {
            Ok(e) => alts.push(
                to_node(&e, &mut compiled, &sources)
                    .map_err(|m| cx.err(cond_node, format!("Sigma rule '{title}': {m}")))?,
            ),
            Err(m) if m.contains("aggregations") => return Ok(Outcome::Skipped(title, m)),
            Err(m) => return Err(cx.err(cond_node, format!("Sigma rule '{title}': condition: {m}"))),
        }
    }
    let detection = if alts.len() == 1 { alts.remove(0) } else { Node::Or(alts) };
    // Restricted to the category's events by the rule index (`types`), and by `extra`.
    let types: HashSet<String> = cat.types.iter().map(|s| s.to_string()).collect();
    let extra = crate::condition::parse(cat.extra).map_err(|e| cx.err(doc, e.message))?;
    let extra = compile::Compiler::new(&compile::NoDefinitions::default())
        .compile(&extra)
        .map_err(|e| cx.err(doc, e.message))?;
    let node = Node::And(vec![extra, detection]);

    let level = doc.get("level").and_then(Y::as_str).unwrap_or("medium");
    let severity = Severity::from_sigma(level)
        .ok_or_else(|| cx.err(doc, format!("Sigma rule '{title}': unknown level '{level}'")))?;
    let tags: Vec<String> = match doc.get("tags").map(|t| &t.kind) {
        Some(Kind::Seq(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let mitre = tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .map(|t| t.to_uppercase())
        .filter(|t| crate::is_mitre_id(t))
        .collect();
    let desc = doc.get("description").and_then(Y::as_str).unwrap_or("").trim().to_string();
    let id = doc.get("id").and_then(Y::as_str).unwrap_or("");
    let author = doc.get("author").and_then(Y::as_str).unwrap_or("");
    let desc = if author.is_empty() { desc } else { format!("{desc} (Sigma rule {id} by {author})") };
    Ok(Outcome::Rule(Box::new(Rule {
        name: title.clone(),
        format: Format::Sigma,
        desc,
        severity,
        priority: level.to_string(),
        tags,
        mitre,
        finding_type: "Custom:Runtime/SigmaRule".into(),
        condition: cond_texts.join(" | "),
        output: Template::fields_after(&title, cat.output),
        location: Location { path: file.path.clone(), pos: doc.pos },
        types: Some(types),
        node,
        unavailable: Vec::new(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_escapes() {
        assert_eq!(unescape(r"a\*b"), ("a*b".to_string(), false));
        assert_eq!(unescape("a*b"), ("a*b".to_string(), true));
        let r = wildcard_regex("/TMP/*.sh").unwrap();
        assert!(r.is_match("/tmp/x.sh"));
        assert!(!r.is_match("/tmp/x.shy"));
    }

    #[test]
    fn condition_tokens() {
        assert_eq!(tokenize("sel and not (1 of filter_*)"), vec!["sel", "and", "not", "(", "1", "of", "filter_*", ")"]);
    }
}
