//! Config space as bytes plus per-byte write and write-1-to-clear masks, in the
//! manner of cloud-hypervisor's `pci/src/configuration.rs` (facts, not code).

use super::{reg, status};

/// Size of conventional config space (PCI 3.0 §6.1).
pub const CONFIG_SPACE_SIZE: usize = 256;
/// Size of PCI Express extended config space (PCIe Base §7.2.2).
pub const EXTENDED_CONFIG_SPACE_SIZE: usize = 4096;

/// Errors building a config space (programming errors of a device model, never
/// guest-reachable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PciError {
    /// BAR index outside 0..=5, or a 64-bit BAR at index 5.
    #[error("BAR {index} cannot hold a {kind:?} BAR")]
    BadBarIndex {
        /// The BAR index asked for.
        index: usize,
        /// The kind of BAR.
        kind: BarKind,
    },
    /// BAR size not a power of two, or below the minimum for its kind.
    #[error("BAR size {size:#x} is not a power of two of at least {min:#x}")]
    BadBarSize {
        /// The size asked for.
        size: u64,
        /// The smallest legal size for the kind.
        min: u64,
    },
    /// No room left in config space for a capability.
    #[error("no room for a {len}-byte capability {id:#04x}")]
    NoCapabilityRoom {
        /// Capability ID.
        id: u8,
        /// Its length.
        len: usize,
    },
}

/// The kind of a base address register (PCI 3.0 §6.2.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BarKind {
    /// 32-bit memory BAR.
    Memory32 {
        /// Prefetchable bit.
        prefetchable: bool,
    },
    /// 64-bit memory BAR, occupying this BAR and the next.
    Memory64 {
        /// Prefetchable bit.
        prefetchable: bool,
    },
    /// I/O space BAR.
    Io,
}

/// One BAR as the device declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BarSpec {
    /// Memory or I/O, width.
    pub kind: BarKind,
    /// Size in bytes, a power of two.
    pub size: u64,
}

impl BarSpec {
    /// The low type bits that read back from the BAR (bits 3:0 or 1:0).
    fn type_bits(&self) -> u32 {
        match self.kind {
            BarKind::Memory32 { prefetchable } => u32::from(prefetchable) << 3,
            BarKind::Memory64 { prefetchable } => 0b100 | u32::from(prefetchable) << 3,
            BarKind::Io => 0b1,
        }
    }

    /// Address bits of the BAR that are writable (the size mask).
    fn address_mask(&self) -> u64 {
        !(self.size - 1)
    }
}

/// What a config write changed, for the bus to apply and the trace to record
/// ("side effects as returned values").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConfigWrite {
    /// Bit i set: BAR i's decoded address changed.
    pub bars_moved: u8,
    /// The command register changed (decode enables).
    pub command_changed: bool,
    /// The write started a function-level reset (set by the device, not here).
    pub flr: bool,
}

/// The decode-relevant state of a config space (BAR addresses, command
/// register), to tell what a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DecodeState {
    bars: [Option<u64>; 6],
    command: u16,
}

impl ConfigWrite {
    /// Merge two effects.
    #[must_use]
    pub fn merge(self, other: ConfigWrite) -> ConfigWrite {
        ConfigWrite {
            bars_moved: self.bars_moved | other.bars_moved,
            command_changed: self.command_changed | other.command_changed,
            flr: self.flr | other.flr,
        }
    }
}

/// One function's config space: register bytes, write masks, W1C masks and the
/// BARs it declares.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigSpace {
    bytes: Vec<u8>,
    wmask: Vec<u8>,
    w1cmask: Vec<u8>,
    bars: [Option<BarSpec>; 6],
    /// Offset of the last capability added (0 = none yet).
    last_cap: u8,
    /// Next free offset for a capability.
    next_cap: u16,
}

