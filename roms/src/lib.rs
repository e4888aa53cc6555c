//! `igdemu-roms`: option ROMs written by the igdemu project that reproduce what
//! Intel's legacy vBIOS does to the hardware, ROM image helpers, listings, and
//! discovery of external ROMs (Debian's `seabios` package, a user's `roms/local/`).
//!
//! ```
//! use igdemu_roms::{build, Options, Personality};
//! let rom = build(Personality::SnbLegacy, &Options::default()).unwrap();
//! assert_eq!(&rom[..2], &[0x55, 0xAA]);
//! assert_eq!(rom.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
//! ```

pub mod image;
pub mod personality;

pub use personality::{
    build, build_with_symbols, BuildError, BuiltRom, DelayTimer, Options, Personality, StolenSource,
};
pub mod broken;
pub mod discover;
pub mod listing;
pub mod shapes;

pub use listing::listing;
