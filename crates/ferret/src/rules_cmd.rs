//! `ferret rules check|list|test`: validate rule files, list what they hold, run fixtures.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ferret_rules::{fixtures, Level, RuleSet};

/// Per file: what loaded, what did not and why, errors with file:line:col. Exit 1 on any error.
pub fn check(paths: &[PathBuf], verbose: bool) -> Result<ExitCode> {
    let (set, report) = RuleSet::load_with_defaults(paths.is_empty(), paths);
    for f in &report.files {
        let format = f.format.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
        let errors = f.diagnostics.iter().filter(|d| d.level == Level::Error).count();
        println!(
            "{}: {format}: {} rules loaded, {} not active, {errors} errors",
            f.path.display(),
            f.loaded.len(),
            f.skipped.len()
        );
        for d in &f.diagnostics {
            if d.level == Level::Error || verbose {
                println!("  {d}");
            }
        }
        for (name, why) in &f.skipped {
            println!("  not active: '{name}': {why}");
        }
    }
    let warnings = report.files.iter().flat_map(|f| &f.diagnostics).filter(|d| d.level == Level::Warning).count();
    println!(
        "total: {} rules loaded, {} errors, {warnings} warnings{}",
        set.rules().len(),
        report.errors().count(),
        if verbose || warnings == 0 { "" } else { " (--verbose shows them)" }
    );
    let need = set.open_interest();
    println!(
        "read-only opens the rules need from the kernel: {} paths, {} file names; {} rules could match any file",
        need.paths.len(),
        need.names.len(),
        need.unbounded.len()
    );
    if verbose {
        for p in &need.paths {
            println!("  path {p}");
        }
        for n in &need.names {
            println!("  name {n}");
        }
        for r in &need.unbounded {
            println!("  any file: '{r}'");
        }
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// One line per active rule: format, severity, event types, name, where.
pub fn list(paths: &[PathBuf]) -> Result<ExitCode> {
    let (set, report) = RuleSet::load_with_defaults(paths.is_empty(), paths);
    for r in set.rules() {
        let mut types: Vec<&str> = r.types.iter().flatten().map(String::as_str).collect();
        types.sort_unstable();
        let types = if r.types.is_none() { "*".to_string() } else { types.join(",") };
        println!("{}\t{}\t{}\t{}\t{}", r.format, r.severity.as_str(), types, r.name, r.location);
    }
    for d in report.errors() {
        eprintln!("{d}");
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Run fixture files (JSON lines: name, expect, event) against the rules; exit 1 on a mismatch.
pub fn test(rules: &[PathBuf], fixture_files: &[PathBuf]) -> Result<ExitCode> {
    let set = crate::findings::load_rules(false, rules)?;
    let (mut pass, mut fail) = (0, 0);
    for path in fixture_files {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let fx = fixtures::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for o in fixtures::run(&set, &fx) {
            if o.ok() {
                pass += 1;
                println!("PASS {}:{} {}", path.display(), o.line, o.name);
            } else {
                fail += 1;
                let missing: Vec<_> = o.expected.difference(&o.fired).collect();
                let extra: Vec<_> = o.fired.difference(&o.expected).collect();
                println!(
                    "FAIL {}:{} {}: did not fire {missing:?}; fired unexpectedly {extra:?}",
                    path.display(),
                    o.line,
                    o.name
                );
            }
        }
    }
    println!("{pass} passed, {fail} failed");
    Ok(if fail == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
