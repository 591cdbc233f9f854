//! Fixture events through real rule files: each must fire exactly the rules it names.

use std::path::PathBuf;

use ferret_rules::{fixtures, RuleSet};

fn here(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn run(rules: &[PathBuf], fixture_file: &str) -> usize {
    let (set, report) = RuleSet::load(rules);
    assert!(report.ok(), "rules load: {:?}", report.errors().collect::<Vec<_>>());
    let text = std::fs::read_to_string(here(fixture_file)).expect("fixture file");
    let fx = fixtures::parse(&text).expect("fixtures parse");
    let outcomes = fixtures::run(&set, &fx);
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| format!("line {} '{}': expected {:?}, fired {:?}", o.line, o.name, o.expected, o.fired))
        .collect();
    assert!(failed.is_empty(), "{} of {} fixtures failed:\n{}", failed.len(), outcomes.len(), failed.join("\n"));
    outcomes.len()
}

#[test]
fn falco_stable_rules_fire_on_their_fixtures_and_not_on_near_misses() {
    let n = run(&[here("../../../shared/corpora/falco/falco_rules.yaml")], "tests/fixtures/falco_stable.jsonl");
    assert!(n >= 50);
    // Every stable rule is covered by a fixture that fires it.
    let text = std::fs::read_to_string(here("tests/fixtures/falco_stable.jsonl")).unwrap_or_default();
    let fx = fixtures::parse(&text).unwrap_or_default();
    let (set, _) = RuleSet::load(&[here("../../../shared/corpora/falco/falco_rules.yaml")]);
    for r in set.rules() {
        assert!(fx.iter().any(|f| f.expect.contains(&r.name)), "no fixture fires '{}'", r.name);
    }
}

#[test]
fn sigma_rules_cover_every_modifier_on_their_fixtures() {
    let n = run(&[here("../../../shared/corpora/sigma_linux")], "tests/fixtures/sigma_sample.jsonl");
    assert!(n >= 20);
}

#[test]
fn every_language_construct_on_its_fixtures() {
    let n = run(&[here("tests/fixtures/language.yaml")], "tests/fixtures/language.jsonl");
    assert!(n >= 20);
}

#[test]
fn ferret_default_rules_fire_on_their_fixtures_and_not_on_near_misses() {
    let n = run(&[here("../../rules/ferret_rules.yaml")], "tests/fixtures/ferret_default.jsonl");
    assert!(n >= 60);
    let text = std::fs::read_to_string(here("tests/fixtures/ferret_default.jsonl")).unwrap_or_default();
    let fx = fixtures::parse(&text).unwrap_or_default();
    let (set, _) = RuleSet::load_with_defaults(true, &[]);
    for r in set.rules() {
        assert!(fx.iter().any(|f| f.expect.contains(&r.name)), "no fixture fires '{}'", r.name);
    }
}

/// The prefilter only skips rules that could not match: on every fixture event, against every
/// corpus rule and the built-in ones, `matches` equals evaluating each rule.
#[test]
fn prefilter_agrees_with_evaluating_every_rule() {
    let corpora = here("../../../shared/corpora");
    let (set, report) = RuleSet::load_with_defaults(
        true,
        &[corpora.join("falco"), corpora.join("sigma_linux"), here("tests/fixtures/language.yaml")],
    );
    assert!(report.ok());
    let (gated, tables) = set.prefilter_stats();
    assert!(gated > 100, "{gated} rules gated in {tables} tables");
    let mut n = 0;
    for file in ["falco_stable.jsonl", "sigma_sample.jsonl", "language.jsonl", "ferret_default.jsonl"] {
        let text = std::fs::read_to_string(here(&format!("tests/fixtures/{file}"))).expect("fixtures");
        for f in fixtures::parse(&text).expect("parse") {
            let fast: Vec<String> = set.matches(&f.event).into_iter().map(|m| m.rule.name.clone()).collect();
            assert_eq!(fast, set.matches_evaluating_all(&f.event), "{file}:{} {}", f.line, f.name);
            n += 1;
        }
    }
    assert!(n > 150);
}
