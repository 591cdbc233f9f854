//! Fuzzes the decoder of kernel ring-buffer records: any bytes must decode or
//! give an error, never panic. Run: `cargo fuzz run decode` (see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferret_bpf::decode(data);
});
