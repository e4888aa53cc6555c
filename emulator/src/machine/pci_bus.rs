//! PCI bus 0 of the machine: the device slots, the [`BusDevice`] seam that any
//! PCI function implements to sit in a slot, and the simple functions the
//! machine itself provides (host bridge 00:00.0, ISA/LPC bridge 00:1f.0, the
//! Bochs/QEMU standard VGA at 00:03.0).
//!
//! The IGD (behind its passthrough layer) plugs into the display slot 00:02.0
//! through [`crate::machine::Machine::plug`]: it implements [`BusDevice`], the
//! machine assigns its BARs as firmware would and routes BAR accesses to it.

use std::collections::BTreeMap;

use crate::pci::{reg, BarKind, BarSpec, Bdf, ConfigSpace, ConfigWrite, PciFunction};

/// Host memory standing behind a RAM-like BAR (a frame buffer).
///
/// # Safety contract
/// `ptr` must stay valid for `len` bytes, readable and writable, for as long as
/// the device that returned it is alive; the machine drops devices only after
/// the CPU engine that maps the memory is closed.
#[derive(Clone, Copy, Debug)]
pub struct RamBacking {
    /// Host pointer to the first byte.
    pub ptr: *mut u8,
    /// Length in bytes (a multiple of 4 KiB, at least the BAR size).
    pub len: u64,
}

/// A PCI function that can sit in a slot of the machine's bus: config space
/// plus the accesses to its BARs. BAR accesses arrive with the BAR index and
/// the offset inside the BAR; widths are 1, 2, 4 or 8 bytes and guest
/// controlled, so implementations bound them and never panic.
pub trait BusDevice: PciFunction + std::any::Any {
    /// Short name for traces and errors.
    fn name(&self) -> &str;

    /// Host memory backing memory BAR `bar`, if the BAR is plain memory (mapped
    /// straight into the CPU, no callbacks). Default: none, accesses go to
    /// [`BusDevice::bar_read`]/[`BusDevice::bar_write`].
    fn ram_bar(&mut self, _bar: u8) -> Option<RamBacking> {
        None
    }

    /// Whether memory BAR `bar` is a graphics aperture (traced as
    /// [`crate::trace::EventKind::Aperture`] rather than MMIO).
    fn is_aperture(&self, _bar: u8) -> bool {
        false
    }

    /// Read from BAR `bar` (memory or I/O) at `offset`. Default: all-ones.
    fn bar_read(&mut self, _bar: u8, _offset: u64, data: &mut [u8]) {
        data.fill(0xFF);
    }

    /// Write to BAR `bar` at `offset`. Default: dropped.
    fn bar_write(&mut self, _bar: u8, _offset: u64, _data: &[u8]) {}

    /// Hand over events the device recorded since the last call (the bus
    /// stamps them with the CS:IP of the access). Default: none.
    fn drain_events(&mut self, _at: crate::trace::CsIp, _out: &mut Vec<super::EventKind>) {}

    /// Whether a write to BAR `bar` at `offset` only selects what later
    /// accesses reach (an index register, such as the IGD's `MMIO_INDEX`): a
    /// guest polling through an index/data pair rewrites the index every
    /// time, which is waiting, not work ([`crate::vtime::IdleDetector`]).
    /// Default: false.
    fn is_index_write(&self, _bar: u8, _offset: u64) -> bool {
        false
    }

    /// What a read of BAR `bar` at `offset` reaches, beyond the offset itself
    /// (the register an index selects), so that polls of different registers
    /// through one data port count as different sites. Default: 0.
    fn read_target(&self, _bar: u8, _offset: u64) -> u64 {
        0
    }

    /// Virtual time (emulated ns since power-on) at the access that follows;
    /// the bus calls it before each BAR access. Models that complete work
    /// later keep a [`crate::vtime::Timer`]. Default: ignored.
    fn set_time(&mut self, _now_ns: u64) {}

    /// The earliest virtual time after `now_ns` at which the device changes
    /// state on its own (a [`crate::vtime::Timer`] pending), so that a guest
    /// polling for it can skip ahead ([`crate::vtime::IdleDetector`]).
    /// Default: none.
    fn next_deadline(&self, _now_ns: u64) -> Option<u64> {
        None
    }

    /// The I/O base of the ACPI power management block this function decodes
    /// as its config space stands now (the PM timer is at base + 8). Default:
    /// none.
    fn acpi_pm_base(&self) -> Option<u16> {
        None
    }
}

