//! Hostile and broken rule files are refused with a precise error: no panic, no stack overflow,
//! no exponential time.

use ferret_rules::{Report, RuleSet};

fn load(text: &str) -> Report {
    RuleSet::load_str("r.yaml", text).1
}

fn errors(r: &Report) -> Vec<String> {
    r.errors().map(|d| d.to_string()).collect()
}

fn rule(cond: &str) -> String {
    format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: WARNING\n")
}

#[test]
fn ten_thousand_parentheses_are_refused() {
    let cond = format!("'{}proc.name=a{}'", "(".repeat(10_000), ")".repeat(10_000));
    let e = errors(&load(&rule(&cond)));
    assert!(e.iter().any(|m| m.contains("nested deeper than 200")), "{e:?}");
}

#[test]
fn deep_macro_chains_are_bounded() {
    // 60 macros, each 20 `not`s deep around the next one: over 1,200 levels once inlined (the bound is 256).
    let mut text = String::new();
    for i in 0..60 {
        let inner = if i == 59 { "proc.name = x".to_string() } else { format!("(m{} and proc.name = a)", i + 1) };
        text.push_str(&format!("- macro: m{i}\n  condition: '{}{inner}'\n", "not ".repeat(20)));
    }
    text.push_str(&rule("m0"));
    let e = errors(&load(&text));
    assert!(e.iter().any(|m| m.contains("nests deeper than 256")), "{e:?}");
}

#[test]
fn megabyte_strings_load_or_fail_cleanly() {
    let big = "a".repeat(600 << 10);
    let r = load(&rule(&format!("proc.cmdline contains \"{big}\"")));
    assert!(r.ok(), "{:?}", errors(&r));
    let r = load(&rule(&format!("proc.cmdline contains \"{big}{big}\"")));
    assert!(errors(&r).iter().any(|m| m.contains("longer than")), "{:?}", errors(&r));
}

#[test]
fn pathological_regexes_are_linear_or_refused() {
    let r = load(&rule("proc.cmdline regex '(a*)*b'"));
    assert!(r.ok());
    let (set, _) = RuleSet::load_str("r.yaml", &rule("evt.type = execve and proc.cmdline regex '(a+)+b'"));
    let mut ev = ferret_rules::fixtures::event_from(
        &serde_json::json!({"process": {"comm": "x", "args": ["x", "a".repeat(100_000)]}}),
    )
    .unwrap();
    ev.process.cmdline = "a".repeat(100_000).into();
    let start = std::time::Instant::now();
    assert!(set.matches(&ev).is_empty());
    assert!(start.elapsed().as_secs() < 5, "regex took {:?}", start.elapsed());
    let e = errors(&load(&rule("proc.cmdline regex 'a{1000}{1000}'")));
    assert!(e.iter().any(|m| m.contains("bad regex")), "{e:?}");
}

