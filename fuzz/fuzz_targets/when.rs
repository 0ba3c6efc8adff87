//! libFuzzer target `when`: see `secflow::fuzz_targets::when`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::when(data));
