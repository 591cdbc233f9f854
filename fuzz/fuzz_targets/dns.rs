//! Fuzzes the DNS path: any bytes, as a captured message of any claimed
//! wire length, must parse or be flagged malformed, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferret_enrich::dns::parse(data, data.len() as u32);
});
