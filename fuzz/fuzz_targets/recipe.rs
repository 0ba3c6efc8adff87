//! libFuzzer target `recipe`: see `secflow::fuzz_targets::recipe`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::recipe(data));
