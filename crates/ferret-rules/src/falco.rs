//! Falco rule files: `rule`, `macro`, `list`, `required_engine_version`, `required_plugin_versions`,
//! with `override`, the deprecated `append`, `exceptions`, `enabled`-only toggles, and several
//! files loaded in order (later definitions refine or replace earlier ones, as in Falco).

use std::collections::HashMap;
use std::sync::Arc;

use crate::compile::{Compiler, Definitions, Node};
use crate::condition::{self, Check, Expr, ListItem, Op, Operand, Rhs};
use crate::source::{File, Location, Origin, Text};
use crate::yaml::{Kind, Node as Y, Style};
use crate::{Diagnostic, Format, Rule, Severity};

/// The Falco engine version whose rule files ferret reads (`required_engine_version`).
pub const ENGINE_VERSION: (u64, u64, u64) = (0, 57, 0);
/// Plugins whose fields ferret provides itself.
const BUILTIN_PLUGINS: &[&str] = &["container"];

#[derive(Debug)]
struct ListDef {
    items: Vec<String>,
}

#[derive(Debug)]
struct MacroDef {
    cond: Text,
    parsed: Option<Result<Expr, (usize, String)>>,
}

#[derive(Debug, Clone)]
struct ExceptionDef {
    name: String,
    fields: Vec<String>,
    /// True when `fields` was one name (values are then plain items for `in`).
    single: bool,
    comps: Vec<String>,
    values: Vec<Y>,
    origin: Origin,
}

#[derive(Debug)]
struct RuleDef {
    name: String,
    desc: String,
    cond: Text,
    output: String,
    priority: String,
    tags: Vec<String>,
    enabled: bool,
    source: String,
    skip_if_unknown: bool,
    exceptions: Vec<ExceptionDef>,
    finding_type: Option<String>,
    origin: Origin,
}

/// A rule that loads but does not run: name, where, why.
pub type Skipped = (String, Location, String);

/// Every definition read so far, across files.
#[derive(Debug, Default)]
pub struct State {
    lists: HashMap<String, ListDef>,
    macros: HashMap<String, MacroDef>,
    rules: Vec<RuleDef>,
    rule_index: HashMap<String, usize>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Definitions for State {
    fn macro_expr(&self, name: &str) -> Option<Result<&Expr, String>> {
        let m = self.macros.get(name)?;
        Some(match m.parsed.as_ref()? {
            Ok(e) => Ok(e),
            Err((_, msg)) => Err(msg.clone()),
        })
    }

    fn list(&self, name: &str) -> Option<&[String]> {
        self.lists.get(name).map(|l| l.items.as_slice())
    }
}

fn scalar_text(n: &Y) -> Option<String> {
    n.as_str().map(str::to_string)
}

fn origin(file: &Arc<File>, n: &Y) -> Origin {
    let style = match &n.kind {
        Kind::Scalar(_, s) => *s,
        _ => Style::Plain,
    };
    Origin { file: file.clone(), pos: n.pos, style }
}

fn loc(file: &Arc<File>, n: &Y) -> Location {
    Location { path: file.path.clone(), pos: n.pos }
}

fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    let s = s.trim();
    // Old files give a bare integer: engine version N is 0.N.0.
    if let Ok(n) = s.parse::<u64>() {
        return Some((0, n, 0));
    }
    let mut it = s.split('.').map(|p| p.parse::<u64>().ok());
    let v = (it.next()??, it.next().unwrap_or(Some(0))?, it.next().unwrap_or(Some(0))?);
    Some(v)
}

fn strings(n: &Y) -> Option<Vec<String>> {
    match &n.kind {
        Kind::Seq(items) => items.iter().map(scalar_text).collect(),
        Kind::Scalar(..) if n.is_null() => Some(Vec::new()),
        _ => None,
    }
}

/// Override mode for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Append,
    Replace,
}

