//! The Intel integrated graphics device, host side: what the real hardware does.
//! The device model knows host physical addresses only (DESIGN.md).

pub mod dma;
pub mod generation;
pub mod pte;

pub use dma::{DmaAccess, DmaBus, DmaFault};
pub use generation::{Gen, GgcDecode, Platform, PlatformInfo, PteFormat};
pub use pte::{Pte, PteError};
