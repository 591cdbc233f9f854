//! Fuzzes rule loading and evaluation: any text, as a rule file, must load or be refused with
//! diagnostics, never crash, overflow the stack or hang; whatever loads must evaluate.
//!
//! The YAML reader (libyaml-safer) panics on some inputs; ferret catches that and reports an
//! error (see `yaml::parse`). libFuzzer's panic hook would abort on the caught panic too, so a
//! silent hook is installed: a panic that is not caught still unwinds into libFuzzer's frame,
//! which aborts, and is reported as the crash it is.
#![no_main]

use libfuzzer_sys::fuzz_target;

static HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let text = String::from_utf8_lossy(data);
    let (set, _report) = ferret_rules::RuleSet::load_str("fuzz.yaml", &text);
    if let Ok(ev) = ferret_rules::fixtures::event_from(&serde_json::json!({})) {
        let _ = set.matches(&ev);
    }
    let _ = ferret_rules::condition::parse(&text);
});
