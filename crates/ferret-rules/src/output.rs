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
                // `%field`, `%field[arg]` or `%(field)`. Every index below sits after an ASCII
                // byte, so slicing never splits a character.
                let paren = b.get(i + 1) == Some(&b'(');
                let start = i + 1 + paren as usize;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                    j += 1;
                }
                let raw = &s[start..j];
                // A trailing dot belongs to the text ("... %proc.name.").
                let name = raw.trim_end_matches('.');
                if name.is_empty() {
                    text.push('%');
                    i += 1;
                    continue;
                }
                let mut end = start + name.len();
                let mut arg = None;
                if name.len() == raw.len() && b.get(j) == Some(&b'[') {
                    match s[j..].find(']') {
                        Some(close) => {
                            arg = Some(s[j + 1..j + close].to_string());
                            end = j + close + 1;
                        }
                        None => return Err(format!("unclosed '[' after %{name}")),
                    }
                }
                if paren {
                    if b.get(end) != Some(&b')') {
                        return Err(format!("unclosed '%(' at byte {i}"));
                    }
                    end += 1;
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                match fields::resolve(name, arg.as_deref()) {
                    Ok(f) => pieces.push(Piece::Field(f)),
                    Err(_) => pieces.push(Piece::Unknown(s[i..end].to_string())),
                }
                i = end;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_templates_parse_without_panicking() {
        for t in [
            "x %proc.aname..[é] y",
            "%",
            "%(",
            "%(proc.name",
            "%proc.aname[",
            "100% sure",
            "%proc.name.",
            "é%proc.aname[2]é",
            "%(proc.name)%evt.arg[flags]",
        ] {
            let _ = Template::parse(t);
        }
        let t = Template::parse("a %proc.name. b %(evt.type) %nosuch.field").unwrap();
        assert_eq!(t.unknown_fields(), vec!["%nosuch.field".to_string()]);
    }
}
