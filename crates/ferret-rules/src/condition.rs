//! Falco's condition language: lexer and recursive-descent parser into an AST.
//!
//! The grammar follows libsinsp's filter parser: `or` binds loosest, then `and`, then `not`;
//! a check is a field (optionally inside transformers) with a unary (`exists`) or binary operator;
//! a bare name with no operator is a macro. Nesting is bounded so a hostile condition cannot
//! exhaust the stack.

/// Deepest nesting of parentheses, `not` and transformers accepted in one condition.
pub const MAX_NESTING: usize = 200;
/// Longest condition accepted (after macro text is inlined by the caller, each piece is checked).
pub const MAX_CONDITION_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A macro referenced by name; `at` is the byte offset in the condition.
    Macro {
        name: String,
        at: usize,
    },
    Check(Check),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub lhs: Operand,
    pub op: Op,
    pub rhs: Rhs,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field {
        name: String,
        arg: Option<String>,
        at: usize,
    },
    /// `select` is the bracket after the call (`getopt(proc.argv, "t:")[t]`).
    Transform {
        func: Transformer,
        args: Vec<Operand>,
        at: usize,
        select: Option<String>,
    },
    /// A string argument of a transformer such as `join(",", ...)`.
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    None,
    Value {
        text: String,
        at: usize,
    },
    List(Vec<ListItem>),
    /// `val(field)` or a transformer: compare with another field of the same event.
    Operand(Operand),
    /// `field op oneof|anyof|allof (v1, v2...)`: `op` against each value; holds when exactly one,
    /// at least one, or every comparison does.
    Modified {
        modifier: Modifier,
        items: Vec<ListItem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    OneOf,
    AnyOf,
    AllOf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListItem {
    pub text: String,
    /// Quoted items are literal; bare items naming a list are replaced by its items.
    pub quoted: bool,
    pub at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Exists,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    Pmatch,
}

impl Op {
    fn from_word(w: &str) -> Option<Op> {
        Some(match w {
            "exists" => Op::Exists,
            "contains" => Op::Contains,
            "icontains" => Op::IContains,
            "bcontains" => Op::BContains,
            "startswith" => Op::StartsWith,
            "bstartswith" => Op::BStartsWith,
            "endswith" => Op::EndsWith,
            "glob" => Op::Glob,
            "iglob" => Op::IGlob,
            "regex" => Op::Regex,
            "in" => Op::In,
            "intersects" => Op::Intersects,
            "pmatch" => Op::Pmatch,
            _ => return None,
        })
    }

    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::Pmatch)
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Exists => "exists",
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::Regex => "regex",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::Pmatch => "pmatch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transformer {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
    Join,
    Concat,
    Getopt,
}

impl Transformer {
    fn from_word(w: &str) -> Option<Transformer> {
        Some(match w {
            "tolower" => Transformer::ToLower,
            "toupper" => Transformer::ToUpper,
            "b64" => Transformer::B64,
            "basename" => Transformer::Basename,
            "len" => Transformer::Len,
            "join" => Transformer::Join,
            "concat" => Transformer::Concat,
            "getopt" => Transformer::Getopt,
            _ => return None,
        })
    }
}

/// A parse error: byte offset in the condition and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub at: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Expr, ParseError> {
    if text.len() > MAX_CONDITION_BYTES {
        return Err(ParseError { at: 0, message: format!("condition longer than {MAX_CONDITION_BYTES} bytes") });
    }
    let mut p = Parser { s: text, i: 0, depth: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err("expected a condition, found nothing"));
    }
    let e = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err(&format!("expected 'and', 'or' or the end of the condition, found '{}'", p.snippet())));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
    depth: usize,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-'
}