impl State {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(at, message));
    }

    fn warn(&mut self, at: Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(at, message));
    }

    /// Read one file's top-level sequence.
    pub fn load(&mut self, file: &Arc<File>, doc: &Y) {
        let Kind::Seq(items) = &doc.kind else {
            self.error(loc(file, doc), format!("a Falco rules file is a sequence of items, found {}", doc.kind_name()));
            return;
        };
        for item in items {
            if item.is_null() {
                continue;
            }
            let Kind::Map(entries) = &item.kind else {
                self.error(loc(file, item), format!("expected a rule, macro or list, found {}", item.kind_name()));
                continue;
            };
            let Some((first, _)) = entries.first() else { continue };
            match first.as_str().unwrap_or("") {
                "rule" => self.rule(file, item),
                "macro" => self.macro_(file, item),
                "list" => self.list(file, item),
                "required_engine_version" => self.engine_version(file, item),
                "required_plugin_versions" => self.plugins(file, item),
                "condition" if entries.len() == 1 => {
                    // A bare top-level condition (seen in the wild): nothing to load.
                }
                other => {
                    let known = ["rule", "macro", "list", "required_engine_version", "required_plugin_versions"];
                    if let Some(k) = entries.iter().filter_map(|(k, _)| k.as_str()).find(|k| known.contains(k)) {
                        // Key order differs from the usual (`name` first): dispatch on the known key.
                        match k {
                            "rule" => self.rule(file, item),
                            "macro" => self.macro_(file, item),
                            "list" => self.list(file, item),
                            "required_engine_version" => self.engine_version(file, item),
                            _ => self.plugins(file, item),
                        }
                    } else {
                        self.warn(loc(file, first), format!("unknown item '{other}' ignored"));
                    }
                }
            }
        }
    }

    fn engine_version(&mut self, file: &Arc<File>, item: &Y) {
        let Some(v) = item.get("required_engine_version") else { return };
        let text = v.as_str().unwrap_or("");
        match parse_version(text) {
            None => self.error(
                loc(file, v),
                format!("required_engine_version: expected a version such as 0.57.0, found '{text}'"),
            ),
            Some(want) if want > ENGINE_VERSION => self.error(
                loc(file, v),
                format!(
                    "requires Falco engine version {text}, newer than the {}.{}.{} ferret implements",
                    ENGINE_VERSION.0, ENGINE_VERSION.1, ENGINE_VERSION.2
                ),
            ),
            Some(_) => {}
        }
    }

    fn plugins(&mut self, file: &Arc<File>, item: &Y) {
        let Some(v) = item.get("required_plugin_versions") else { return };
        let Kind::Seq(plugins) = &v.kind else {
            self.error(loc(file, v), "required_plugin_versions: expected a sequence");
            return;
        };
        for p in plugins {
            let name = p.get("name").and_then(Y::as_str).unwrap_or("");
            let alternatives: Vec<&str> = p
                .get("alternatives")
                .map(|a| match &a.kind {
                    Kind::Seq(v) => v.iter().filter_map(|x| x.get("name").and_then(Y::as_str)).collect(),
                    _ => Vec::new(),
                })
                .unwrap_or_default();
            if !BUILTIN_PLUGINS.contains(&name) && !alternatives.iter().any(|a| BUILTIN_PLUGINS.contains(a)) {
                self.warn(
                    loc(file, p),
                    format!("plugin '{name}' is not part of ferret; rules that use its fields will not load"),
                );
            }
        }
    }

    fn overrides(
        &mut self,
        file: &Arc<File>,
        item: &Y,
        allowed_append: &[&str],
        allowed_replace: &[&str],
    ) -> Option<HashMap<String, Mode>> {
        let ov = item.get("override")?;
        let mut out = HashMap::new();
        for (k, v) in ov.entries() {
            let key = k.as_str().unwrap_or("").to_string();
            let mode = match v.as_str() {
                Some("append") if allowed_append.contains(&key.as_str()) => Mode::Append,
                Some("replace") if allowed_replace.contains(&key.as_str()) => Mode::Replace,
                Some(m @ ("append" | "replace")) => {
                    self.error(loc(file, v), format!("key '{key}' cannot be overridden with {m}"));
                    continue;
                }
                _ => {
                    self.error(loc(file, v), format!("override of '{key}': expected append or replace"));
                    continue;
                }
            };
            out.insert(key, mode);
        }
        // Every key other than the name must be listed in `override`.
        for (k, _) in item.entries() {
            let key = k.as_str().unwrap_or("");
            if !["rule", "macro", "list", "override"].contains(&key) && !out.contains_key(key) {
                self.error(loc(file, k), format!("key '{key}' is given without an override for it"));
            }
        }
        Some(out)
    }

    fn list(&mut self, file: &Arc<File>, item: &Y) {
        let name_node = item.get("list");
        let Some(name) = name_node.and_then(scalar_text) else {
            self.error(loc(file, item), "list without a name");
            return;
        };
        let Some(items_node) = item.get("items") else {
            self.error(loc(file, item), format!("list '{name}' has no items"));
            return;
        };
        let Some(items) = strings(items_node) else {
            self.error(loc(file, items_node), format!("list '{name}': items must be a sequence of strings"));
            return;
        };
        let append = item.get("append").and_then(Y::as_bool).unwrap_or(false);
        let mode = match self.overrides(file, item, &["items"], &["items"]) {
            Some(o) => o.get("items").copied(),
            None if append => Some(Mode::Append),
            None => None,
        };
        match (mode, self.lists.get_mut(&name)) {
            (Some(Mode::Append), Some(l)) => l.items.extend(items),
            (Some(Mode::Append), None) => {
                self.error(loc(file, item), format!("list '{name}' is appended to but not defined before"))
            }
            (Some(Mode::Replace), None) => {
                self.error(loc(file, item), format!("list '{name}' is overridden but not defined before"))
            }
            _ => {
                self.lists.insert(name, ListDef { items });
            }
        }
    }

    fn macro_(&mut self, file: &Arc<File>, item: &Y) {
        let Some(name) = item.get("macro").and_then(scalar_text) else {
            self.error(loc(file, item), "macro without a name");
            return;
        };
        let Some(cond_node) = item.get("condition") else {
            self.error(loc(file, item), format!("macro '{name}' has no condition"));
            return;
        };
        let cond = cond_node.as_str().unwrap_or("").to_string();
        let o = origin(file, cond_node);
        let append = item.get("append").and_then(Y::as_bool).unwrap_or(false);
        let mode = match self.overrides(file, item, &["condition"], &["condition"]) {
            Some(ov) => ov.get("condition").copied(),
            None if append => Some(Mode::Append),
            None => None,
        };
        match (mode, self.macros.get_mut(&name)) {
            (Some(Mode::Append), Some(m)) => {
                m.cond.append(&cond, o);
                m.parsed = None;
            }
            (Some(_), None) => {
                self.error(loc(file, item), format!("macro '{name}' is overridden but not defined before"))
            }
            _ => {
                self.macros.insert(name, MacroDef { cond: Text::new(&cond, o), parsed: None });
            }
        }
    }

    fn exceptions(&mut self, file: &Arc<File>, rule: &str, node: &Y) -> Vec<ExceptionDef> {
        let Kind::Seq(items) = &node.kind else {
            if !node.is_null() {
                self.error(loc(file, node), format!("rule '{rule}': exceptions must be a sequence"));
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in items {
            let name = e.get("name").and_then(scalar_text).unwrap_or_default();
            if name.is_empty() {
                self.error(loc(file, e), format!("rule '{rule}': exception without a name"));
                continue;
            }
            let (fields, single) = match e.get("fields") {
                Some(f) if f.as_str().is_some() => (vec![f.as_str().unwrap_or("").to_string()], true),
                Some(f) => match strings(f) {
                    Some(v) => (v, false),
                    None => {
                        self.error(
                            loc(file, f),
                            format!("rule '{rule}', exception '{name}': fields must be a name or a list of names"),
                        );
                        continue;
                    }
                },
                None => (Vec::new(), false),
            };
            let comps = match e.get("comps") {
                Some(c) if c.as_str().is_some() => vec![c.as_str().unwrap_or("").to_string()],
                Some(c) => strings(c).unwrap_or_default(),
                None if single => vec!["in".to_string()],
                None => vec!["=".to_string(); fields.len()],
            };
            if (single && comps.len() != 1) || (!single && comps.len() != fields.len()) {
                self.error(
                    loc(file, e),
                    format!("rule '{rule}', exception '{name}': {} fields but {} comps", fields.len(), comps.len()),
                );
                continue;
            }
            let values = match e.get("values") {
                Some(Y { kind: Kind::Seq(v), .. }) => v.clone(),
                Some(v) if v.is_null() => Vec::new(),
                None => Vec::new(),
                Some(v) => {
                    self.error(loc(file, v), format!("rule '{rule}', exception '{name}': values must be a sequence"));
                    continue;
                }
            };
            out.push(ExceptionDef { name, fields, single, comps, values, origin: origin(file, e) });
        }
        out
    }

    fn rule(&mut self, file: &Arc<File>, item: &Y) {
        let Some(name) = item.get("rule").and_then(scalar_text) else {
            self.error(loc(file, item), "rule without a name");
            return;
        };
        let existing = self.rule_index.get(&name).copied();
        let append = item.get("append").and_then(Y::as_bool).unwrap_or(false);
        let keys: Vec<&str> = item.entries().iter().filter_map(|(k, _)| k.as_str()).collect();
        let known = [
            "rule",
            "desc",
            "condition",
            "output",
            "priority",
            "enabled",
            "tags",
            "exceptions",
            "override",
            "append",
            "source",
            "skip-if-unknown-filter",
            "warn_evttypes",
            "finding_type",
        ];
        for (k, _) in item.entries() {
            let key = k.as_str().unwrap_or("");
            if !known.contains(&key) {
                self.warn(loc(file, k), format!("rule '{name}': unknown key '{key}' ignored"));
            }
        }

        if let Some(ov) = self.overrides(
            file,
            item,
            &["condition", "output", "desc", "tags", "exceptions"],
            &[
                "condition",
                "output",
                "desc",
                "priority",
                "tags",
                "exceptions",
                "enabled",
                "warn_evttypes",
                "skip-if-unknown-filter",
            ],
        ) {
            let Some(idx) = existing else {
                self.error(loc(file, item), format!("rule '{name}' is overridden but not defined before"));
                return;
            };
            self.apply(file, item, idx, &ov);
            return;
        }
        if append {
            let Some(idx) = existing else {
                self.error(loc(file, item), format!("rule '{name}' is appended to but not defined before"));
                return;
            };
            let ov: HashMap<String, Mode> = keys
                .iter()
                .filter(|k| !["rule", "append"].contains(k))
                .map(|k| (k.to_string(), Mode::Append))
                .collect();
            self.apply(file, item, idx, &ov);
            return;
        }
        // `- rule: X` with only `enabled`: switch an existing rule on or off.
        if keys.iter().all(|k| ["rule", "enabled"].contains(k)) && keys.contains(&"enabled") {
            if let Some(idx) = existing {
                if let Some(b) = item.get("enabled").and_then(Y::as_bool) {
                    self.rules[idx].enabled = b;
                }
                return;
            }
        }

        let mut missing = Vec::new();
        for k in ["condition", "output", "desc", "priority"] {
            if item.get(k).is_none() {
                missing.push(k);
            }
        }
        if !missing.is_empty() {
            self.error(loc(file, item), format!("rule '{name}' has no {}", missing.join(", ")));
            return;
        }
        let cond_node = item.get("condition").unwrap_or(item);
        let text = |k: &str| item.get(k).and_then(scalar_text).unwrap_or_default();
        let priority = text("priority");
        if Severity::from_falco(&priority).is_none() {
            if let Some(p) = item.get("priority") {
                self.error(loc(file, p), format!("rule '{name}': unknown priority '{priority}'"));
            }
            return;
        }
        let exceptions = item.get("exceptions").map(|e| self.exceptions(file, &name, e)).unwrap_or_default();
        let enabled = match item.get("enabled") {
            None => true,
            Some(e) => match e.as_bool() {
                Some(b) => b,
                None => {
                    self.error(loc(file, e), format!("rule '{name}': enabled must be true or false"));
                    return;
                }
            },
        };
        let def = RuleDef {
            name: name.clone(),
            desc: text("desc").trim().to_string(),
            cond: Text::new(cond_node.as_str().unwrap_or(""), origin(file, cond_node)),
            output: text("output").trim().to_string(),
            priority,
            tags: item.get("tags").and_then(strings).unwrap_or_default(),
            enabled,
            source: item.get("source").and_then(scalar_text).unwrap_or_else(|| "syscall".into()),
            skip_if_unknown: item.get("skip-if-unknown-filter").and_then(Y::as_bool).unwrap_or(false),
            exceptions,
            finding_type: item.get("finding_type").and_then(scalar_text),
            origin: origin(file, item),
        };
        match existing {
            Some(idx) => self.rules[idx] = def,
            None => {
                self.rule_index.insert(name, self.rules.len());
                self.rules.push(def);
            }
        }
    }

    fn apply(&mut self, file: &Arc<File>, item: &Y, idx: usize, ov: &HashMap<String, Mode>) {
        let name = self.rules[idx].name.clone();
        for (key, mode) in ov {
            let Some(v) = item.get(key) else {
                self.error(loc(file, item), format!("rule '{name}': override of '{key}' without a value for it"));
                continue;
            };
            let text = v.as_str().unwrap_or("").to_string();
            match (key.as_str(), mode) {
                ("condition", Mode::Append) => self.rules[idx].cond.append(&text, origin(file, v)),
                ("condition", Mode::Replace) => self.rules[idx].cond.replace(&text, origin(file, v)),
                ("output", Mode::Append) => {
                    let r = &mut self.rules[idx];
                    r.output = format!("{} {}", r.output, text.trim());
                }
                ("output", Mode::Replace) => self.rules[idx].output = text.trim().to_string(),
                ("desc", Mode::Append) => {
                    let r = &mut self.rules[idx];
                    r.desc = format!("{} {}", r.desc, text.trim());
                }
                ("desc", Mode::Replace) => self.rules[idx].desc = text.trim().to_string(),
                ("priority", _) => {
                    if Severity::from_falco(&text).is_none() {
                        self.error(loc(file, v), format!("rule '{name}': unknown priority '{text}'"));
                    } else {
                        self.rules[idx].priority = text;
                    }
                }
                ("tags", m) => {
                    let tags = strings(v).unwrap_or_default();
                    let r = &mut self.rules[idx];
                    if *m == Mode::Append {
                        r.tags.extend(tags);
                    } else {
                        r.tags = tags;
                    }
                }
                ("exceptions", m) => {
                    let new = self.exceptions(file, &name, v);
                    let r = &mut self.rules[idx];
                    if *m == Mode::Replace {
                        r.exceptions = new;
                    } else {
                        // Appending to an exception of the same name adds values; else adds it.
                        for e in new {
                            match r.exceptions.iter_mut().find(|x| x.name == e.name) {
                                Some(x) => x.values.extend(e.values),
                                None => r.exceptions.push(e),
                            }
                        }
                    }
                }
                ("enabled", _) => match v.as_bool() {
                    Some(b) => self.rules[idx].enabled = b,
                    None => self.error(loc(file, v), format!("rule '{name}': enabled must be true or false")),
                },
                ("skip-if-unknown-filter", _) => self.rules[idx].skip_if_unknown = v.as_bool().unwrap_or(false),
                ("warn_evttypes", _) => {}
                (k, Mode::Append) => self.error(loc(file, v), format!("rule '{name}': '{k}' cannot be appended to")),
                (k, Mode::Replace) => self.error(loc(file, v), format!("rule '{name}': '{k}' cannot be replaced")),
            }
        }
    }

    fn parse_macros(&mut self) {
        for m in self.macros.values_mut() {
            if m.parsed.is_none() {
                m.parsed = Some(condition::parse(&m.cond.text).map_err(|e| (e.at, e.message)));
            }
        }
    }

    fn macro_location(&self, name: &str, at: usize) -> Option<Location> {
        self.macros.get(name)?.cond.locate(at)
    }

    /// Build an exception's condition: `(f1 c1 v1 and f2 c2 v2) or ...` over its value tuples.
    fn exception_expr(e: &ExceptionDef) -> Result<Option<Expr>, String> {
        let field = |name: &str| -> Operand {
            match name.find('[') {
                Some(i) if name.ends_with(']') => Operand::Field {
                    name: name[..i].to_string(),
                    arg: Some(name[i + 1..name.len() - 1].to_string()),
                    at: 0,
                },
                _ => Operand::Field { name: name.to_string(), arg: None, at: 0 },
            }
        };
        let op_of = |c: &str| -> Result<Op, String> {
            let parsed = condition::parse(&format!("x.x {c} (v)")).or_else(|_| condition::parse(&format!("x.x {c} v")));
            match parsed {
                Ok(Expr::Check(Check { op, .. })) => Ok(op),
                _ => Err(format!("exception '{}': unknown comparison '{c}'", e.name)),
            }
        };
        let items_of = |v: &Y| -> Vec<ListItem> {
            match &v.kind {
                Kind::Seq(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .map(|s| {
                        let (text, quoted) = crate::compile::unquote(s);
                        ListItem { text, quoted, at: 0 }
                    })
                    .collect(),
                _ => {
                    let (text, quoted) = crate::compile::unquote(v.as_str().unwrap_or(""));
                    vec![ListItem { text, quoted, at: 0 }]
                }
            }
        };
        if e.fields.is_empty() || e.values.is_empty() {
            return Ok(None);
        }
        if e.single {
            let op = op_of(&e.comps[0])?;
            let items: Vec<ListItem> = e.values.iter().flat_map(items_of).collect();
            let rhs = if op.takes_list() {
                Rhs::List(items)
            } else {
                return Ok(Some(Expr::Or(
                    items
                        .into_iter()
                        .map(|i| {
                            Expr::Check(Check {
                                lhs: field(&e.fields[0]),
                                op,
                                rhs: Rhs::Value { text: i.text, at: 0 },
                                at: 0,
                            })
                        })
                        .collect(),
                )));
            };
            return Ok(Some(Expr::Check(Check { lhs: field(&e.fields[0]), op, rhs, at: 0 })));
        }
        let mut alts = Vec::new();
        for tuple in &e.values {
            let Kind::Seq(vals) = &tuple.kind else {
                return Err(format!(
                    "exception '{}': each value must be a sequence of {} items",
                    e.name,
                    e.fields.len()
                ));
            };
            if vals.len() != e.fields.len() {
                return Err(format!(
                    "exception '{}': a value has {} items for {} fields",
                    e.name,
                    vals.len(),
                    e.fields.len()
                ));
            }
            let mut checks = Vec::new();
            for ((f, c), v) in e.fields.iter().zip(&e.comps).zip(vals) {
                let op = op_of(c)?;
                let rhs = if op.takes_list() {
                    Rhs::List(items_of(v))
                } else {
                    match v.as_str() {
                        Some(s) => Rhs::Value { text: crate::compile::unquote(s).0, at: 0 },
                        None => {
                            return Err(format!(
                                "exception '{}': comparison '{c}' takes one value, found {}",
                                e.name,
                                v.kind_name()
                            ))
                        }
                    }
                };
                checks.push(Expr::Check(Check { lhs: field(f), op, rhs, at: 0 }));
            }
            alts.push(Expr::And(checks));
        }
        Ok(Some(Expr::Or(alts)))
    }

    /// Compile every rule. Errors go to `diagnostics`; skipped rules are reported with the reason.
    pub fn finish(mut self) -> (Vec<Rule>, Vec<Diagnostic>, Vec<Skipped>) {
        self.parse_macros();
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        let mut diags = std::mem::take(&mut self.diagnostics);
        // A macro that does not parse is an error where it is written, used or not.
        let mut names: Vec<&String> = self.macros.keys().collect();
        names.sort();
        for name in names {
            if let Some(Some(Err((at, msg)))) = self.macros.get(name).map(|m| m.parsed.as_ref()) {
                if let Some(loc) = self.macro_location(name, *at) {
                    diags.push(Diagnostic::error(loc, format!("macro '{name}': {msg}")));
                }
            }
        }
        for r in &self.rules {
            let rule_loc = r.origin.location();
            if r.source != "syscall" {
                skipped.push((
                    r.name.clone(),
                    rule_loc,
                    format!("source '{}' is not one ferret sees (syscall)", r.source),
                ));
                continue;
            }
            let expr = match condition::parse(&r.cond.text) {
                Ok(e) => e,
                Err(e) => {
                    let at = r.cond.locate(e.at).unwrap_or(rule_loc.clone());
                    diags.push(Diagnostic::error(at, format!("rule '{}': {}", r.name, e.message)));
                    continue;
                }
            };
            let mut compiler = Compiler::new(&self);
            let mut node = match compiler.compile(&expr) {
                Ok(n) => n,
                Err(e) => {
                    let at = match &e.in_macro {
                        Some(m) => self.macro_location(m, e.at),
                        None => r.cond.locate(e.at),
                    }
                    .unwrap_or(rule_loc.clone());
                    let where_ = e.in_macro.as_ref().map(|m| format!(" (in macro '{m}')")).unwrap_or_default();
                    if r.skip_if_unknown && e.message.starts_with("unknown field") {
                        skipped.push((
                            r.name.clone(),
                            rule_loc,
                            format!("skip-if-unknown-filter: {}{where_}", e.message),
                        ));
                    } else {
                        diags.push(Diagnostic::error(at, format!("rule '{}': {}{where_}", r.name, e.message)));
                    }
                    continue;
                }
            };
            let mut failed = false;
            let mut exc_nodes = Vec::new();
            for ex in &r.exceptions {
                match Self::exception_expr(ex).and_then(|x| match x {
                    None => Ok(None),
                    Some(x) => compiler.compile(&x).map(Some).map_err(|e| e.message),
                }) {
                    Ok(Some(n)) => exc_nodes.push(n),
                    Ok(None) => {}
                    Err(msg) => {
                        diags.push(Diagnostic::error(ex.origin.location(), format!("rule '{}': {msg}", r.name)));
                        failed = true;
                    }
                }
            }
            if failed {
                continue;
            }
            let unavailable = std::mem::take(&mut compiler.unavailable);
            if !exc_nodes.is_empty() {
                node = Node::And(vec![node, Node::Not(Box::new(Node::Or(exc_nodes)))]);
            }
            let severity = Severity::from_falco(&r.priority).unwrap_or(Severity::Medium);
            let mitre = r.tags.iter().filter(|t| crate::is_mitre_id(t)).cloned().collect();
            let output = match crate::output::Template::parse(&r.output) {
                Ok(t) => t,
                Err(msg) => {
                    diags.push(Diagnostic::error(rule_loc.clone(), format!("rule '{}': output: {msg}", r.name)));
                    continue;
                }
            };
            // Disabled rules are compiled too (their errors are reported) but not run.
            if !r.enabled {
                skipped.push((r.name.clone(), rule_loc, "disabled (enabled: false); it compiles".to_string()));
                continue;
            }
            let unknown = output.unknown_fields();
            if !unknown.is_empty() {
                diags.push(Diagnostic::warning(
                    rule_loc.clone(),
                    format!(
                        "rule '{}': output names fields ferret does not know, printed as written: {}",
                        r.name,
                        unknown.join(", ")
                    ),
                ));
            }
            if !unavailable.is_empty() {
                diags.push(Diagnostic::warning(
                    rule_loc.clone(),
                    format!(
                        "rule '{}' uses fields ferret does not capture (their checks are false): {}",
                        r.name,
                        unavailable.join(", ")
                    ),
                ));
            }
            rules.push(Rule {
                name: r.name.clone(),
                format: Format::Falco,
                desc: r.desc.clone(),
                severity,
                priority: r.priority.to_uppercase(),
                tags: r.tags.clone(),
                mitre,
                finding_type: r.finding_type.clone().unwrap_or_else(|| "Custom:Runtime/FalcoRule".into()),
                condition: r.cond.text.trim().to_string(),
                output,
                location: rule_loc,
                types: node.event_types(),
                node,
                unavailable,
            });
        }
        (rules, diags, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("0.57.0"), Some((0, 57, 0)));
        assert_eq!(parse_version("17"), Some((0, 17, 0)));
        assert_eq!(parse_version("x"), None);
    }
}
