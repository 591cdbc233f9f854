//! Fuzzes the decoder of kernel ring-buffer records (batch frames split first, as the
//! reader does): any bytes must decode or give an error, never panic. Run: `cargo fuzz run decode` (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ferret_bpf::decode::batched_records(data) {
        Some(records) => records.for_each(|r| {
            let _ = ferret_bpf::decode(r);
        }),
        None => {
            let _ = ferret_bpf::decode(data);
        }
    }
});
