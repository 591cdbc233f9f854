//! Output templates: `text %proc.name more %proc.aname[2]`, rendered with the event's values
//! (`<NA>` where a field does not apply, as Falco prints it).

use crate::fields::{self, Ctx, FieldRef};

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(FieldRef),
    /// A field ferret does not know: printed as written.
    Unknown(String),
}

#[derive(Debug, Clone, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Longest value printed for one field: outputs stay readable with hostile command lines.
const MAX_VALUE_CHARS: usize = 4096;

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                // `%field` or `%(field)`.
                let paren = b.get(i + 1) == Some(&b'(');
                let start = i + 1 + paren as usize;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                    j += 1;
                }
                let mut name_end = j;
                let mut arg = None;
                if j < b.len() && b[j] == b'[' {
                    match s[j..].find(']') {
                        Some(close) => {
                            arg = Some(s[j + 1..j + close].to_string());
                            name_end = j;
                            j += close + 1;
                        }
                        None => return Err(format!("unclosed '[' after %{}", &s[start..j])),
                    }
                }
                if paren {
                    if b.get(j) != Some(&b')') {
                        return Err(format!("unclosed '%(' at byte {i}"));
                    }
                    j += 1;
                }
                let name = s[start..name_end].trim_end_matches('.');
                if name.is_empty() {
                    text.push('%');
                    i += 1;
                    continue;
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                match fields::resolve(name, arg.as_deref()) {
                    Ok(f) => pieces.push(Piece::Field(f)),
                    Err(_) => pieces.push(Piece::Unknown(s[i..j].to_string())),
                }
                // A trailing dot belongs to the text ("%proc.name." at a sentence end).
                let consumed = start + name.len() + arg.as_ref().map(|a| a.len() + 2).unwrap_or(0) + paren as usize;
                i = consumed.max(i + 1);
                continue;
            }
            let ch = s[i..].chars().next().unwrap_or(' ');
            text.push(ch);
            i += ch.len_utf8();
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template { pieces })
    }

    /// A template that prints the given fields as `name=value` after a title.
    pub fn fields_after(title: &str, names: &[&str]) -> Template {
        let mut pieces = vec![Piece::Text(format!("{title} |"))];
        for n in names {
            if let Ok(f) = fields::resolve(n, None) {
                pieces.push(Piece::Text(format!(" {}=", n.rsplit('.').next().unwrap_or(n))));
                pieces.push(Piece::Field(f));
            }
        }
        Template { pieces }
    }

    pub fn render(&self, ctx: &Ctx) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Unknown(t) => out.push_str(t),
                Piece::Field(f) => match ctx.get(f) {
                    Some(v) => {
                        let r = v.render();
                        if r.chars().count() > MAX_VALUE_CHARS {
                            out.extend(r.chars().take(MAX_VALUE_CHARS));
                            out.push_str("...");
                        } else {
                            out.push_str(&r);
                        }
                    }
                    None => out.push_str("<NA>"),
                },
            }
        }
        out
    }

    /// Fields the template names that ferret does not know.
    pub fn unknown_fields(&self) -> Vec<String> {
        self.pieces.iter().filter_map(|p| if let Piece::Unknown(t) = p { Some(t.clone()) } else { None }).collect()
    }
}
