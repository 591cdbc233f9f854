//! The third-party rule corpora in ../shared/corpora load (Falco's three files, every Sigma rule).

use std::path::PathBuf;

use ferret_rules::{Format, RuleSet};

fn corpora() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
}

#[test]
fn falco_and_sigma_corpora_load() {
    let dir = corpora();
    let paths = vec![
        dir.join("falco/falco_rules.yaml"),
        dir.join("falco/falco-incubating_rules.yaml"),
        dir.join("falco/falco-sandbox_rules.yaml"),
        dir.join("sigma_linux"),
    ];
    let (set, report) = RuleSet::load(&paths);
    for f in &report.files {
        for d in &f.diagnostics {
            eprintln!("{d}");
        }
        for (n, why) in &f.skipped {
            eprintln!("{}: skipped '{n}': {why}", f.path.display());
        }
    }
    assert!(report.ok(), "errors loading the corpora");
    let falco = set.rules().iter().filter(|r| r.format == Format::Falco).count();
    let sigma = set.rules().iter().filter(|r| r.format == Format::Sigma).count();
    eprintln!("falco {falco} sigma {sigma}");
    let stable = &report.files[0];
    assert_eq!(stable.loaded.len(), 25, "all 25 stable Falco rules load");
    assert!(sigma >= 160, "Sigma rules loaded: {sigma}");
}
