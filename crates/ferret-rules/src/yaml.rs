//! A YAML tree that remembers where each node was written, so rule errors can name file:line:col.
//!
//! Built from libyaml-safer's event stream (a safe port of libyaml, which reads what Falco's own
//! YAML reader accepts; stricter parsers refuse Falco's sandbox file). Building it ourselves also lets us bound what a hostile file can cost: nesting depth
//! and the number of nodes (aliases count as copies, so a "billion laughs" file is refused).

use std::collections::HashMap;

use libyaml_safer::{EventData, Parser, ScalarStyle};

/// Deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one file may expand to (aliases included).
pub const MAX_NODES: usize = 2_000_000;
/// Largest rule file read.
pub const MAX_FILE_BYTES: usize = 32 << 20;

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// How a scalar was written; the rule loaders need it to map condition offsets back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

impl Node {
    /// The scalar's text, or None for a sequence or mapping.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// A plain scalar that YAML would read as null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, Style::Plain) if s.is_empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
    }

    /// YAML 1.2 booleans as Falco reads them.
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()? {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(..) => "a scalar",
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A YAML error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Parse every document of `text`.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError { pos: Pos::default(), message: format!("file larger than {} bytes", MAX_FILE_BYTES) });
    }
    // libyaml-safer panics on some inputs that end without a line break (found by fuzzing): give
    // it one, and turn any other panic of the reader into an error rather than a crash.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        &owned
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_events(text))) {
        Ok(r) => r,
        Err(_) => Err(YamlError { pos: Pos::default(), message: "the YAML reader failed on this input".into() }),
    }
}

fn parse_events(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut input = text.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    loop {
        let ev = match parser.parse() {
            Ok(ev) => ev,
            Err(e) => {
                let m = e.problem_mark().or(e.context_mark());
                let pos = m.map(|m| Pos { line: m.line as usize + 1, col: m.column as usize + 1 }).unwrap_or_default();
                let message = match e.context() {
                    Some(c) => format!("{c}: {}", e.problem()),
                    None => e.problem().to_string(),
                };
                return Err(YamlError { pos, message });
            }
        };
        let pos = Pos { line: ev.start_mark.line as usize + 1, col: ev.start_mark.column as usize + 1 };
        if matches!(ev.data, EventData::StreamEnd) {
            break;
        }
        builder.on_event(ev.data, pos);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
    }
    Ok(builder.docs)
}

enum Open {
    Seq(Vec<Node>, Pos, Option<String>),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    docs: Vec<Node>,
    /// Anchored nodes with their depth (an alias pastes a copy: its depth counts where it lands).
    anchors: HashMap<String, (Node, usize)>,
    nodes: usize,
    error: Option<YamlError>,
}

/// Nesting depth of a node (1 for a scalar). Bounded by MAX_DEPTH, so the recursion is too.
fn depth_of(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| depth_of(k).max(depth_of(v))).max().unwrap_or(0),
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| count_nodes(k) + count_nodes(v)).sum::<usize>(),
    }
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError { pos, message });
        }
    }

    fn push_node(&mut self, node: Node, anchor: Option<String>) {
        if let Some(a) = anchor {
            let d = depth_of(&node);
            self.anchors.insert(a, (node.clone(), d));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Open::Seq(items, _, _)) => items.push(node),
            Some(Open::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn on_event(&mut self, ev: EventData, pos: Pos) {
        match ev {
            EventData::Scalar { value, style, anchor, .. } => {
                self.nodes += 1;
                let style = match style {
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                    _ => Style::Plain,
                };
                self.push_node(Node { kind: Kind::Scalar(value, style), pos }, anchor);
            }
            EventData::SequenceStart { anchor, .. } | EventData::MappingStart { anchor, .. }
                if self.stack.len() >= MAX_DEPTH =>
            {
                let _ = anchor;
                self.fail(pos, format!("nested deeper than {MAX_DEPTH} levels"));
            }
            EventData::SequenceStart { anchor, .. } => {
                self.nodes += 1;
                self.stack.push(Open::Seq(Vec::new(), pos, anchor));
            }
            EventData::MappingStart { anchor, .. } => {
                self.nodes += 1;
                self.stack.push(Open::Map(Vec::new(), None, pos, anchor));
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq(items, pos, anchor)) => (Node { kind: Kind::Seq(items), pos }, anchor),
                    Some(Open::Map(entries, _, pos, anchor)) => (Node { kind: Kind::Map(entries), pos }, anchor),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            EventData::Alias { anchor } => match self.anchors.get(&anchor).cloned() {
                Some((_, d)) if self.stack.len() + d > MAX_DEPTH => {
                    self.fail(pos, format!("alias '{anchor}' nests deeper than {MAX_DEPTH} levels where it is used"));
                }
                Some((node, _)) => {
                    self.nodes += count_nodes(&node);
                    if self.nodes > MAX_NODES {
                        self.fail(pos, format!("aliases expand to more than {MAX_NODES} nodes"));
                        return;
                    }
                    self.push_node(node, None);
                }
                None => self.fail(pos, format!("alias to an unknown anchor '{anchor}'")),
            },
            _ => {}
        }
        if self.nodes > MAX_NODES {
            self.fail(pos, format!("more than {MAX_NODES} nodes"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_styles() {
        let docs = parse("- rule: a\n  condition: >\n    x and\n    y\n").unwrap();
        let first = match &docs[0].kind {
            Kind::Seq(items) => &items[0],
            _ => panic!("not a sequence"),
        };
        let cond = first.get("condition").unwrap();
        assert_eq!(cond.as_str(), Some("x and y\n"));
        assert_eq!(cond.pos.line, 2);
        assert!(matches!(cond.kind, Kind::Scalar(_, Style::Block)));
        assert_eq!(first.get("rule").unwrap().pos, Pos { line: 1, col: 9 });
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("expand"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&text).is_err());
        let text = (0..500).map(|i| format!("{}k:\n", " ".repeat(i))).collect::<String>();
        assert!(parse(&text).is_err());
    }

    #[test]
    fn aliases_cannot_build_deep_trees() {
        // Each anchor wraps the previous alias in 100 more levels.
        let mut text = format!("a0: &a0 {}x{}\n", "[".repeat(100), "]".repeat(100));
        for i in 1..5 {
            text.push_str(&format!("a{i}: &a{i} {}*a{}{}\n", "[".repeat(100), i - 1, "]".repeat(100)));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err:?}");
    }

    #[test]
    fn fuzzer_finds_do_not_crash() {
        // A folded scalar cut off at the end of the input (crashed libyaml-safer's scanner).
        assert!(parse("- rule: r\n  condition: >\n    evt.type = execve and proc.na 10me = oneof.0").is_ok());
        let _ = parse("a: >");
        let _ = parse("a: |\n  x");
        // A tag followed by ',' in a flow collection reaches a `panic!("TODO")` in the reader.
        assert!(parse("[!x,y]\n").is_err());
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("- rule: a\n  desc: [unclosed\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }
}
