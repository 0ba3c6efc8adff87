//! libFuzzer target `template`: see `secflow::fuzz_targets::template`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::template(data));
