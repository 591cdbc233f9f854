//! ferret's rule engine: one matcher, two front ends.
//!
//! Falco rule files (rules, macros, lists, exceptions, overrides) and Sigma rules for Linux
//! (process_creation, file_event, network_connection) compile to the same tree of prepared
//! matchers ([`compile::Node`]). Rules are indexed by the event types they can match, so an event
//! is checked only against the rules that could fire on it.
//!
//! ```
//! use ferret_rules::RuleSet;
//! let (set, report) = RuleSet::load_str("r.yaml", r#"
//! - rule: Shell
//!   desc: a shell ran
//!   condition: evt.type = execve and proc.name = bash
//!   output: shell %proc.cmdline
//!   priority: WARNING
//! "#);
//! assert!(report.ok(), "{report:?}");
//! assert_eq!(set.rules().len(), 1);
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ferret_event::Event;
use rustc_hash::FxHashMap;

pub mod compile;
pub mod condition;
pub mod falco;
pub mod fields;
pub mod fixtures;
pub mod interest;
pub mod output;
pub mod prefilter;
pub mod shared;
pub mod sigma;
pub mod source;
pub mod users;
pub mod yaml;

use compile::Node;
use fields::Ctx;
use source::{File, Location};
pub use users::Users;

/// ferret's default rules (`rules/ferret_rules.yaml`), built into the binary.
pub const DEFAULT_RULES: &str = include_str!("../../../rules/ferret_rules.yaml");
/// The name the built-in rules are reported under.
pub const DEFAULT_RULES_NAME: &str = "rules/ferret_rules.yaml (built in)";

/// Where a rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Falco,
    Sigma,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Falco => "falco",
            Format::Sigma => "sigma",
        })
    }
}

/// Finding severity, GuardDuty's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Falco priorities: EMERGENCY/ALERT/CRITICAL are critical, ERROR high, WARNING medium, the rest low.
    pub fn from_falco(p: &str) -> Option<Severity> {
        Some(match p.trim().to_ascii_uppercase().as_str() {
            "EMERGENCY" | "ALERT" | "CRITICAL" => Severity::Critical,
            "ERROR" => Severity::High,
            "WARNING" | "WARN" => Severity::Medium,
            "NOTICE" | "INFORMATIONAL" | "INFO" | "DEBUG" => Severity::Low,
            _ => return None,
        })
    }

    /// Sigma levels: informational and low are low.
    pub fn from_sigma(level: &str) -> Option<Severity> {
        Some(match level.trim().to_ascii_lowercase().as_str() {
            "informational" | "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A MITRE ATT&CK technique or tactic id (T1059, T1059.004, TA0003).
pub fn is_mitre_id(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.len() == 4 && s.iter().all(u8::is_ascii_digit);
    if let Some(rest) = t.strip_prefix("TA") {
        return digits(rest.as_bytes());
    }
    if b.first() != Some(&b'T') {
        return false;
    }
    match t[1..].split_once('.') {
        None => digits(&b[1..]),
        Some((main, sub)) => digits(main.as_bytes()) && sub.len() == 3 && sub.bytes().all(|c| c.is_ascii_digit()),
    }
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub format: Format,
    pub desc: String,
    pub severity: Severity,
    /// Falco's priority name, or the Sigma level.
    pub priority: String,
    pub tags: Vec<String>,
    pub mitre: Vec<String>,
    pub finding_type: String,
    /// The condition as written (Falco), or the Sigma condition.
    pub condition: String,
    pub output: output::Template,
    pub location: Location,
    /// Falco event types it can match; None: every event.
    pub types: Option<HashSet<String>>,
    pub node: Node,
    /// Fields it uses that ferret does not capture.
    pub unavailable: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// An error or warning at a place in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    pub at: Location,
    pub message: String,
}

impl Diagnostic {
    pub fn error(at: Location, message: impl Into<String>) -> Self {
        Diagnostic { level: Level::Error, at, message: message.into() }
    }
    pub fn warning(at: Location, message: impl Into<String>) -> Self {
        Diagnostic { level: Level::Warning, at, message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, "{}: {l}: {}", self.at, self.message)
    }
}

/// What loading found, per file.
#[derive(Debug, Default)]
pub struct Report {
    pub files: Vec<FileReport>,
}

#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: Option<Format>,
    pub loaded: Vec<String>,
    /// Rule name and why it is not active.
    pub skipped: Vec<(String, String)>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.files.iter().flat_map(|f| f.diagnostics.iter()).filter(|d| d.level == Level::Error)
    }

    pub fn ok(&self) -> bool {
        self.errors().next().is_none()
    }

    fn file_mut(&mut self, path: &Path) -> &mut FileReport {
        if let Some(i) = self.files.iter().position(|f| f.path == path) {
            return &mut self.files[i];
        }
        self.files.push(FileReport {
            path: path.to_path_buf(),
            format: None,
            loaded: vec![],
            skipped: vec![],
            diagnostics: vec![],
        });
        let n = self.files.len() - 1;
        &mut self.files[n]
    }
}

/// One rule that matched an event.
#[derive(Debug, Clone)]
pub struct Match<'r> {
    pub rule: &'r Rule,
    /// The output template rendered with the event.
    pub output: String,
    /// The values of the fields the rule's condition looked at (why it fired).
    pub fields: Vec<(String, String)>,
}

