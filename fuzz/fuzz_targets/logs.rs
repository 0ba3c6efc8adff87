//! libFuzzer target `logs`: see `secflow::fuzz_targets::logs`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::logs(data));
