#![no_main]
//! See `igdemu::fuzz::strict_guest_ops`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| igdemu::fuzz::strict_guest_ops(data));