/// How a function's config space places an ACPI PM I/O block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmDecode {
    /// ICH/PCH LPC bridge: `PMBASE` (0x40) bits 15:7, decoded while
    /// `ACPI_CNTL` (0x44) bit 7 `ACPI_EN` is set.
    IchLpc,
    /// PIIX4 power management function: `PMBA` (0x40) bits 15:6, decoded
    /// while `PMREGMISC` (0x80) bit 0 `PMIOSE` is set (QEMU `hw/acpi/piix4.c`
    /// `pm_io_space_update`).
    Piix4,
}

/// A function that is nothing but its config space (bridges), optionally
/// decoding an ACPI PM block from it.
#[derive(Clone, Debug)]
pub struct SimpleFunction {
    name: String,
    config: ConfigSpace,
    pm: Option<PmDecode>,
}

impl SimpleFunction {
    /// A function with the given config space.
    #[must_use]
    pub fn new(name: &str, config: ConfigSpace) -> Self {
        Self {
            name: name.to_owned(),
            config,
            pm: None,
        }
    }

    /// The same function, decoding an ACPI PM block as `decode` says.
    #[must_use]
    pub fn with_pm_decode(mut self, decode: PmDecode) -> Self {
        self.pm = Some(decode);
        self
    }

    /// Mutable config space (host side, to set defaults).
    pub fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }
}

impl PciFunction for SimpleFunction {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        self.config.write(offset, data)
    }
    fn config(&self) -> &ConfigSpace {
        &self.config
    }
}

impl BusDevice for SimpleFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn acpi_pm_base(&self) -> Option<u16> {
        let (base, enabled) = match self.pm? {
            PmDecode::IchLpc => (
                self.config.read_u32(LPC_PMBASE) & 0xFF80,
                self.config.read_u8(LPC_ACPI_CNTL) & 0x80 != 0,
            ),
            PmDecode::Piix4 => (
                self.config.read_u32(PIIX4_PMBA) & 0xFFC0,
                self.config.read_u8(PIIX4_PMREGMISC) & 1 != 0,
            ),
        };
        (enabled && base != 0).then_some(base as u16)
    }
}

/// Class codes.
pub mod class {
    /// Host bridge.
    pub const HOST_BRIDGE: u32 = 0x06_0000;
    /// ISA bridge (the LPC bridge reports this).
    pub const ISA_BRIDGE: u32 = 0x06_0100;
    /// VGA-compatible display controller.
    pub const VGA: u32 = 0x03_0000;
}

/// LPC bridge register: ACPI PM I/O base (ICH `PMBASE`, bits 15:7, bit 0 = I/O).
pub const LPC_PMBASE: u16 = 0x40;
/// LPC bridge register: ACPI control (bit 7 = ACPI I/O decode enable).
pub const LPC_ACPI_CNTL: u16 = 0x44;
/// PIIX4 PM function register: PM I/O base (`PMBA`, bits 15:6, bit 0 = I/O).
pub const PIIX4_PMBA: u16 = 0x40;
/// PIIX4 PM function register: bit 0 enables the PM I/O space (`PMREGMISC`).
pub const PIIX4_PMREGMISC: u16 = 0x80;
/// Offset of the PM timer in the ACPI PM I/O block.
pub const PM_TIMER_OFFSET: u16 = 0x08;

/// The host bridge at 00:00.0 with the given identity.
#[must_use]
pub fn host_bridge(device_id: u16, revision: u8) -> SimpleFunction {
    let cs = ConfigSpace::new(0x8086, device_id, class::HOST_BRIDGE, revision, 256);
    SimpleFunction::new("host-bridge", cs)
}

/// The ISA/LPC bridge at 00:1f.0 with the given identity and ACPI PM base.
#[must_use]
pub fn lpc_bridge(device_id: u16, revision: u8, pmbase: u16) -> SimpleFunction {
    let mut cs = ConfigSpace::new(0x8086, device_id, class::ISA_BRIDGE, revision, 256);
    cs.set_u8(reg::HEADER_TYPE, 0x80); // multi-function, as real PCHs report
    cs.set_u32(LPC_PMBASE, u32::from(pmbase) | 1);
    cs.set_wmask_u32(LPC_PMBASE, 0xFF80);
    cs.set_u8(LPC_ACPI_CNTL, 0x80);
    cs.set_wmask_u8(LPC_ACPI_CNTL, 0xFF);
    SimpleFunction::new("lpc-bridge", cs).with_pm_decode(PmDecode::IchLpc)
}

/// Vendor and device ID of the Bochs/QEMU standard VGA.
pub const STDVGA_ID: (u16, u16) = (0x1234, 0x1111);
/// Its frame buffer (BAR0) size.
pub const STDVGA_VRAM: u64 = 16 << 20;

