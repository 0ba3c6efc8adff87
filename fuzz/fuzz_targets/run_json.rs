//! libFuzzer target `run_json`: see `secflow::fuzz_targets::run_json`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secflow::fuzz_targets::run_json(data));
