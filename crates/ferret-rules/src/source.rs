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

    /// The file position of byte `offset` in this scalar's value. YAML folds a multi-line scalar
    /// into one line, each source line (without its indentation) followed by one space or newline,
    /// which is what the walk below undoes. Escapes in quoted scalars can shift the column a little.
    pub fn locate(&self, offset: usize) -> Location {
        let lines: Vec<&str> = self.file.text.split('\n').collect();
        let mut line = self.pos.line.saturating_sub(1);
        let mut col0; // 0-based column where this line's content starts
        match self.style {
            Style::Block => {
                line += 1;
                col0 = lines.get(line).map(|l| l.len() - l.trim_start().len()).unwrap_or(0);
            }
            Style::Quoted => col0 = self.pos.col, // after the quote (pos.col is 1-based)
            Style::Plain => col0 = self.pos.col.saturating_sub(1),
        }
        let mut remaining = offset;
        loop {
            let Some(text) = lines.get(line) else {
                return Location { path: self.file.path.clone(), pos: self.pos };
            };
            let content_len = text.len().saturating_sub(col0);
            if remaining <= content_len {
                return Location {
                    path: self.file.path.clone(),
                    pos: Pos { line: line + 1, col: col0 + remaining + 1 },
                };
            }
            remaining -= content_len + 1;
            line += 1;
            col0 = lines.get(line).map(|l| l.len() - l.trim_start().len()).unwrap_or(0);
        }
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
        let (start, origin) = self.parts.iter().rev().find(|(start, _)| *start <= offset)?;
        Some(origin.locate(offset - start))
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
        // "proc.name = a and bogus": 'bogus' at offset 18.
        assert_eq!(o.locate(18).pos, Pos { line: 4, col: 9 });
        let src = "- macro: m\n  condition: (proc.name = a or\n     proc.x = b)\n";
        let o = origin(src, 2, 14, Style::Plain);
        assert_eq!(o.locate(1).pos, Pos { line: 2, col: 15 });
        assert_eq!(o.locate(18).pos, Pos { line: 3, col: 6 });
    }
}