impl<'a> Parser<'a> {
    fn err(&self, message: &str) -> ParseError {
        ParseError { at: self.i, message: message.to_string() }
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn snippet(&self) -> String {
        self.rest().chars().take(24).collect::<String>().split_whitespace().next().unwrap_or("").to_string()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// The next word (identifier characters), not consumed.
    fn peek_word(&self) -> &'a str {
        let r = self.rest().as_bytes();
        let n = r.iter().take_while(|&&c| is_ident_char(c)).count();
        &self.rest()[..n]
    }

    /// Consume `kw` if it is the next whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        if self.peek_word() == kw {
            self.i += kw.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(&format!("nested deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Expr::Or(vec![])) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.not()?];
        while self.keyword("and") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Expr::And(vec![])) } else { Expr::And(items) })
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.keyword("not") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.err("expected a check, a macro or '(', found the end of the condition")),
            Some(b'(') => {
                self.i += 1;
                self.enter()?;
                let e = self.or()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.err(&format!("expected ')', found '{}'", self.snippet())));
                }
                self.i += 1;
                self.depth -= 1;
                Ok(e)
            }
            Some(c) if is_ident_char(c) => {
                let at = self.i;
                let word = self.peek_word();
                if matches!(word, "and" | "or") {
                    return Err(self.err(&format!("expected a check, a macro or '(', found '{word}'")));
                }
                let after = self.s.as_bytes().get(self.i + word.len()).copied();
                let is_transform = Transformer::from_word(word).is_some() && after == Some(b'(');
                let is_field = word.contains('.') || after == Some(b'[') || is_transform;
                if !is_field {
                    self.i += word.len();
                    return Ok(Expr::Macro { name: word.to_string(), at });
                }
                let lhs = self.operand()?;
                self.check(lhs, at)
            }
            Some(_) => Err(self.err(&format!("expected a field, a macro or '(', found '{}'", self.snippet()))),
        }
    }

    /// A field (`proc.aname[2]`) or a transformer applied to operands.
    fn operand(&mut self) -> Result<Operand, ParseError> {
        self.skip_ws();
        let at = self.i;
        let word = self.peek_word();
        if word.is_empty() {
            return Err(self.err(&format!("expected a field, found '{}'", self.snippet())));
        }
        self.i += word.len();
        if let Some(func) = Transformer::from_word(word) {
            if self.peek() == Some(b'(') {
                self.i += 1;
                self.enter()?;
                let mut args = Vec::new();
                loop {
                    self.skip_ws();
                    if matches!(self.peek(), Some(b'"') | Some(b'\'')) {
                        args.push(Operand::Literal(self.quoted()?));
                    } else {
                        args.push(self.operand()?);
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b')') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.err(&format!("expected ',' or ')', found '{}'", self.snippet()))),
                    }
                }
                self.depth -= 1;
                let mut select = None;
                if self.peek() == Some(b'[') {
                    let close = self.rest().find(']').ok_or_else(|| self.err("expected ']' closing the selector"))?;
                    select = Some(self.rest()[1..close].to_string());
                    self.i += close + 1;
                }
                return Ok(Operand::Transform { func, args, at, select });
            }
        }
        let mut arg = None;
        if self.peek() == Some(b'[') {
            let close = self.rest().find(']').ok_or_else(|| self.err("expected ']' closing the field argument"))?;
            arg = Some(self.rest()[1..close].to_string());
            self.i += close + 1;
        }
        Ok(Operand::Field { name: word.to_string(), arg, at })
    }

    fn check(&mut self, lhs: Operand, at: usize) -> Result<Expr, ParseError> {
        self.skip_ws();
        let r = self.rest();
        let symbolic = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .into_iter()
        .find(|(s, _)| r.starts_with(s));
        let op = if let Some((s, op)) = symbolic {
            self.i += s.len();
            op
        } else {
            let w = self.peek_word();
            match Op::from_word(w) {
                Some(op) => {
                    self.i += w.len();
                    op
                }
                None if w.is_empty() && self.at_end() => {
                    return Err(self.err("expected an operator after the field, found the end of the condition"))
                }
                None => {
                    return Err(self.err(&format!("expected an operator after the field, found '{}'", self.snippet())))
                }
            }
        };
        if op == Op::Exists {
            return Ok(Expr::Check(Check { lhs, op, rhs: Rhs::None, at }));
        }
        self.skip_ws();
        let rhs = if op.takes_list() {
            if self.peek() == Some(b'(') {
                Rhs::List(self.list()?)
            } else {
                // `x in list_name` is not Falco syntax, but a single value is accepted as a list of one.
                let item_at = self.i;
                let (text, quoted) = self.value()?;
                Rhs::List(vec![ListItem { text, quoted, at: item_at }])
            }
        } else {
            let w = self.peek_word();
            let after = self.s.as_bytes().get(self.i + w.len()).copied();
            let modifier = match w {
                "oneof" => Some(Modifier::OneOf),
                "anyof" => Some(Modifier::AnyOf),
                "allof" => Some(Modifier::AllOf),
                _ => None,
            };
            let list_follows = self.s[self.i + w.len()..].trim_start().starts_with('(');
            if let (Some(modifier), true) = (modifier, list_follows) {
                if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
                    return Err(self.err(&format!("'{w}' applies to string operators, not '{}'", op.name())));
                }
                self.i += w.len();
                self.skip_ws();
                Rhs::Modified { modifier, items: self.list()? }
            } else if w == "val" && after == Some(b'(') {
                self.i += 3;
                self.i += 1;
                let inner = self.operand()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.err("expected ')' closing val("));
                }
                self.i += 1;
                Rhs::Operand(inner)
            } else if Transformer::from_word(w).is_some() && after == Some(b'(') {
                Rhs::Operand(self.operand()?)
            } else {
                let v_at = self.i;
                let (text, _) = self.value()?;
                Rhs::Value { text, at: v_at }
            }
        };
        Ok(Expr::Check(Check { lhs, op, rhs, at }))
    }

    fn list(&mut self) -> Result<Vec<ListItem>, ParseError> {
        self.i += 1; // '('
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.i += 1;
            return Ok(items);
        }
        loop {
            self.skip_ws();
            let at = self.i;
            let (text, quoted) = self.value()?;
            items.push(ListItem { text, quoted, at });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    return Ok(items);
                }
                None => return Err(self.err("expected ',' or ')' in the list, found the end of the condition")),
                _ => return Err(self.err(&format!("expected ',' or ')' in the list, found '{}'", self.snippet()))),
            }
        }
    }

    /// A quoted string or a bare word (anything up to whitespace, ',' or ')').
    fn value(&mut self) -> Result<(String, bool), ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') | Some(b'\'') => Ok((self.quoted()?, true)),
            None => Err(self.err("expected a value, found the end of the condition")),
            Some(b')') | Some(b',') | Some(b'(') => {
                Err(self.err(&format!("expected a value, found '{}'", self.peek().map(|c| c as char).unwrap_or(' '))))
            }
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c.is_ascii_whitespace() || c == b')' || c == b',' {
                        break;
                    }
                    // Skip a whole UTF-8 character.
                    let ch = self.rest().chars().next().map(char::len_utf8).unwrap_or(1);
                    self.i += ch;
                }
                Ok((self.s[start..self.i].to_string(), false))
            }
        }
    }

    /// A single- or double-quoted string with backslash escapes (\" \' \\ \n \t, \xNN).
    fn quoted(&mut self) -> Result<String, ParseError> {
        let quote = self.peek().unwrap_or(b'"');
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((off, c)) = chars.next() {
            if c as u32 == quote as u32 {
                self.i += off + 1;
                return Ok(out);
            }
            if c == '\\' {
                match read_escape(&mut chars, &mut out) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(m) => return Err(ParseError { at: start + off, message: m }),
                }
            } else {
                out.push(c);
            }
        }
        self.i = start;
        Err(self.err("unterminated string"))
    }
}

