//! Fuzzes the decoder of kernel ring-buffer records (batch frames split first, as the
//! reader does): any bytes must decode or give an error, never panic. Run: `cargo fuzz run decode` (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = ferret_bpf::decode::for_each_batched(data, |r| {
        let _ = ferret_bpf::decode(r);
        true
    });
    if split.is_none() {
        let _ = ferret_bpf::decode(data);
    }
});
