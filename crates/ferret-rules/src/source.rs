//! Where rule text came from, so an offset in a (possibly appended) condition can be reported as
//! file:line:col.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::yaml::{Pos, Style};

/// A loaded rule file.
#[derive(Debug)]
pub struct File {
    pub path: PathBuf,
    pub text: String,
}

/// A scalar in a file: where it starts and how it was written.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Arc<File>,
    pub pos: Pos,
    pub style: Style,
}

/// A position to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub pos: Pos,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.pos.line, self.pos.col)
    }
}

impl Origin {
    pub fn location(&self) -> Location {
        Location { path: self.file.path.clone(), pos: self.pos }
    }

    /// The file position of byte `offset` in this scalar's `value`. YAML folds a multi-line scalar
    /// (dropping indentation and line breaks), so each source line's text is looked up in the value,
    /// in order, and the offset is placed on the line whose text holds it. Escapes in quoted
    /// scalars can shift the column a little.
    pub fn locate(&self, value: &str, offset: usize) -> Location {
        let lines: Vec<&str> = self.file.text.split('\n').collect();
        let first = self.pos.line.saturating_sub(1);
        // (offset in value, 1-based line, 0-based column where that line's text starts)
        let mut marks: Vec<(usize, usize, usize)> = Vec::new();
        let mut cursor = 0;
        let (start_line, first_col) = match self.style {
            Style::Block => (first + 1, None),
            Style::Quoted => (first, Some(self.pos.col)),
            Style::Plain => (first, Some(self.pos.col.saturating_sub(1))),
        };
        let block_indent = lines
            .iter()
            .skip(start_line)
            .find(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .unwrap_or(0);
        for (n, line) in lines.iter().enumerate().skip(start_line) {
            let col = match (n == start_line, first_col) {
                (true, Some(c)) => c.min(line.len()),
                _ if self.style == Style::Block => block_indent.min(line.len() - line.trim_start().len()),
                _ => line.len() - line.trim_start().len(),
            };
            let part = line.get(col..).unwrap_or("").trim_end();
            let part = if self.style == Style::Quoted { part.trim_end_matches(['"', '\'']) } else { part };
            if part.is_empty() {
                continue;
            }
            match value.get(cursor..).and_then(|rest| rest.find(part)) {
                Some(k) => {
                    marks.push((cursor + k, n + 1, col));
                    cursor += k + part.len();
                    if cursor > offset {
                        break;
                    }
                }
                None => break,
            }
        }
        let pos = match marks.iter().rev().find(|(k, _, _)| *k <= offset) {
            Some((k, line, col)) => Pos { line: *line, col: col + (offset - k) + 1 },
            None => self.pos,
        };
        Location { path: self.file.path.clone(), pos }
    }
}

/// A condition assembled from several scalars (a rule and its appends), joined by spaces.
#[derive(Debug, Clone, Default)]
pub struct Text {
    pub text: String,
    parts: Vec<(usize, Origin)>,
}

impl Text {
    pub fn new(s: &str, origin: Origin) -> Self {
        Text { text: s.to_string(), parts: vec![(0, origin)] }
    }

    pub fn append(&mut self, s: &str, origin: Origin) {
        self.text.push(' ');
        self.parts.push((self.text.len(), origin));
        self.text.push_str(s);
    }

    pub fn replace(&mut self, s: &str, origin: Origin) {
        *self = Text::new(s, origin);
    }

    pub fn first_origin(&self) -> Option<&Origin> {
        self.parts.first().map(|(_, o)| o)
    }

    pub fn locate(&self, offset: usize) -> Option<Location> {
        let idx = self.parts.iter().rposition(|(start, _)| *start <= offset)?;
        let (start, origin) = &self.parts[idx];
        let end = self.parts.get(idx + 1).map(|(s, _)| s.saturating_sub(1)).unwrap_or(self.text.len());
        let value = self.text.get(*start..end).unwrap_or("");
        Some(origin.locate(value, offset - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str, line: usize, col: usize, style: Style) -> Origin {
        Origin { file: Arc::new(File { path: "r.yaml".into(), text: text.into() }), pos: Pos { line, col }, style }
    }

    #[test]
    fn offsets_map_back_through_folding() {
        let src = "- rule: x\n  condition: >\n    proc.name = a\n    and bogus\n";
        let o = origin(src, 2, 14, Style::Block);
        let v = "proc.name = a and bogus\n";
        assert_eq!(o.locate(v, 18).pos, Pos { line: 4, col: 9 });
        let src = "- macro: m\n  condition: (proc.name = a or\n     proc.x = b)\n";
        let o = origin(src, 2, 14, Style::Plain);
        let v = "(proc.name = a or proc.x = b)";
        assert_eq!(o.locate(v, 1).pos, Pos { line: 2, col: 15 });
        assert_eq!(o.locate(v, 18).pos, Pos { line: 3, col: 6 });
        // Folded with a more-indented line and a blank line.
        let src = "- rule: r\n  condition: >\n    evt.type = execve\n\n      and bogus.field = 1\n  output: o\n";
        let o = origin(src, 2, 14, Style::Block);
        let v = "evt.type = execve\n  and bogus.field = 1\n";
        let at = v.find("bogus").unwrap();
        assert_eq!(o.locate(v, at).pos, Pos { line: 5, col: 11 });
    }
}