#[test]
fn yaml_bombs_are_refused() {
    let mut text = String::from("- list: l0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "- list: l{i}\n  items: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = errors(&load(&text));
    assert!(e.iter().any(|m| m.contains("YAML") && m.contains("expand")), "{e:?}");
}

#[test]
fn precise_errors_for_common_mistakes() {
    let cases: &[(&str, &str)] = &[
        (&rule("nosuch_macro and proc.name = a"), "r.yaml:3:14: error: rule 'r': undefined macro 'nosuch_macro'"),
        ("- macro: a\n  condition: b\n- macro: b\n  condition: a\n- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n", "macro recursion: a -> b -> a"),
        ("- required_engine_version: 0.99.0\n", "r.yaml:1:28: error: requires Falco engine version 0.99.0, newer than the 0.57.0 ferret implements"),
        (&rule("proc.name = a and proc.pid = abc"), "r.yaml:3:43: error: rule 'r': expected a number, found 'abc'"),
        (&rule("proc.name = a and"), "expected a check, a macro or '(', found the end of the condition"),
        (&rule("fd.net = notanet"), "expected a network"),
        (&rule("proc.name glob '[a'"), "bad glob"),
        ("- rule: r\n  desc: d\n  condition: proc.name = a\n  output: o\n  priority: LOUD\n", "r.yaml:5:13: error: rule 'r': unknown priority 'LOUD'"),
        ("- rule: r\n  desc: d\n  output: o\n  priority: INFO\n", "rule 'r' has no condition"),
        ("- rule: r\n  condition: and x\n  override:\n    condition: append\n", "rule 'r' is overridden but not defined before"),
        ("- list: l\n  items: [a]\n  override:\n    items: prepend\n", "expected append or replace"),
        ("{a: [unclosed\n", "r.yaml:2:1: error: YAML:"),
        ("title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: sel and nosuch\n", "unknown selection 'nosuch'"),
        ("title: t\nlogsource: {product: linux, category: process_creation}\ndetection:\n  sel: {Image|re: '(unclosed'}\n  condition: sel\n", "bad regex"),
    ];
    for (text, want) in cases {
        let e = errors(&load(text));
        assert!(e.iter().any(|m| m.contains(want)), "want {want:?} in {e:?}\nfor:\n{text}");
    }
}

#[test]
fn sigma_conditions_nest_boundedly() {
    let cond = format!("{}sel{}", "(".repeat(10_000), ")".repeat(10_000));
    let text = format!("title: t\nlogsource: {{product: linux, category: process_creation}}\ndetection:\n  sel: {{Image: x}}\n  condition: '{cond}'\n");
    let e = errors(&load(&text));
    assert!(e.iter().any(|m| m.contains("nested too deeply")), "{e:?}");
}

#[test]
fn a_broken_macro_is_reported_where_it_is_written_even_unused() {
    let e = errors(&load("- macro: unused\n  condition: >\n    proc.name =\n"));
    assert!(e.iter().any(|m| m.starts_with("r.yaml:3:") && m.contains("macro 'unused'")), "{e:?}");
}

#[test]
fn odd_exceptions_and_outputs_are_errors_not_panics() {
    let text = "- rule: r\n  desc: d\n  condition: proc.name = a\n  output: x %proc.aname..[\u{e9}]\n  priority: INFO\n  exceptions: [{name: e, fields: proc.name, comps: [], values: [x]}]\n";
    let r = load(text);
    assert!(!r.ok());
}

#[test]
fn exponential_macros_and_lists_are_refused() {
    let mut text = String::from("- macro: m0\n  condition: proc.name = a\n");
    for i in 1..=40 {
        text.push_str(&format!("- macro: m{i}\n  condition: m{} or m{}\n", i - 1, i - 1));
    }
    text.push_str(&rule("m40"));
    let e = errors(&load(&text));
    assert!(e.iter().any(|m| m.contains("more than 200000 nodes")), "{e:?}");
    let mut text = String::from("- list: l0\n  items: [a, b]\n");
    for i in 1..=30 {
        text.push_str(&format!("- list: l{i}\n  items: [l{}, l{}]\n", i - 1, i - 1));
    }
    text.push_str(&rule("proc.name in (l30)"));
    let e = errors(&load(&text));
    assert!(e.iter().any(|m| m.contains("more than 100000 items")), "{e:?}");
}

/// xorshift64*: fixed sequence, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Real rule files, damaged at random (deleted, duplicated and inserted bytes chosen to upset
/// YAML and conditions), load or are refused, and what loads evaluates: never a panic. The same
/// property runs without end under cargo-fuzz (`fuzz/fuzz_targets/rules.rs`).
#[test]
fn mutated_rule_files_never_panic() {
    let corpora = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    let seeds = [
        std::fs::read_to_string(corpora.join("falco/falco_rules.yaml")).expect("falco rules"),
        std::fs::read_to_string(
            corpora.join("sigma_linux/process_creation/proc_creation_lnx_susp_sensitive_file_access.yml"),
        )
        .expect("sigma rule"),
        std::fs::read_to_string(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/language.yaml"),
        )
        .expect("language rules"),
    ];
    let events: Vec<ferret_event::Event> = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/falco_stable.jsonl"),
    )
    .ok()
    .and_then(|t| ferret_rules::fixtures::parse(&t).ok())
    .unwrap_or_default()
    .into_iter()
    .map(|f| f.event)
    .take(12)
    .collect();
    let noise: &[&str] = &[
        "(", ")", "\"", "'", ":", "- ", "\n", "[", "]", "{", "}", "%", "\\", " and ", " or not ", "*", "&a ", "*a",
        "é", "\t",
    ];
    let mut rng = Rng(0x5EED_F0F0_1234_5678);
    for round in 0..600 {
        let mut text = seeds[round % seeds.len()].clone().into_bytes();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(text.len());
            match rng.below(3) {
                0 => {
                    let end = (at + rng.below(64)).min(text.len());
                    text.drain(at..end);
                }
                1 => {
                    let end = (at + rng.below(256)).min(text.len());
                    let piece = text[at..end].to_vec();
                    let to = rng.below(text.len());
                    text.splice(to..to, piece);
                }
                _ => {
                    let n = noise[rng.below(noise.len())].as_bytes().to_vec();
                    text.splice(at..at, n);
                }
            }
        }
        let text = String::from_utf8_lossy(&text);
        let (set, _) = RuleSet::load_str("mutated.yaml", &text);
        for ev in &events {
            let _ = set.matches(ev);
        }
    }
}
