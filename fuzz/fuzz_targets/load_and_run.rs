#![no_main]
//! See `igdemu::fuzz::load_and_run`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| igdemu::fuzz::load_and_run(data));
