//! libFuzzer target `audit`: see `secflow::fuzz_targets::audit`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::audit(data));
