#![no_main]
//! See `igdemu::fuzz::pte_decode`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| igdemu::fuzz::pte_decode(data));
