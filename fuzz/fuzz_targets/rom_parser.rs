#![no_main]
//! See `igdemu::fuzz::rom_parser`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| igdemu::fuzz::rom_parser(data));