/// One backslash escape (the backslash already read): `\"`, `\'`, `\\`, `\n`, `\t`, `\r`, `\xNN`
/// (two hex digits, ASCII). Any other escape is kept as written, backslash included, so regex
/// classes such as `\d` survive. Ok(false) at the end of the input.
fn read_escape(chars: &mut std::str::CharIndices, out: &mut String) -> Result<bool, String> {
    match chars.next() {
        Some((_, 'n')) => out.push('\n'),
        Some((_, 't')) => out.push('\t'),
        Some((_, 'r')) => out.push('\r'),
        Some((_, c @ ('"' | '\'' | '\\'))) => out.push(c),
        Some((_, 'x')) => {
            let h: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
            match u8::from_str_radix(&h, 16) {
                Ok(b) if b < 0x80 && h.len() == 2 => out.push(b as char),
                _ => return Err(format!("bad escape \\x{h} in string (two hex digits, below 80)")),
            }
        }
        Some((_, other)) => {
            out.push('\\');
            out.push(other);
        }
        None => return Ok(false),
    }
    Ok(true)
}

/// The text of a quoted string (without its quotes) with its escapes read; a bad escape is kept
/// as written.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((_, c)) = chars.next() {
        if c == '\\' {
            let before = chars.clone();
            match read_escape(&mut chars, &mut out) {
                Ok(true) => {}
                Ok(false) => out.push('\\'),
                Err(_) => {
                    out.push('\\');
                    chars = before;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> String {
        name.to_string()
    }

    #[test]
    fn precedence_and_checks() {
        let e = parse("evt.type in (open,openat) and not proc.name=bash or m1").unwrap();
        let Expr::Or(items) = e else { panic!("expected or") };
        assert_eq!(items.len(), 2);
        let Expr::And(parts) = &items[0] else { panic!("expected and") };
        assert!(matches!(&parts[1], Expr::Not(_)));
        assert!(matches!(&items[1], Expr::Macro { name, .. } if name == "m1"));
    }

    #[test]
    fn bare_values_indexed_fields_and_quotes() {
        let e = parse(r#"proc.aname[2]=chef_command_wr and proc.pname in (runc:[0:PARENT], "a b", 'c') and fd.name startswith /etc/"#)
            .unwrap();
        let Expr::And(parts) = e else { panic!() };
        let Expr::Check(c) = &parts[0] else { panic!() };
        assert_eq!(c.lhs, Operand::Field { name: field("proc.aname"), arg: Some("2".into()), at: 0 });
        assert_eq!(c.rhs, Rhs::Value { text: "chef_command_wr".into(), at: 14 });
        let Expr::Check(c) = &parts[1] else { panic!() };
        let Rhs::List(items) = &c.rhs else { panic!() };
        let texts: Vec<_> = items.iter().map(|i| (i.text.as_str(), i.quoted)).collect();
        assert_eq!(texts, vec![("runc:[0:PARENT]", false), ("a b", true), ("c", true)]);
        let Expr::Check(c) = &parts[2] else { panic!() };
        assert_eq!(c.op, Op::StartsWith);
    }

    #[test]
    fn transformers_val_and_exists() {
        let e = parse("tolower(proc.name) = bash and proc.pname exists and fd.name = val(fd.directory)").unwrap();
        let Expr::And(parts) = e else { panic!() };
        assert!(matches!(
            &parts[0],
            Expr::Check(Check { lhs: Operand::Transform { func: Transformer::ToLower, .. }, .. })
        ));
        assert!(matches!(&parts[1], Expr::Check(Check { op: Op::Exists, rhs: Rhs::None, .. })));
        assert!(matches!(&parts[2], Expr::Check(Check { rhs: Rhs::Operand(_), .. })));
    }

    #[test]
    fn comparison_modifiers() {
        let e = parse("proc.name = oneof (a, b) and fd.name startswith allof (/etc, '/etc/p')").unwrap();
        let Expr::And(parts) = e else { panic!() };
        assert!(matches!(&parts[0], Expr::Check(Check { rhs: Rhs::Modified { modifier: Modifier::OneOf, .. }, .. })));
        assert!(matches!(
            &parts[1],
            Expr::Check(Check { op: Op::StartsWith, rhs: Rhs::Modified { modifier: Modifier::AllOf, .. }, .. })
        ));
        // A value that happens to be called anyof is still a value.
        assert!(matches!(parse("proc.name = anyof").unwrap(), Expr::Check(Check { rhs: Rhs::Value { .. }, .. })));
        assert!(parse("proc.pid < anyof (1, 2)").is_err());
    }

    #[test]
    fn errors_name_the_offset() {
        let err = parse("proc.name = bash and").unwrap_err();
        assert_eq!(err.at, 20);
        let err = parse("proc.name bogus x").unwrap_err();
        assert!(err.message.contains("operator"), "{err:?}");
        assert_eq!(err.at, 10);
        let err = parse("proc.name in (a, b").unwrap_err();
        assert!(err.message.contains("')'"), "{err:?}");
        let err = parse("(proc.name = a").unwrap_err();
        assert!(err.message.contains("')'"));
        assert!(parse("proc.name = 'unterminated").unwrap_err().message.contains("unterminated"));
        assert!(parse(r"proc.name = '\x4'").unwrap_err().message.contains("bad escape"));
        assert_eq!(unescape(r#"sh -c node -e \"require('nan')\""#), r#"sh -c node -e "require('nan')""#);
        assert_eq!(unescape(r"\d+\\"), r"\d+\");
        assert!(parse("").is_err());
    }

    #[test]
    fn hostile_nesting_is_refused_without_overflow() {
        let deep = format!("{}proc.name=a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
        let nots = format!("{}proc.name=a", "not ".repeat(10_000));
        assert!(parse(&nots).unwrap_err().message.contains("nested deeper"));
        // Just under the bound: parses (no overflow on a test thread's 2 MiB stack, debug build).
        let ok = format!("{}proc.name=a{}", "(".repeat(MAX_NESTING - 1), ")".repeat(MAX_NESTING - 1));
        assert!(parse(&ok).is_ok());
        let ok = format!("{}(proc.name=a)", "not ".repeat(MAX_NESTING - 2));
        assert!(parse(&ok).is_ok());
    }
}
