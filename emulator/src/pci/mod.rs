//! Generic PCI configuration space (PCI Local Bus Specification 3.0, chapter 6;
//! PCI Express Base Specification, chapter 7 for the extended space).
//!
//! Nothing here is IGD-specific: registers as bytes with per-byte write masks and
//! write-1-to-clear masks, a capability-list builder and BAR sizing handled once.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod config;
pub use config::cap_body;

pub use config::{
    BarKind, BarSpec, ConfigSpace, ConfigWrite, PciError, CONFIG_SPACE_SIZE,
    EXTENDED_CONFIG_SPACE_SIZE,
};

/// Standard config-space register offsets (PCI 3.0 §6.1, type 0 header).
pub mod reg {
    /// Vendor ID, 16-bit, read-only.
    pub const VENDOR_ID: u16 = 0x00;
    /// Device ID, 16-bit, read-only.
    pub const DEVICE_ID: u16 = 0x02;
    /// Command register, 16-bit.
    pub const COMMAND: u16 = 0x04;
    /// Status register, 16-bit; error bits are write-1-to-clear.
    pub const STATUS: u16 = 0x06;
    /// Revision ID, 8-bit.
    pub const REVISION_ID: u16 = 0x08;
    /// Programming interface, 8-bit.
    pub const PROG_IF: u16 = 0x09;
    /// Sub-class code, 8-bit.
    pub const SUBCLASS: u16 = 0x0A;
    /// Base class code, 8-bit.
    pub const CLASS: u16 = 0x0B;
    /// Cache line size, 8-bit.
    pub const CACHE_LINE_SIZE: u16 = 0x0C;
    /// Header type, 8-bit; bit 7 = multi-function.
    pub const HEADER_TYPE: u16 = 0x0E;
    /// Base address register 0; BARs 1-5 follow at 4-byte steps.
    pub const BAR0: u16 = 0x10;
    /// Subsystem vendor ID, 16-bit.
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2C;
    /// Subsystem ID, 16-bit.
    pub const SUBSYSTEM_ID: u16 = 0x2E;
    /// Expansion ROM base address.
    pub const ROM_ADDRESS: u16 = 0x30;
    /// Capabilities pointer, 8-bit.
    pub const CAPABILITIES_POINTER: u16 = 0x34;
    /// Interrupt line, 8-bit, writable scratch.
    pub const INTERRUPT_LINE: u16 = 0x3C;
    /// Interrupt pin, 8-bit, read-only.
    pub const INTERRUPT_PIN: u16 = 0x3D;
}

/// Command register bits (PCI 3.0 §6.2.2).
pub mod command {
    /// I/O space enable.
    pub const IO: u16 = 1 << 0;
    /// Memory space enable.
    pub const MEMORY: u16 = 1 << 1;
    /// Bus master enable.
    pub const BUS_MASTER: u16 = 1 << 2;
    /// Interrupt disable.
    pub const INTX_DISABLE: u16 = 1 << 10;
}

/// Status register bits (PCI 3.0 §6.2.3).
pub mod status {
    /// A capability list is present.
    pub const CAP_LIST: u16 = 1 << 4;
    /// Bits the guest clears by writing 1 (parity, aborts, SERR).
    pub const W1C_ERRORS: u16 = 0xF900;
}

/// Capability IDs (PCI Code and ID Assignment Specification §2).
pub mod cap_id {
    /// Power management.
    pub const PM: u8 = 0x01;
    /// Vendor specific (IGD capability at 0xE0 on Intel parts).
    pub const VENDOR: u8 = 0x09;
    /// MSI.
    pub const MSI: u8 = 0x05;
    /// PCI Express.
    pub const PCIE: u8 = 0x10;
    /// Advanced Features (FLR for conventional PCI functions).
    pub const AF: u8 = 0x13;
}

/// The location of one function on the (single) PCI bus 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize)]
pub struct Bdf {
    /// Bus number.
    pub bus: u8,
    /// Device number, 0-31.
    pub device: u8,
    /// Function number, 0-7.
    pub function: u8,
}

impl Bdf {
    /// A BDF, with device and function masked to their field widths.
    #[must_use]
    pub const fn new(bus: u8, device: u8, function: u8) -> Self {
        Self {
            bus,
            device: device & 0x1F,
            function: function & 7,
        }
    }

    /// The BDF packed as BIOSes pass it (bus in bits 15:8, devfn in 7:0).
    #[must_use]
    pub const fn to_u16(self) -> u16 {
        (self.bus as u16) << 8 | (self.device as u16) << 3 | self.function as u16
    }

    /// Unpack the BIOS form (AH = bus, AL = devfn).
    #[must_use]
    pub const fn from_u16(v: u16) -> Self {
        Self::new((v >> 8) as u8, ((v >> 3) & 0x1F) as u8, (v & 7) as u8)
    }
}

impl std::fmt::Display for Bdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// What a PCI function offers the bus it sits on (the seam crosvm calls
/// `PciDevice`): config accesses and accesses to its BARs. Offsets and widths are
/// guest-controlled; implementations bound them and never panic.
pub trait PciFunction {
    /// Read `data.len()` (1, 2 or 4) bytes of config space at `offset`.
    fn config_read(&mut self, offset: u16, data: &mut [u8]);
    /// Write config space; returns what the write changed for the bus to apply.
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite;
    /// The function's config space, for BAR decode and inspection.
    fn config(&self) -> &ConfigSpace;
}