/// The Bochs/QEMU standard VGA (what SeaVGABIOS's stdvga build drives): BAR0 is
/// a 16 MiB prefetchable linear frame buffer backed by host memory. Its VGA
/// ports and DISPI registers live on the machine's port bus.
pub struct StdVga {
    config: ConfigSpace,
    vram: vm_memory::MmapRegion,
}

impl std::fmt::Debug for StdVga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdVga")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StdVga {
    /// A standard VGA with [`STDVGA_VRAM`] of (lazily allocated) video memory.
    pub fn new() -> Result<Self, vm_memory::mmap::MmapRegionError> {
        let mut config = ConfigSpace::new(STDVGA_ID.0, STDVGA_ID.1, class::VGA, 2, 256);
        // Cannot fail: index 0, power-of-two size.
        let _ = config.add_bar(
            0,
            BarSpec {
                kind: BarKind::Memory32 { prefetchable: true },
                size: STDVGA_VRAM,
            },
        );
        let vram = vm_memory::MmapRegion::new(STDVGA_VRAM as usize)?;
        Ok(Self { config, vram })
    }

    /// The frame buffer contents.
    #[must_use]
    pub fn vram(&self) -> &[u8] {
        // SAFETY: the region is a private anonymous mapping of `size()` bytes
        // that lives as long as `self`; the CPU writes it only while the
        // machine runs, which needs `&mut Machine`, excluding this borrow.
        unsafe { std::slice::from_raw_parts(self.vram.as_ptr(), self.vram.size()) }
    }
}

impl PciFunction for StdVga {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        self.config.write(offset, data)
    }
    fn config(&self) -> &ConfigSpace {
        &self.config
    }
}

impl BusDevice for StdVga {
    fn name(&self) -> &str {
        "stdvga"
    }
    fn ram_bar(&mut self, bar: u8) -> Option<RamBacking> {
        (bar == 0).then(|| RamBacking {
            ptr: self.vram.as_ptr(),
            len: self.vram.size() as u64,
        })
    }
}

/// Bus 0: up to 32 devices × 8 functions, keyed by devfn.
#[derive(Default)]
pub struct PciBus {
    slots: BTreeMap<u8, Box<dyn BusDevice>>,
}

impl std::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.slots
                    .iter()
                    .map(|(k, v)| (Bdf::from_u16(u16::from(*k)), v.name())),
            )
            .finish()
    }
}

fn devfn(bdf: Bdf) -> Option<u8> {
    (bdf.bus == 0).then_some((bdf.to_u16() & 0xFF) as u8)
}

impl PciBus {
    /// Put `dev` at `bdf` (bus 0 only), returning the previous occupant.
    pub fn insert(&mut self, bdf: Bdf, dev: Box<dyn BusDevice>) -> Option<Box<dyn BusDevice>> {
        let df = devfn(bdf)?;
        self.slots.insert(df, dev)
    }

    /// The function at `bdf`.
    pub fn get_mut(&mut self, bdf: Bdf) -> Option<&mut (dyn BusDevice + 'static)> {
        let df = devfn(bdf)?;
        self.slots.get_mut(&df).map(|b| b.as_mut())
    }

    /// The function at `bdf` (shared).
    #[must_use]
    pub fn get(&self, bdf: Bdf) -> Option<&(dyn BusDevice + 'static)> {
        let df = devfn(bdf)?;
        self.slots.get(&df).map(|b| b.as_ref())
    }

    /// The earliest pending device deadline after `now_ns`.
    #[must_use]
    pub fn next_deadline(&self, now_ns: u64) -> Option<u64> {
        self.slots
            .values()
            .filter_map(|d| d.next_deadline(now_ns))
            .filter(|d| *d > now_ns)
            .min()
    }

    /// Every occupied location, in devfn order.
    #[must_use]
    pub fn functions(&self) -> Vec<Bdf> {
        self.slots
            .keys()
            .map(|df| Bdf::from_u16(u16::from(*df)))
            .collect()
    }

    /// Config read; absent functions read all-ones. `data` is 1, 2 or 4 bytes.
    pub fn config_read(&mut self, bdf: Bdf, offset: u16, data: &mut [u8]) -> bool {
        match self.get_mut(bdf) {
            Some(d) => {
                d.config_read(offset, data);
                true
            }
            None => {
                data.fill(0xFF);
                false
            }
        }
    }

    /// Config write; writes to absent functions are dropped (`None`).
    pub fn config_write(&mut self, bdf: Bdf, offset: u16, data: &[u8]) -> Option<ConfigWrite> {
        self.get_mut(bdf).map(|d| d.config_write(offset, data))
    }