/// Compiled rules, indexed by event type.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    by_type: FxHashMap<String, Vec<usize>>,
    /// Per event type, the prefilter tables its candidate rules use.
    tables_by_type: FxHashMap<String, Vec<usize>>,
    any_type_tables: Vec<usize>,
    any_type: Vec<usize>,
    users: Users,
    num: AtomicU64,
    groups: Vec<shared::Group>,
    prefilter: prefilter::Prefilter,
}

/// Rule files in a directory: `*.yaml` and `*.yml`, in name order. Symbolic links to directories
/// inside a directory are not followed (a link to `.` would loop); a path given by the user is.
fn expand(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            let linked = std::fs::symlink_metadata(&e).is_ok_and(|m| m.file_type().is_symlink());
            if e.is_dir() {
                if !linked {
                    expand(&e, out)?;
                }
            } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
                out.push(e);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Which front end a document is for: Falco files are sequences; Sigma rules are mappings with
/// a `detection`.
fn detect(doc: &yaml::Node) -> Option<Format> {
    match &doc.kind {
        yaml::Kind::Seq(_) => Some(Format::Falco),
        yaml::Kind::Map(_) if doc.get("detection").is_some() => Some(Format::Sigma),
        _ => None,
    }
}

impl RuleSet {
    /// Load rule files and directories in order. Falco files share macros and lists and refine one
    /// another in that order; each Sigma file stands alone.
    pub fn load(paths: &[PathBuf]) -> (RuleSet, Report) {
        Self::load_with_defaults(false, paths)
    }

    /// Like `load`, with ferret's built-in default rules first when `defaults` is set.
    pub fn load_with_defaults(defaults: bool, paths: &[PathBuf]) -> (RuleSet, Report) {
        let mut files = Vec::new();
        if defaults {
            files.push(File { path: DEFAULT_RULES_NAME.into(), text: DEFAULT_RULES.to_string() });
        }
        let mut report = Report::default();
        for p in paths {
            let mut expanded = Vec::new();
            if let Err(e) = expand(p, &mut expanded) {
                report.file_mut(p).diagnostics.push(Diagnostic::error(
                    Location { path: p.clone(), pos: Default::default() },
                    format!("cannot read: {e}"),
                ));
                continue;
            }
            for f in expanded {
                // Read at most one byte past the limit: `/dev/zero` is refused, not read forever.
                let read = std::fs::File::open(&f).and_then(|file| {
                    use std::io::Read;
                    let mut bytes = Vec::new();
                    file.take(yaml::MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map(|_| bytes)
                });
                match read {
                    Ok(bytes) if bytes.len() > yaml::MAX_FILE_BYTES => {
                        report.file_mut(&f).diagnostics.push(Diagnostic::error(
                            Location { path: f.clone(), pos: Default::default() },
                            format!("file larger than {} bytes", yaml::MAX_FILE_BYTES),
                        ));
                    }
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => files.push(File { path: f, text }),
                        Err(e) => report.file_mut(&f).diagnostics.push(Diagnostic::error(
                            Location { path: f.clone(), pos: Default::default() },
                            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                        )),
                    },
                    Err(e) => report.file_mut(&f).diagnostics.push(Diagnostic::error(
                        Location { path: f.clone(), pos: Default::default() },
                        format!("cannot read: {e}"),
                    )),
                }
            }
        }
        Self::from_files(files, report)
    }

    /// Load rules from a string (tests, `rules test` fixtures).
    pub fn load_str(name: &str, text: &str) -> (RuleSet, Report) {
        Self::from_files(vec![File { path: name.into(), text: text.to_string() }], Report::default())
    }

    fn from_files(files: Vec<File>, mut report: Report) -> (RuleSet, Report) {
        let mut state = falco::State::default();
        let mut rules = Vec::new();
        for f in files {
            let file = Arc::new(f);
            report.file_mut(&file.path);
            let docs = match yaml::parse(&file.text) {
                Ok(d) => d,
                Err(e) => {
                    report.file_mut(&file.path).diagnostics.push(Diagnostic::error(
                        Location { path: file.path.clone(), pos: e.pos },
                        format!("YAML: {}", e.message),
                    ));
                    continue;
                }
            };
            for doc in &docs {
                match detect(doc) {
                    Some(Format::Falco) => {
                        report.file_mut(&file.path).format = Some(Format::Falco);
                        state.load(&file, doc);
                    }
                    Some(Format::Sigma) => {
                        report.file_mut(&file.path).format = Some(Format::Sigma);
                        match sigma::compile(&file, doc) {
                            Ok(sigma::Outcome::Rule(r)) => rules.push(*r),
                            Ok(sigma::Outcome::Skipped(name, why)) => report.file_mut(&file.path).skipped.push((name, why)),
                            Err(d) => report.file_mut(&file.path).diagnostics.push(d),
                        }
                    }
                    None if doc.is_null() => {}
                    None => report.file_mut(&file.path).diagnostics.push(Diagnostic::error(
                        Location { path: file.path.clone(), pos: doc.pos },
                        "neither a Falco rules file (a sequence of rule, macro and list items) nor a Sigma rule (a mapping with a detection)",
                    )),
                }
            }
        }
        let (falco_rules, diags, skipped) = state.finish();
        for d in diags {
            report.file_mut(&d.at.path.clone()).diagnostics.push(d);
        }
        for (name, at, why) in skipped {
            report.file_mut(&at.path).skipped.push((name, why));
        }
        // Falco rules first (in file order), then Sigma rules. A rule's name keys its findings and
        // their aggregation: a Sigma title already taken gets its file and line appended.
        let mut all = falco_rules;
        let mut names: std::collections::HashSet<String> = all.iter().map(|r| r.name.clone()).collect();
        for mut r in rules {
            if !names.insert(r.name.clone()) {
                r.name = format!("{} ({})", r.name, r.location);
                names.insert(r.name.clone());
            }
            all.push(r);
        }
        for r in &all {
            report.file_mut(&r.location.path.clone()).loaded.push(r.name.clone());
        }
        (RuleSet::new(all, Users::system()), report)
    }

    pub fn new(mut rules: Vec<Rule>, users: Users) -> RuleSet {
        for r in rules.iter_mut() {
            if let Some(types) = &r.types {
                let node = std::mem::replace(&mut r.node, Node::Const(false));
                r.node = node.fold_types(types);
            }
        }
        let groups = shared::share(&mut rules.iter_mut().map(|r| &mut r.node).collect::<Vec<_>>());
        let mut by_type: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut any_type = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match &r.types {
                Some(t) => t.iter().for_each(|t| by_type.entry(t.clone()).or_default().push(i)),
                None => any_type.push(i),
            }
        }
        // Each type's list also holds the rules for every type, in load order.
        for list in by_type.values_mut() {
            list.extend(&any_type);
            list.sort_unstable();
        }
        let prefilter = prefilter::Prefilter::new(&rules.iter().map(|r| &r.node).collect::<Vec<_>>());
        let tables_by_type = by_type.iter().map(|(t, rules)| (t.clone(), prefilter.tables_for(rules))).collect();
        let any_type_tables = prefilter.tables_for(&any_type);
        RuleSet {
            rules,
            by_type,
            tables_by_type,
            any_type,
            any_type_tables,
            users,
            num: AtomicU64::new(0),
            groups,
            prefilter,
        }
    }

    /// The evaluation context of `ev` against this set: its shared automata and what they found.
    fn context<'e>(&'e self, ev: &'e Event, num: u64, hits: &'e shared::Hits) -> Ctx<'e> {
        let mut ctx = Ctx::new(ev, num, &self.users);
        ctx.groups = Some(&self.groups);
        ctx.hits = Some(hits);
        ctx
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether rule `i` (an index into `rules()`) matches `ev`, without building the match
    /// (benchmarks: the cost of one rule).
    pub fn rule_matches(&self, i: usize, ev: &Event) -> bool {
        let hits = shared::Hits::new(self.groups.len());
        let ctx = self.context(ev, 1, &hits);
        // The index's guarantee (the event's type is one the rule is for) is folded into the node.
        let typed = |r: &Rule| r.types.as_ref().is_none_or(|t| t.contains(fields::evt_type(ev)));
        self.rules.get(i).is_some_and(|r| typed(r) && r.node.eval(&ctx))
    }

    /// The rules that match, each one evaluated (no prefilter): the reference `matches` must agree with.
    #[doc(hidden)]
    pub fn matches_evaluating_all(&self, ev: &Event) -> Vec<String> {
        let hits = shared::Hits::new(self.groups.len());
        let ctx = self.context(ev, 1, &hits);
        let candidates = self.by_type.get(fields::evt_type(ev)).unwrap_or(&self.any_type);
        candidates.iter().map(|&i| &self.rules[i]).filter(|r| r.node.eval(&ctx)).map(|r| r.name.clone()).collect()
    }

    #[doc(hidden)]
    pub fn is_gated(&self, i: usize) -> bool {
        self.prefilter.is_gated(i)
    }

    /// Rules gated by the prefilter, and its tables.
    pub fn prefilter_stats(&self) -> (usize, usize) {
        self.prefilter.stats()
    }

    /// How many rules an event of this type is checked against (the index's answer).
    pub fn candidates(&self, ev: &Event) -> usize {
        self.by_type.get(fields::evt_type(ev)).unwrap_or(&self.any_type).len()
    }

    /// Rules that match `ev`, in load order.
    pub fn matches<'r>(&'r self, ev: &Event) -> Vec<Match<'r>> {
        let num = self.num.fetch_add(1, Ordering::Relaxed) + 1;
        let hits = shared::Hits::new(self.groups.len());
        let ctx = self.context(ev, num, &hits);
        let ty = fields::evt_type(ev);
        let candidates = self.by_type.get(ty).unwrap_or(&self.any_type);
        let tables = self.tables_by_type.get(ty).unwrap_or(&self.any_type_tables);
        let passing = if tables.is_empty() { Default::default() } else { self.prefilter.passing(&ctx, tables) };
        let mut out = Vec::new();
        for &i in candidates {
            if self.prefilter.is_gated(i) && !passing.contains(&(i as u32)) {
                continue;
            }
            let r = &self.rules[i];
            if r.node.eval(&ctx) {
                let mut fields = Vec::new();
                collect_fields(&r.node, &ctx, &mut fields);
                out.push(Match { rule: r, output: r.output.render(&ctx), fields });
            }
        }
        out
    }
}