impl std::fmt::Debug for ConfigSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSpace")
            .field(
                "vendor",
                &format_args!("{:#06x}", self.read_u16(reg::VENDOR_ID)),
            )
            .field(
                "device",
                &format_args!("{:#06x}", self.read_u16(reg::DEVICE_ID)),
            )
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl ConfigSpace {
    /// A type 0 header with the given identity; the command register's I/O,
    /// memory, bus-master and INTx-disable bits, the status error bits (W1C),
    /// cache line size and interrupt line are writable. `len` is
    /// [`CONFIG_SPACE_SIZE`] or [`EXTENDED_CONFIG_SPACE_SIZE`].
    #[must_use]
    pub fn new(vendor: u16, device: u16, class_code: u32, revision: u8, len: usize) -> Self {
        let len = if len > CONFIG_SPACE_SIZE {
            EXTENDED_CONFIG_SPACE_SIZE
        } else {
            CONFIG_SPACE_SIZE
        };
        let mut cs = Self {
            bytes: vec![0; len],
            wmask: vec![0; len],
            w1cmask: vec![0; len],
            bars: [None; 6],
            last_cap: 0,
            next_cap: 0x40,
        };
        cs.set_u16(reg::VENDOR_ID, vendor);
        cs.set_u16(reg::DEVICE_ID, device);
        cs.set_u8(reg::REVISION_ID, revision);
        cs.set_u8(reg::PROG_IF, class_code as u8);
        cs.set_u8(reg::SUBCLASS, (class_code >> 8) as u8);
        cs.set_u8(reg::CLASS, (class_code >> 16) as u8);
        let cmd_mask = super::command::IO
            | super::command::MEMORY
            | super::command::BUS_MASTER
            | super::command::INTX_DISABLE;
        cs.set_wmask_u16(reg::COMMAND, cmd_mask);
        cs.set_w1c_u16(reg::STATUS, status::W1C_ERRORS);
        cs.set_wmask_u8(reg::CACHE_LINE_SIZE, 0xFF);
        cs.set_wmask_u8(reg::INTERRUPT_LINE, 0xFF);
        cs
    }

    /// Length of this config space in bytes (256 or 4096).
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a config space has at least the header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Declare BAR `index`. The address bits below the size read back as zero, so
    /// a guest sizes the BAR by writing all-ones and reading back.
    pub fn add_bar(&mut self, index: usize, spec: BarSpec) -> Result<(), PciError> {
        let min = match spec.kind {
            BarKind::Io => 4,
            _ => 16,
        };
        if !spec.size.is_power_of_two() || spec.size < min {
            return Err(PciError::BadBarSize {
                size: spec.size,
                min,
            });
        }
        let wide = matches!(spec.kind, BarKind::Memory64 { .. });
        if index > 5 || (wide && index > 4) || (!wide && spec.size > 1 << 32) {
            return Err(PciError::BadBarIndex {
                index,
                kind: spec.kind,
            });
        }
        let off = reg::BAR0 + 4 * index as u16;
        let mask = spec.address_mask();
        self.set_u32(off, spec.type_bits());
        let low_mask = match spec.kind {
            BarKind::Io => (mask as u32) & 0xFFFF_FFFC,
            _ => (mask as u32) & 0xFFFF_FFF0,
        };
        self.set_wmask_u32(off, low_mask);
        if let Some(slot) = self.bars.get_mut(index) {
            *slot = Some(spec);
        }
        if wide {
            self.set_u32(off + 4, 0);
            self.set_wmask_u32(off + 4, (mask >> 32) as u32);
        }
        Ok(())
    }

    /// The BAR declared at `index`.
    #[must_use]
    pub fn bar_spec(&self, index: usize) -> Option<BarSpec> {
        self.bars.get(index).copied().flatten()
    }

    /// The address BAR `index` decodes (type bits stripped), or `None` if the BAR
    /// is not declared.
    #[must_use]
    pub fn bar_address(&self, index: usize) -> Option<u64> {
        let spec = self.bar_spec(index)?;
        let off = reg::BAR0 + 4 * index as u16;
        let low = u64::from(self.read_u32(off));
        Some(match spec.kind {
            BarKind::Io => low & !0x3,
            BarKind::Memory32 { .. } => low & !0xF,
            BarKind::Memory64 { .. } => (u64::from(self.read_u32(off + 4)) << 32 | low) & !0xF,
        })
    }

    /// Write a BAR's address as firmware would (bypassing the write mask for the
    /// type bits, keeping them).
    pub fn set_bar_address(&mut self, index: usize, addr: u64) {
        let Some(spec) = self.bar_spec(index) else {
            return;
        };
        let off = reg::BAR0 + 4 * index as u16;
        let addr = addr & spec.address_mask();
        self.set_u32(off, (addr as u32) | spec.type_bits());
        if matches!(spec.kind, BarKind::Memory64 { .. }) {
            self.set_u32(off + 4, (addr >> 32) as u32);
        }
    }

    /// Append a capability with the given ID and body (bytes after the 2-byte
    /// header) to the list, linking it and setting the status bit. Returns its
    /// offset. Its bytes are read-only until the caller opens them with the
    /// `set_wmask_*` calls.
    pub fn add_capability(&mut self, id: u8, body: &[u8]) -> Result<u16, PciError> {
        let len = body.len() + 2;
        let off = (self.next_cap + 3) & !3;
        if usize::from(off) + len > CONFIG_SPACE_SIZE {
            return Err(PciError::NoCapabilityRoom { id, len });
        }
        self.set_u8(off, id);
        self.set_u8(off + 1, 0);
        for (i, b) in body.iter().enumerate() {
            self.set_u8(off + 2 + i as u16, *b);
        }
        if self.last_cap == 0 {
            self.set_u8(reg::CAPABILITIES_POINTER, off as u8);
            let st = self.read_u16(reg::STATUS) | status::CAP_LIST;
            self.set_u16(reg::STATUS, st);
        } else {
            self.set_u8(u16::from(self.last_cap) + 1, off as u8);
        }
        self.last_cap = off as u8;
        self.next_cap = off + len as u16;
        Ok(off)
    }

    /// Place a capability at a fixed offset (real devices do: the IGD's vendor
    /// capability sits at 0xE0), linking it into the list.
    pub fn add_capability_at(&mut self, off: u16, id: u8, body: &[u8]) -> Result<u16, PciError> {
        let saved = self.next_cap;
        self.next_cap = off;
        let r = self.add_capability(id, body);
        self.next_cap = saved.max(self.next_cap);
        r
    }

    /// Walk the capability list and return the offset of the first capability
    /// with `id`. The walk is bounded, so a looping list cannot hang it.
    #[must_use]
    pub fn find_capability(&self, id: u8) -> Option<u16> {
        if self.read_u16(reg::STATUS) & status::CAP_LIST == 0 {
            return None;
        }
        let mut off = u16::from(self.read_u8(reg::CAPABILITIES_POINTER) & !3);
        for _ in 0..48 {
            if off < 0x40 {
                return None;
            }
            if self.read_u8(off) == id {
                return Some(off);
            }
            off = u16::from(self.read_u8(off + 1) & !3);
        }
        None
    }

    /// Guest read of `data.len()` bytes at `offset`. Bytes beyond the space read
    /// as all-ones, as an absent register does.
    pub fn read(&self, offset: u16, data: &mut [u8]) {
        for (i, d) in data.iter_mut().enumerate() {
            *d = self
                .bytes
                .get(usize::from(offset) + i)
                .copied()
                .unwrap_or(0xFF);
        }
    }

    /// Guest write: each byte keeps its read-only bits, takes the writable bits
    /// from `data`, and clears the write-1-to-clear bits set in `data`. Bytes
    /// beyond the space are dropped.
    pub fn write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        let before = self.decode_state();
        for (i, &v) in data.iter().enumerate() {
            let at = usize::from(offset) + i;
            let (Some(b), Some(&w), Some(&c)) =
                (self.bytes.get(at), self.wmask.get(at), self.w1cmask.get(at))
            else {
                break;
            };
            let kept = b & !w;
            let written = v & w;
            let cleared = v & c;
            if let Some(slot) = self.bytes.get_mut(at) {
                *slot = (kept | written) & !cleared;
            }
        }
        self.changes_since(&before)
    }

    /// The BAR addresses and command register now.
    pub(crate) fn decode_state(&self) -> DecodeState {
        DecodeState {
            bars: std::array::from_fn(|i| self.bar_address(i)),
            command: self.read_u16(reg::COMMAND),
        }
    }

    /// Which BARs moved and whether the command register changed since `before`.
    pub(crate) fn changes_since(&self, before: &DecodeState) -> ConfigWrite {
        let mut eff = ConfigWrite {
            command_changed: self.read_u16(reg::COMMAND) != before.command,
            ..ConfigWrite::default()
        };
        for (i, before) in before.bars.iter().enumerate() {
            if self.bar_address(i) != *before {
                eff.bars_moved |= 1 << i;
            }
        }
        eff
    }

    /// Read a byte (host side, no masks). Out of range reads 0xFF.
    #[must_use]
    pub fn read_u8(&self, off: u16) -> u8 {
        self.bytes.get(usize::from(off)).copied().unwrap_or(0xFF)
    }

    /// Read a little-endian 16-bit value (host side).
    #[must_use]
    pub fn read_u16(&self, off: u16) -> u16 {
        let mut b = [0; 2];
        self.read(off, &mut b);
        u16::from_le_bytes(b)
    }

    /// Read a little-endian 32-bit value (host side).
    #[must_use]
    pub fn read_u32(&self, off: u16) -> u32 {
        let mut b = [0; 4];
        self.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    /// Read a little-endian 64-bit value (host side).
    #[must_use]
    pub fn read_u64(&self, off: u16) -> u64 {
        let mut b = [0; 8];
        self.read(off, &mut b);
        u64::from_le_bytes(b)
    }

    fn set_bytes(buf: &mut [u8], off: u16, v: &[u8]) {
        for (i, b) in v.iter().enumerate() {
            if let Some(slot) = buf.get_mut(usize::from(off) + i) {
                *slot = *b;
            }
        }
    }

    /// Set a byte, ignoring masks (device side).
    pub fn set_u8(&mut self, off: u16, v: u8) {
        Self::set_bytes(&mut self.bytes, off, &[v]);
    }
    /// Set a 16-bit value, ignoring masks (device side).
    pub fn set_u16(&mut self, off: u16, v: u16) {
        Self::set_bytes(&mut self.bytes, off, &v.to_le_bytes());
    }
    /// Set a 32-bit value, ignoring masks (device side).
    pub fn set_u32(&mut self, off: u16, v: u32) {
        Self::set_bytes(&mut self.bytes, off, &v.to_le_bytes());
    }
    /// Set a 64-bit value, ignoring masks (device side).
    pub fn set_u64(&mut self, off: u16, v: u64) {
        Self::set_bytes(&mut self.bytes, off, &v.to_le_bytes());
    }
    /// Set the writable bits of a byte.
    pub fn set_wmask_u8(&mut self, off: u16, m: u8) {
        Self::set_bytes(&mut self.wmask, off, &[m]);
    }
    /// Set the writable bits of a 16-bit register.
    pub fn set_wmask_u16(&mut self, off: u16, m: u16) {
        Self::set_bytes(&mut self.wmask, off, &m.to_le_bytes());
    }
    /// Set the writable bits of a 32-bit register.
    pub fn set_wmask_u32(&mut self, off: u16, m: u32) {
        Self::set_bytes(&mut self.wmask, off, &m.to_le_bytes());
    }
    /// Set the write-1-to-clear bits of a 16-bit register.
    pub fn set_w1c_u16(&mut self, off: u16, m: u16) {
        Self::set_bytes(&mut self.w1cmask, off, &m.to_le_bytes());
    }
    /// Set the write-1-to-clear bits of a 32-bit register.
    pub fn set_w1c_u32(&mut self, off: u16, m: u32) {
        Self::set_bytes(&mut self.w1cmask, off, &m.to_le_bytes());
    }

    /// The writable bits of a 32-bit register (for tests and inspection).
    #[must_use]
    pub fn wmask_u32(&self, off: u16) -> u32 {
        mask_u32(&self.wmask, off)
    }

    /// The write-1-to-clear bits of a 32-bit register (for tests and inspection).
    #[must_use]
    pub fn w1cmask_u32(&self, off: u16) -> u32 {
        mask_u32(&self.w1cmask, off)
    }

    /// The raw bytes (for snapshots and FLR comparisons).
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The little-endian dword of a per-byte `mask` at `off` (0 beyond it).
fn mask_u32(mask: &[u8], off: u16) -> u32 {
    let mut b = [0u8; 4];
    for (i, d) in b.iter_mut().enumerate() {
        *d = mask.get(usize::from(off) + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

/// Capability bodies for the standard capabilities igdemu's devices carry.
pub mod cap_body {
    /// Power Management capability body (PCI PM 1.2 §3.2): PMC = version 3,
    /// D1/D2 unsupported; PMCSR = D0.
    pub fn pm() -> [u8; 6] {
        [0x22, 0x00, 0x00, 0x00, 0x00, 0x00]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::{cap_id, command, reg};

    fn dev() -> ConfigSpace {
        let mut cs = ConfigSpace::new(0x8086, 0x0126, 0x030000, 9, CONFIG_SPACE_SIZE);
        cs.add_bar(
            0,
            BarSpec {
                kind: BarKind::Memory64 {
                    prefetchable: false,
                },
                size: 4 << 20,
            },
        )
        .unwrap();
        cs.add_bar(
            2,
            BarSpec {
                kind: BarKind::Memory64 { prefetchable: true },
                size: 256 << 20,
            },
        )
        .unwrap();
        cs.add_bar(
            4,
            BarSpec {
                kind: BarKind::Io,
                size: 64,
            },
        )
        .unwrap();
        cs
    }

    fn rd32(cs: &ConfigSpace, off: u16) -> u32 {
        let mut b = [0; 4];
        cs.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn identity_is_read_only() {
        let mut cs = dev();
        cs.write(reg::VENDOR_ID, &[0xFF, 0xFF, 0xFF, 0xFF]);
        cs.write(reg::REVISION_ID, &[0, 0, 0, 0]);
        assert_eq!(rd32(&cs, 0), 0x0126_8086);
        assert_eq!(rd32(&cs, 8), 0x0300_0009);
    }

    #[test]
    fn memory64_bar_sizing_reads_back_size_mask_and_type() {
        let mut cs = dev();
        cs.write(0x10, &0xFFFF_FFFFu32.to_le_bytes());
        cs.write(0x14, &0xFFFF_FFFFu32.to_le_bytes());
        // 4 MiB, 64-bit, non-prefetchable: type bits 0b0100.
        assert_eq!(rd32(&cs, 0x10), 0xFFC0_0004);
        assert_eq!(rd32(&cs, 0x14), 0xFFFF_FFFF);
        cs.write(0x18, &0xFFFF_FFFFu32.to_le_bytes());
        assert_eq!(rd32(&cs, 0x18), 0xF000_000C, "256 MiB prefetchable 64-bit");
    }

    #[test]
    fn io_bar_sizing_and_decode() {
        let mut cs = dev();
        cs.write(0x20, &0xFFFF_FFFFu32.to_le_bytes());
        assert_eq!(rd32(&cs, 0x20), 0xFFFF_FFC1);
        let eff = cs.write(0x20, &0x0000_F001u32.to_le_bytes());
        assert_eq!(cs.bar_address(4), Some(0xF000));
        assert_eq!(eff.bars_moved, 1 << 4);
    }

    #[test]
    fn bar_decode_of_64_bit_memory() {
        let mut cs = dev();
        cs.write(0x10, &0xE000_0000u32.to_le_bytes());
        cs.write(0x14, &0x1u32.to_le_bytes());
        assert_eq!(cs.bar_address(0), Some(0x1_E000_0000));
        cs.set_bar_address(2, 0xC000_0000);
        assert_eq!(rd32(&cs, 0x18), 0xC000_000C);
    }

    #[test]
    fn status_error_bits_are_write_one_to_clear() {
        let mut cs = dev();
        cs.set_u16(reg::STATUS, 0x8010 | 0x2000);
        cs.write(reg::STATUS, &0x8000u16.to_le_bytes());
        assert_eq!(
            cs.read_u16(reg::STATUS),
            0x2010,
            "only bit 15 cleared, cap bit is RO"
        );
    }

    #[test]
    fn command_writes_only_the_implemented_bits() {
        let mut cs = dev();
        let eff = cs.write(reg::COMMAND, &0xFFFFu16.to_le_bytes());
        assert_eq!(
            cs.read_u16(reg::COMMAND),
            command::IO | command::MEMORY | command::BUS_MASTER | command::INTX_DISABLE
        );
        assert!(eff.command_changed);
    }

    #[test]
    fn capability_list_is_linked_and_found() {
        let mut cs = dev();
        let pm = cs.add_capability(cap_id::PM, &cap_body::pm()).unwrap();
        let af = cs.add_capability(cap_id::AF, &[0x06, 0x03, 0, 0]).unwrap();
        assert_eq!(cs.read_u8(reg::CAPABILITIES_POINTER) as u16, pm);
        assert_eq!(cs.read_u8(pm + 1) as u16, af);
        assert_eq!(cs.read_u8(af + 1), 0);
        assert_eq!(cs.find_capability(cap_id::AF), Some(af));
        assert_eq!(cs.find_capability(cap_id::MSI), None);
        assert!(cs.read_u16(reg::STATUS) & crate::pci::status::CAP_LIST != 0);
    }

    #[test]
    fn looping_capability_list_does_not_hang() {
        let mut cs = dev();
        let pm = cs.add_capability(cap_id::PM, &cap_body::pm()).unwrap();
        cs.set_u8(pm + 1, pm as u8); // points at itself
        assert_eq!(cs.find_capability(cap_id::AF), None);
    }

    #[test]
    fn out_of_range_access_reads_ones_and_drops_writes() {
        let mut cs = dev();
        let mut b = [0; 4];
        cs.read(254, &mut b);
        assert_eq!(b[2..], [0xFF, 0xFF]);
        cs.write(0xFFFF, &[1, 2, 3, 4]);
    }

    #[test]
    fn bad_bars_are_refused() {
        let mut cs = dev();
        assert!(cs
            .add_bar(
                5,
                BarSpec {
                    kind: BarKind::Memory64 {
                        prefetchable: false
                    },
                    size: 16
                }
            )
            .is_err());
        assert!(cs
            .add_bar(
                1,
                BarSpec {
                    kind: BarKind::Io,
                    size: 3
                }
            )
            .is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_guest_write_changes_read_only_bytes(off in 0u16..300, data in proptest::collection::vec(proptest::num::u8::ANY, 1..5)) {
            let mut cs = dev();
            let before = cs.clone();
            cs.write(off, &data);
            for i in 0..CONFIG_SPACE_SIZE {
                let w = before.wmask[i] | before.w1cmask[i];
                proptest::prop_assert_eq!(cs.bytes[i] & !w, before.bytes[i] & !w, "byte {:#x}", i);
            }
        }
    }
}
