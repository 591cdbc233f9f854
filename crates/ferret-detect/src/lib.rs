//! Detectors beyond single-event rules: a DGA detector (`dga`) and threat-intelligence lists (`intel`), with ferret's
//! starter list of public mining pools built in.

pub mod dga;
pub mod intel;

/// Built-in lists: (name, text, category, severity).
pub const BUILTIN_LISTS: &[(&str, &str, intel::Category, &str)] = &[(
    "rules/intel/mining-pools.txt (built in)",
    include_str!("../../../rules/intel/mining-pools.txt"),
    intel::Category::Mining,
    "high",
)];

/// The built-in lists in the form `intel::Intel::load` takes.
pub fn builtin_lists() -> Vec<(String, String, intel::ListSpec)> {
    BUILTIN_LISTS
        .iter()
        .map(|(name, text, category, severity)| {
            (
                name.to_string(),
                text.to_string(),
                intel::ListSpec { path: name.into(), category: *category, severity: severity.to_string() },
            )
        })
        .collect()
}
