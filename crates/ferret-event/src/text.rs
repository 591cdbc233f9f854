//! Turning attacker-controlled bytes (argv, paths, comm) into JSON strings
//! without losing or faking anything.
//!
//! Valid UTF-8 is kept exactly as it is (JSON escaping of quotes, newlines
//! and control characters is serde_json's job). Bytes that are not UTF-8 are
//! written as `\xNN`, and in such a string every backslash is doubled, so the
//! result is unambiguous and [`unescape_bytes`] gives back the original
//! bytes. The event lists such fields in `process.escaped`.

/// Converts bytes to a string; the flag says whether escaping was needed.
pub fn escape_bytes(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c == '\\' {
                        out.push_str("\\\\");
                    } else {
                        out.push(c);
                    }
                }
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            (out, true)
        }
    }
}

/// Reverses [`escape_bytes`] for a string that was escaped.
pub fn unescape_bytes(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1)? {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                }
                b'x' => {
                    let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 4;
                }
                _ => return None,
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_utf8_is_untouched() {
        assert_eq!(escape_bytes("a\\b \"q\"\n\u{1b}é".as_bytes()), ("a\\b \"q\"\n\u{1b}é".to_string(), false));
    }

    #[test]
    fn invalid_bytes_escape_unambiguously_and_reverse() {
        let raw = b"\xff\\x41\xfe ok";
        let (s, escaped) = escape_bytes(raw);
        assert!(escaped);
        assert_eq!(s, "\\xff\\\\x41\\xfe ok");
        assert_eq!(unescape_bytes(&s).as_deref(), Some(&raw[..]));
        // JSON round trip keeps it valid and identical.
        let json = serde_json::to_string(&s).expect("serializes");
        let back: String = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, s);
    }
}
