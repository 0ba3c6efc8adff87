//! libFuzzer target `spans`: see `secflow::fuzz_targets::spans`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::spans(data));