    /// The `index`-th function with this vendor and device ID (PCI BIOS
    /// B102h order: ascending devfn).
    #[must_use]
    pub fn find_device(&self, vendor: u16, device: u16, index: u16) -> Option<Bdf> {
        self.functions()
            .into_iter()
            .filter(|b| {
                self.get(*b).is_some_and(|d| {
                    d.config().read_u16(reg::VENDOR_ID) == vendor
                        && d.config().read_u16(reg::DEVICE_ID) == device
                })
            })
            .nth(usize::from(index))
    }

    /// The `index`-th function with this 24-bit class code (B103h).
    #[must_use]
    pub fn find_class(&self, class_code: u32, index: u16) -> Option<Bdf> {
        self.functions()
            .into_iter()
            .filter(|b| {
                self.get(*b)
                    .is_some_and(|d| d.config().read_u32(reg::REVISION_ID) >> 8 == class_code)
            })
            .nth(usize::from(index))
    }
}

/// Where firmware places BARs: memory from the start of the PCI hole upward,
/// I/O from 0xC000 upward, each naturally aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarAllocator {
    /// Next free memory address.
    pub next_mem: u64,
    /// End of the memory window (exclusive).
    pub mem_end: u64,
    /// Next free I/O port.
    pub next_io: u64,
}

impl BarAllocator {
    /// Assign every declared BAR of `dev` and enable decoding, as a BIOS does.
    /// Returns the BARs that did not fit.
    pub fn assign(&mut self, dev: &mut dyn BusDevice) -> Vec<u8> {
        let mut failed = Vec::new();
        let mut cmd = 0u16;
        for i in 0..6u8 {
            let Some(spec) = dev.config().bar_spec(usize::from(i)) else {
                continue;
            };
            let (next, end) = match spec.kind {
                BarKind::Io => (&mut self.next_io, 0x1_0000),
                _ => (&mut self.next_mem, self.mem_end),
            };
            let base = next.div_ceil(spec.size).saturating_mul(spec.size);
            if base.saturating_add(spec.size) > end {
                failed.push(i);
                continue;
            }
            *next = base + spec.size;
            let off = reg::BAR0 + 4 * u16::from(i);
            let lo = (base as u32).to_le_bytes();
            dev.config_write(off, &lo);
            if matches!(spec.kind, BarKind::Memory64 { .. }) {
                dev.config_write(off + 4, &((base >> 32) as u32).to_le_bytes());
            }
            cmd |= match spec.kind {
                BarKind::Io => crate::pci::command::IO,
                _ => crate::pci::command::MEMORY,
            };
        }
        let old = dev.config().read_u16(reg::COMMAND);
        dev.config_write(reg::COMMAND, &(old | cmd).to_le_bytes());
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_function_reads_all_ones() {
        let mut bus = PciBus::default();
        let mut b = [0; 4];
        assert!(!bus.config_read(Bdf::new(0, 5, 0), 0, &mut b));
        assert_eq!(u32::from_le_bytes(b), 0xFFFF_FFFF);
    }

    #[test]
    fn find_device_and_class() {
        let mut bus = PciBus::default();
        bus.insert(Bdf::new(0, 0, 0), Box::new(host_bridge(0x0100, 9)));
        bus.insert(
            Bdf::new(0, 0x1F, 0),
            Box::new(lpc_bridge(0x1C4E, 4, 0x1800)),
        );
        bus.insert(Bdf::new(0, 3, 0), Box::new(StdVga::new().unwrap()));
        assert_eq!(bus.find_device(0x1234, 0x1111, 0), Some(Bdf::new(0, 3, 0)));
        assert_eq!(bus.find_device(0x1234, 0x1111, 1), None);
        assert_eq!(
            bus.find_class(class::ISA_BRIDGE, 0),
            Some(Bdf::new(0, 0x1F, 0))
        );
        assert_eq!(bus.find_class(class::VGA, 0), Some(Bdf::new(0, 3, 0)));
    }

    #[test]
    fn firmware_assigns_aligned_bars_and_enables_decode() {
        let mut vga = StdVga::new().unwrap();
        let mut a = BarAllocator {
            next_mem: 0xC000_1000,
            mem_end: 0xFEC0_0000,
            next_io: 0xC000,
        };
        assert!(a.assign(&mut vga).is_empty());
        assert_eq!(vga.config().bar_address(0), Some(0xC100_0000));
        assert_eq!(vga.config().read_u32(0x10), 0xC100_0008);
        assert_ne!(vga.config().read_u16(reg::COMMAND) & 2, 0);
    }
}