/// The fields a condition reads, with their values for this event (each once).
fn collect_fields(n: &Node, ctx: &Ctx, out: &mut Vec<(String, String)>) {
    match n {
        Node::And(v) | Node::Or(v) => v.iter().for_each(|x| collect_fields(x, ctx, out)),
        Node::Not(x) => collect_fields(x, ctx, out),
        Node::Const(_) => {}
        Node::Test { get: compile::Getter::Field(f), .. } => {
            if out.len() < 64 && !out.iter().any(|(k, _)| **k == *f.name) {
                let v = ctx.get(f).map(|v| v.render()).unwrap_or_else(|| "<NA>".into());
                out.push((f.name.to_string(), v.chars().take(512).collect()));
            }
        }
        Node::Test { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mitre_ids() {
        for ok in ["T1059", "T1059.004", "TA0003"] {
            assert!(is_mitre_id(ok), "{ok}");
        }
        for bad in ["T105", "mitre_execution", "T1059.4", "TA00031", "host"] {
            assert!(!is_mitre_id(bad), "{bad}");
        }
    }

    #[test]
    fn sigma_rules_with_one_title_get_distinct_names() {
        let sigma = "title: Same\nlogsource: {product: linux, category: process_creation}\ndetection: {sel: {Image|endswith: /x}, condition: sel}\n---\ntitle: Same\nlogsource: {product: linux, category: process_creation}\ndetection: {sel: {Image|endswith: /y}, condition: sel}\n";
        let (set, report) = RuleSet::load_str("s.yml", sigma);
        assert!(report.ok(), "{report:?}");
        let names: Vec<&str> = set.rules().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Same", "Same (s.yml:5:1)"]);
    }
}
