//! The guest machine around the device: memory (vm-memory, mapped into the
//! CPU), the real-mode map and e820 ([`memory`]), the port bus with the legacy
//! devices ([`legacy`]), PCI bus 0 with its slots ([`pci_bus`]), the option ROM
//! loader and host calls into the guest, and the IOMMU.
//!
//! ```no_run
//! use igdemu::machine::{LoadOptions, Machine, MachineConfig};
//! use igdemu::cpu::Registers;
//!
//! let rom = std::fs::read("/usr/share/seabios/vgabios-stdvga.bin").unwrap();
//! let mut m = Machine::new(MachineConfig::default()).unwrap();
//! m.load_option_rom(&rom, LoadOptions::default()).unwrap();
//! assert!(m.run_option_rom_init().returned());
//! let mut r = Registers::default();
//! r.set_ax(0x0003); // text mode 3
//! let (_, outcome) = m.call_int(0x10, r).unwrap();
//! assert!(outcome.returned());
//! ```
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod chipset;
pub mod igd_slot;
pub mod iommu;
pub mod legacy;
pub mod memory;
pub mod pci_bus;
pub mod qemu_pc;

use std::time::Duration;

use unicorn_engine::{Arch, Mode, Prot, RegisterX86, Unicorn};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::cpu::bios::{default_int15_table, GuestMem, Int15Table};
use crate::cpu::rom::{self, RomError, RomImage};
use crate::cpu::{self, Limits, Registers, RunOutcome, StopReason};
use crate::igd::devices::Segment;
use crate::igd::generation::Platform;
use crate::pci::{command, reg, Bdf, ConfigWrite, PciFunction};
use crate::trace::CsIp;
use crate::trace::{IntResult, Unhandled};

/// What a device on the machine's bus reports into the trace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "device")]
pub enum DeviceEvent {
    /// What the passthrough layer did with a guest access (GTT write before
    /// and after remapping, refusals, mirror reads, FLR).
    Passthrough(crate::passthrough::PassthroughEvent),
    /// A run of device DMA (aperture accesses translated by the GTT) through
    /// the IOMMU, classified.
    Dma(igd_slot::DmaRun),
}

/// The machine's trace event kinds.
pub type EventKind = crate::trace::EventKind<DeviceEvent>;
/// The machine's trace records.
pub type TraceEvent = crate::trace::Event<DeviceEvent>;
/// The machine's trace.
pub type Trace = crate::trace::Trace<DeviceEvent>;
use legacy::{Clock, Cmos, Dispi, Pit, Port61, VgaRegs, PORT_ACCESS_NS};
use memory::{E820, PCI_HOLE, PCI_MMIO_END};
use pci_bus::{BarAllocator, BusDevice, PciBus, RamBacking};

/// Where the machine's own functions sit on bus 0.
pub mod slot {
    use crate::pci::Bdf;
    /// Host bridge.
    pub const HOST_BRIDGE: Bdf = Bdf::new(0, 0, 0);
    /// The display slot, where the IGD goes.
    pub const DISPLAY: Bdf = Bdf::new(0, 2, 0);
    /// The Bochs/QEMU standard VGA.
    pub const STDVGA: Bdf = Bdf::new(0, 3, 0);
    /// ISA/LPC bridge.
    pub const LPC: Bdf = Bdf::new(0, 0x1F, 0);
}

/// How to build a machine.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// Guest RAM in bytes (below the PCI hole first, the rest above 4 GiB).
    pub ram_size: u64,
    /// Host bridge device ID and revision.
    pub host_bridge: (u16, u8),
    /// LPC bridge device ID and revision.
    pub lpc_bridge: (u16, u8),
    /// ACPI PM I/O base programmed in the LPC bridge (config 0x40).
    pub pmbase: u16,
    /// Which chipset the guest sees around the IGD.
    pub board: Board,
    /// Put a Bochs/QEMU standard VGA at 00:03.0 (for SeaVGABIOS).
    pub stdvga: bool,
    /// Instruction budget per run.
    pub budget: u64,
    /// Wall-clock deadline per run.
    pub deadline: Duration,
    /// Answers for INT 15h AX=5Fxxh.
    pub int15: Int15Table,
    /// Maximum number of stored trace events.
    pub trace_cap: usize,
    /// Emulated nanoseconds per instruction.
    pub ns_per_insn: u64,
    /// Memory a VMM maps into the guest outside RAM, as (base, size): the
    /// host stolen memory and OpRegion Xen and ACRN map (backed like RAM,
    /// absent from the e820 RAM entries). Empty by default.
    pub vmm_memory: Vec<(u64, u64)>,
    /// Where RAM below 4 GiB ends when the VMM lowers it (libxl moving
    /// `lowmem_end` below reserved device memory); the rest of `ram_size`
    /// goes above 4 GiB. `None`: RAM fills up to the PCI hole.
    pub low_ram_end: Option<u64>,
}

impl Default for MachineConfig {
    fn default() -> Self {
        let c = chipset::for_platform(Platform::Skylake, Segment::Desktop);
        Self {
            ram_size: 2 << 30,
            host_bridge: c.host_bridge,
            lpc_bridge: c.lpc_bridge,
            pmbase: 0x1800,
            board: Board::Platform,
            stdvga: true,
            budget: 2_000_000_000,
            deadline: Duration::from_secs(60),
            int15: default_int15_table(),
            trace_cap: 1 << 18,
            ns_per_insn: 1,
            vmm_memory: Vec::new(),
            low_ram_end: None,
        }
    }
}

/// The chipset the guest sees at 00:00.0, 00:01.x and 00:1f.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Board {
    /// The platform's own host bridge and LPC bridge ([`MachineConfig`]'s
    /// IDs), the LPC bridge decoding the ACPI PM block at `pmbase`.
    #[default]
    Platform,
    /// QEMU's `pc` machine ([`qemu_pc`]): i440FX and PIIX, the ACPI PM block
    /// of the PIIX4 at 0x600. `igd_lpc`: QEMU's IGD quirk copied the
    /// platform's bridge IDs (the host's, in [`MachineConfig`]) into the
    /// i440FX and into its LPC bridge at 00:1f.0; otherwise 00:1f.0 is empty.
    QemuPc {
        /// Whether the IGD LPC/host-bridge quirk ran.
        igd_lpc: bool,
    },
}

/// Why a machine could not be built or driven.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// RAM size unusable.
    #[error("RAM size {0:#x} must be a multiple of 4 KiB and at least 1 MiB")]
    BadRamSize(u64),
    /// Host memory allocation failed.
    #[error("guest memory: {0}")]
    Memory(String),
    /// The CPU engine refused an operation.
    #[error("CPU engine: {0}")]
    Engine(String),
    /// Guest address not readable or writable.
    #[error("guest address {0:#x} not accessible")]
    Access(u64),
    /// No option ROM loaded.
    #[error("no option ROM loaded")]
    NoRom,
    /// The slot is taken or not on bus 0.
    #[error("slot {0} unavailable")]
    SlotTaken(Bdf),
}

fn engine(e: unicorn_engine::uc_error) -> MachineError {
    MachineError::Engine(format!("{e:?}"))
}

/// How to load an option ROM.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Run a ROM whose checksum is wrong (with a warning) instead of refusing.
    pub allow_bad_checksum: bool,
    /// Pass this function in AX instead of matching PCIR against the bus.
    pub bdf: Option<Bdf>,
}

/// What was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RomInfo {
    /// The x86 image chosen.
    pub image: RomImage,
    /// Whether its checksum held.
    pub checksum_ok: bool,
    /// The function it will be initialized for (AX at entry).
    pub bdf: Option<Bdf>,
}

/// A BAR currently mapped into the CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MappedBar {
    bdf: Bdf,
    bar: u8,
    base: u64,
    size: u64,
    io: bool,
}

/// Everything the CPU hooks reach: devices, firmware tables, clock, trace.
/// Lives in the CPU engine's user data.
pub struct MachineState {
    pub(crate) clock: Clock,
    pub(crate) pit: Pit,
    pub(crate) port61: Port61,
    pub(crate) cmos: Cmos,
    pub(crate) vga: VgaRegs,
    pub(crate) dispi: Dispi,
    pub(crate) cf8: u32,
    pub(crate) post: Option<u32>,
    pub(crate) pci: PciBus,
    /// The function whose config space places the ACPI PM block.
    pm_slot: Bdf,
    pub(crate) e820: E820,
    pub(crate) int15: Int15Table,
    pub(crate) trace: Trace,
    /// CS:IP of the instruction being serviced.
    pub(crate) here: CsIp,
    pub(crate) recent: cpu::RecentBlocks,
    pub(crate) icache: cpu::BlockCache,
    /// Recent device reads, branch directions and calls, for diagnosis.
    pub(crate) flow: crate::diagnose::record::FlowRecord,
    /// Poll loops whose timeout expired, for diagnosis.
    pub(crate) expiry: crate::diagnose::expiry::ExpiryLog,
    /// The block executing (for port I/O CS:IP) and its I/O cursor.
    pub(crate) block: (u64, u32),
    pub(crate) block_io: usize,
    /// Index into the block's memory operands of its last device access.
    pub(crate) block_mem: usize,
    /// Set while a BIOS service accesses memory for the guest: device
    /// accesses are attributed to `here`, the calling instruction.
    pub(crate) host_access: bool,
    /// CS when the current block started (reused when the same block repeats).
    pub(crate) last_cs: u16,
    /// The current block's instruction count: the block hook's fast path
    /// when a block with no stack instruction (`check_stack` false) runs
    /// again right after itself (no block-cache lookup, no register reads).
    pub(crate) block_insns: u64,
    /// Whether SS:SP may have moved since the last stack-guard check.
    pub(crate) check_stack: bool,
    /// Every memory operand of the current block is at its start, so every
    /// device access of it is made at the block-start CS:IP.
    pub(crate) mem_at_start: bool,
    pub(crate) run_instructions: u64,
    pub(crate) budget: u64,
    pub(crate) stop: Option<StopReason>,
    /// Wall-clock watchdog of the current run (checked every
    /// [`cpu::DEADLINE_CHECK_BLOCKS`] blocks; it never affects a run that
    /// ends in time, so traces stay deterministic).
    pub(crate) deadline: Option<std::time::Instant>,
    /// Blocks executed in the current run (for the watchdog cadence).
    pub(crate) run_blocks: u64,
    pub(crate) shadow_protected: Option<(u64, u64)>,
    /// Sees the guest waiting and lets virtual time jump ([`crate::vtime`]).
    pub(crate) idle: crate::vtime::IdleDetector,
    /// The POST Memory Manager option ROMs call ([`crate::cpu::pmm`]).
    pub(crate) pmm: crate::cpu::pmm::Pmm,
    /// Writes into the read-only shadow dropped since the machine was built.
    pub(crate) shadow_writes_dropped: u64,
    bars_dirty: bool,
    mapped: Vec<MappedBar>,
    /// Host pointer and length of low guest RAM (null until the machine maps
    /// it). BIOS services read and write guest buffers through it.
    pub(crate) low_ram: (*mut u8, usize),
    /// Scratch buffer for device events (reused, no allocation per access).
    device_events: Vec<EventKind>,
}

impl MachineState {
    /// Machine state for a configuration (no CPU needed: BIOS services and
    /// port devices can be driven directly).
    #[must_use]
    pub fn new(config: &MachineConfig) -> Self {
        let (low, high) = split_ram(config);
        let mut pci = PciBus::default();
        // The platform's bridges: the guest's under `Board::Platform`, the
        // host's (what vfio exposes to QEMU) under `Board::QemuPc`.
        let host_bridge = pci_bus::host_bridge(config.host_bridge.0, config.host_bridge.1);
        let lpc_bridge =
            pci_bus::lpc_bridge(config.lpc_bridge.0, config.lpc_bridge.1, config.pmbase);
        let pm_slot = match config.board {
            Board::Platform => {
                pci.insert(slot::HOST_BRIDGE, Box::new(host_bridge));
                pci.insert(slot::LPC, Box::new(lpc_bridge));
                slot::LPC
            }
            Board::QemuPc { igd_lpc } => {
                let host = igd_lpc.then(|| (host_bridge.config(), lpc_bridge.config()));
                for (bdf, f) in qemu_pc::functions(host, config.ram_size) {
                    pci.insert(bdf, Box::new(f));
                }
                qemu_pc::slot::PIIX4_PM
            }
        };
        if config.stdvga {
            if let Ok(v) = pci_bus::StdVga::new() {
                pci.insert(slot::STDVGA, Box::new(v));
            }
        }
        Self {
            clock: Clock {
                ns_per_insn: config.ns_per_insn,
                ..Clock::default()
            },
            pit: Pit::default(),
            port61: Port61::default(),
            cmos: Cmos::new(low, high),
            vga: VgaRegs::default(),
            dispi: Dispi::new(pci_bus::STDVGA_VRAM),
            cf8: 0,
            post: None,
            pci,
            pm_slot,
            e820: E820::for_ram(low, high),
            int15: config.int15.clone(),
            trace: Trace::with_capacity_limit(config.trace_cap),
            here: CsIp::default(),
            recent: cpu::RecentBlocks::default(),
            icache: cpu::BlockCache::default(),
            flow: crate::diagnose::record::FlowRecord::default(),
            expiry: crate::diagnose::expiry::ExpiryLog::default(),
            block: (0, 0),
            block_io: 0,
            block_mem: 0,
            host_access: false,
            last_cs: 0,
            block_insns: 0,
            check_stack: true,
            mem_at_start: false,
            run_instructions: 0,
            budget: u64::MAX,
            stop: None,
            deadline: None,
            run_blocks: 0,
            shadow_protected: None,
            idle: crate::vtime::IdleDetector::default(),
            pmm: crate::cpu::pmm::Pmm::new(low),
            shadow_writes_dropped: 0,
            bars_dirty: true,
            mapped: Vec::new(),
            low_ram: (std::ptr::null_mut(), 0),
            device_events: Vec::new(),
        }
    }

    /// The trace so far.
    #[must_use]
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The bounded record of recent device reads, branches and calls.
    #[must_use]
    pub fn flow(&self) -> &crate::diagnose::record::FlowRecord {
        &self.flow
    }

    /// The poll loops whose timeout expired so far.
    #[must_use]
    pub fn expiry(&self) -> &crate::diagnose::expiry::ExpiryLog {
        &self.expiry
    }

    /// The same, to take what is new since the last step.
    pub fn expiry_mut(&mut self) -> &mut crate::diagnose::expiry::ExpiryLog {
        &mut self.expiry
    }

    /// The emulated clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The e820 table.
    #[must_use]
    pub fn e820(&self) -> &E820 {
        &self.e820
    }

    /// The VGA register file.
    #[must_use]
    pub fn vga(&self) -> &VgaRegs {
        &self.vga
    }

    /// The Bochs DISPI registers.
    #[must_use]
    pub fn dispi(&self) -> &Dispi {
        &self.dispi
    }

    /// PCI bus 0.
    #[must_use]
    pub fn pci(&self) -> &PciBus {
        &self.pci
    }

    /// Last POST code written to port 0x80.
    #[must_use]
    pub fn post_code(&self) -> Option<u32> {
        self.post
    }

    pub(crate) fn sync_bda_ticks(&mut self, mem: &mut dyn GuestMem) {
        let t = crate::cpu::bios::ticks_now(self);
        mem.write(memory::bda::TICKS, &t.to_le_bytes());
    }

    /// A config read, traced.
    pub fn config_read(&mut self, at: CsIp, bdf: Bdf, offset: u16, size: u8) -> u32 {
        let mut b = [0u8; 4];
        let n = usize::from(size.clamp(1, 4));
        self.pci
            .config_read(bdf, offset, b.get_mut(..n).unwrap_or_default());
        let value = u32::from_le_bytes(b);
        self.flow.read(
            at,
            crate::diagnose::record::ReadSource::Config { bdf, offset },
            size,
            u64::from(value),
        );
        self.trace.push(
            at,
            EventKind::ConfigRead {
                bdf,
                offset,
                size,
                value,
            },
        );
        self.drain_device(at, bdf);
        value
    }

    /// A config write, traced; BAR moves and decode changes re-map the CPU's
    /// view of the device at the end of the access.
    pub fn config_write(&mut self, at: CsIp, bdf: Bdf, offset: u16, size: u8, value: u32) {
        self.idle.activity();
        let n = usize::from(size.clamp(1, 4));
        let bytes = value.to_le_bytes();
        let eff = self
            .pci
            .config_write(bdf, offset, bytes.get(..n).unwrap_or_default())
            .unwrap_or_default();
        self.trace.push(
            at,
            EventKind::ConfigWrite {
                bdf,
                offset,
                size,
                value,
            },
        );
        self.drain_device(at, bdf);
        if eff != ConfigWrite::default() {
            self.bars_dirty = true;
        }
    }

    /// The ACPI PM I/O base the chipset decodes now (the LPC bridge's on the
    /// platform, the PIIX4's on QEMU's `pc` machine).
    fn pmbase(&self) -> Option<u16> {
        self.pci.get(self.pm_slot)?.acpi_pm_base()
    }

    fn io_bar_at(&self, port: u16) -> Option<(Bdf, u8, u64)> {
        let p = u64::from(port);
        self.mapped
            .iter()
            .find(|m| m.io && p >= m.base && p < m.base + m.size)
            .map(|m| (m.bdf, m.bar, p - m.base))
    }

    fn cfg_target(&self) -> Option<(Bdf, u16)> {
        if self.cf8 & 0x8000_0000 == 0 {
            return None;
        }
        let bdf = Bdf::new(
            (self.cf8 >> 16) as u8,
            ((self.cf8 >> 11) & 0x1F) as u8,
            ((self.cf8 >> 8) & 7) as u8,
        );
        Some((bdf, (self.cf8 & 0xFC) as u16))
    }

    fn byte_in(&mut self, port: u16) -> Option<u8> {
        Some(match port {
            0x40..=0x43 => self.pit.read((port - 0x40) as u8, &self.clock),
            0x61 => self.port61.read(&self.clock, &self.pit),
            0x70 => 0xFF,
            0x71 => self.cmos.read_data(&self.clock),
            0x80 => self.post.unwrap_or(0) as u8,
            p if VgaRegs::decodes(p) => return self.vga.read(p, &self.clock),
            _ => return None,
        })
    }

    fn byte_out(&mut self, port: u16, v: u8) -> bool {
        match port {
            0x40..=0x43 => self.pit.write((port - 0x40) as u8, v, &self.clock),
            0x61 => self.port61.write(v),
            0x70 => self.cmos.write_index(v),
            0x71 => self.cmos.write_data(v),
            p if VgaRegs::decodes(p) => return self.vga.write(p, v),
            _ => return false,
        }
        true
    }

    /// A guest IN of `size` bytes (1, 2, 4).
    pub fn port_in(&mut self, port: u16, size: u8) -> u32 {
        let at = self.here;
        let size = size.clamp(1, 4);
        self.clock.advance_ns(PORT_ACCESS_NS);
        let ones = if size == 4 {
            u32::MAX
        } else {
            (1u32 << (8 * u32::from(size))) - 1
        };
        // PCI configuration mechanism #1.
        if port == 0xCF8 && size == 4 {
            return self.cf8;
        }
        if (0xCFC..=0xCFF).contains(&port) {
            let lane = port - 0xCFC;
            let size = size.min((4 - lane) as u8);
            return match self.cfg_target() {
                Some((bdf, reg)) => self.config_read(at, bdf, reg + lane, size),
                None => {
                    self.unhandled_config(port);
                    ones
                }
            };
        }
        let io_bar = self.io_bar_at(port);
        let pm_timer = self.pmbase().filter(|b| {
            port >= b + pci_bus::PM_TIMER_OFFSET && port < b + pci_bus::PM_TIMER_OFFSET + 4
        });
        if let Some(src) = self.time_source(port, pm_timer.is_some()) {
            let now = self.clock.ns();
            let pci = &self.pci;
            let skip = self
                .idle
                .time_read(at, u64::from(port), src, now, || pci.next_deadline(now));
            self.clock.advance_ns(skip);
        }
        if let Some((bdf, _, _)) = io_bar {
            let now = self.clock.ns();
            if let Some(d) = self.pci.get_mut(bdf) {
                d.set_time(now);
            }
        }
        let value = if let Some(pm) = pm_timer {
            let shift = 8 * u32::from(port - pm - pci_bus::PM_TIMER_OFFSET);
            Some((legacy::pm_timer(&self.clock) >> shift) & ones)
        } else if port == 0x1CE {
            Some(u32::from(self.dispi.read_index()) & ones)
        } else if port == 0x1CF || port == 0x1D0 {
            Some(u32::from(self.dispi.read_data()) & ones)
        } else if let Some((bdf, bar, off)) = io_bar {
            let mut b = [0u8; 4];
            if let Some(d) = self.pci.get_mut(bdf) {
                d.bar_read(bar, off, b.get_mut(..usize::from(size)).unwrap_or_default());
            }
            Some(u32::from_le_bytes(b))
        } else {
            let mut v = 0u32;
            let mut all = true;
            for i in 0..u16::from(size) {
                match self.byte_in(port.wrapping_add(i)) {
                    Some(b) => v |= u32::from(b) << (8 * i),
                    None => {
                        all = false;
                        v |= 0xFF << (8 * i);
                    }
                }
            }
            all.then_some(v)
        };
        match value {
            Some(value) => {
                self.record_port_read(at, port, size, value, io_bar, pm_timer.is_some());
                self.trace.push(at, EventKind::PortIn { port, size, value });
                if let Some((bdf, bar, off)) = io_bar {
                    self.drain_device(at, bdf);
                    let target = self.pci.get(bdf).map_or(0, |d| d.read_target(bar, off));
                    let key = u64::from(port) | (target << 16);
                    self.poll_read(at, key, u64::from(value));
                }
                value
            }
            None => {
                self.flow.read(
                    at,
                    crate::diagnose::record::ReadSource::Unanswered(port),
                    size,
                    u64::from(ones),
                );
                self.trace.push(
                    at,
                    EventKind::Unhandled(Unhandled::Port {
                        port,
                        size,
                        value: None,
                    }),
                );
                ones
            }
        }
    }

    /// Put a port read into the diagnosis record: a timer, the data register
    /// of an I/O BAR index/data pair (named by its index), or a plain port.
    fn record_port_read(
        &mut self,
        at: CsIp,
        port: u16,
        size: u8,
        value: u32,
        io_bar: Option<(Bdf, u8, u64)>,
        pm_timer: bool,
    ) {
        use crate::diagnose::record::ReadSource;
        let source = match io_bar {
            Some((bdf, bar, 4..=7)) => match self.flow.index_of(bdf, bar) {
                Some(index) => ReadSource::IoIndexed { bdf, index },
                None => ReadSource::Port(port),
            },
            _ if pm_timer || (0x40..=0x42).contains(&port) || port == 0x61 => {
                ReadSource::Timer(port)
            }
            _ => ReadSource::Port(port),
        };
        self.flow.read(at, source, size, u64::from(value));
    }

    fn unhandled_config(&mut self, port: u16) {
        let at = self.here;
        self.trace.push(
            at,
            EventKind::Unhandled(Unhandled::Config {
                address: self.cf8,
                port,
            }),
        );
    }

    /// The time source a port IN reads, if any.
    fn time_source(&self, port: u16, pm_timer: bool) -> Option<crate::vtime::TimeSource> {
        use crate::vtime::TimeSource;
        Some(match port {
            _ if pm_timer => TimeSource::PmTimer,
            0x40..=0x42 => TimeSource::Pit {
                period_ns: self.pit.period_ns((port - 0x40) as u8),
            },
            0x61 => TimeSource::Port61 {
                ch2_period_ns: self.pit.period_ns(2),
            },
            0x71 => TimeSource::Rtc,
            0x3BA | 0x3DA => TimeSource::VgaStatus,
            _ => return None,
        })
    }

    /// A device register read returned `value`: if the guest is only polling
    /// it and a device completes later, jump to that completion.
    fn poll_read(&mut self, at: CsIp, key: u64, value: u64) {
        let now = self.clock.ns();
        let pci = &self.pci;
        let jump = self
            .idle
            .poll(at, key, value, now, || pci.next_deadline(now));
        self.clock.advance_ns(jump);
    }

    /// A guest OUT of `size` bytes.
    pub fn port_out(&mut self, port: u16, size: u8, value: u32) {
        let at = self.here;
        let size = size.clamp(1, 4);
        self.clock.advance_ns(PORT_ACCESS_NS);
        // Latching a PIT count (0x43), selecting a CMOS register (0x70) or a
        // device register through an index port, and the POST/delay ports
        // are part of reading time, not work.
        let io_bar = self.io_bar_at(port);
        let selects = io_bar.is_some_and(|(bdf, bar, off)| {
            self.pci
                .get(bdf)
                .is_some_and(|d| d.is_index_write(bar, off))
        });
        if !selects && !matches!(port, 0x43 | 0x70 | 0x80 | 0xE0 | 0xED) {
            self.idle.activity();
        }
        if port == 0xCF8 {
            if size == 4 {
                self.cf8 = value;
                self.trace
                    .push(at, EventKind::PortOut { port, size, value });
            } else {
                self.unhandled_config(port);
            }
            return;
        }
        if (0xCFC..=0xCFF).contains(&port) {
            let lane = port - 0xCFC;
            let size = size.min((4 - lane) as u8);
            match self.cfg_target() {
                Some((bdf, reg)) => self.config_write(at, bdf, reg + lane, size, value),
                None => self.unhandled_config(port),
            }
            return;
        }
        let handled = match port {
            0x80 | 0xE0 => {
                if port == 0x80 {
                    self.post = Some(value);
                }
                self.trace.push(at, EventKind::Checkpoint { port, value });
                return;
            }
            0x1CE => {
                self.dispi.write_index(value as u16);
                true
            }
            0x1CF | 0x1D0 => {
                self.dispi.write_data(value as u16);
                true
            }
            _ => {
                if let Some((bdf, bar, off)) = io_bar {
                    if off == 0 {
                        self.flow.index_write(bdf, bar, value);
                    }
                    let b = value.to_le_bytes();
                    let now = self.clock.ns();
                    if let Some(d) = self.pci.get_mut(bdf) {
                        d.set_time(now);
                        d.bar_write(bar, off, b.get(..usize::from(size)).unwrap_or_default());
                    }
                    true
                } else {
                    let mut all = true;
                    for i in 0..u16::from(size) {
                        all &= self.byte_out(port.wrapping_add(i), (value >> (8 * i)) as u8);
                    }
                    all
                }
            }
        };
        let kind = if handled {
            EventKind::PortOut { port, size, value }
        } else {
            EventKind::Unhandled(Unhandled::Port {
                port,
                size,
                value: Some(value),
            })
        };
        self.trace.push(at, kind);
        if let Some((bdf, _, _)) = io_bar {
            self.drain_device(at, bdf);
        }
    }

    fn mmio(&mut self, bdf: Bdf, bar: u8, offset: u64, size: usize, write: Option<u64>) -> u64 {
        let at = self.here;
        let n = size.clamp(1, 8);
        let now = self.clock.ns();
        let Some(dev) = self.pci.get_mut(bdf) else {
            return u64::MAX;
        };
        dev.set_time(now);
        let aperture = dev.is_aperture(bar);
        let mut b = [0u8; 8];
        let value = match write {
            Some(v) => {
                b = v.to_le_bytes();
                dev.bar_write(bar, offset, b.get(..n).unwrap_or_default());
                v
            }
            None => {
                dev.bar_read(bar, offset, b.get_mut(..n).unwrap_or_default());
                u64::from_le_bytes(b)
            }
        };
        let size = n as u8;
        if aperture
            && self
                .trace
                .extend_aperture(at, bdf, offset, size, value, write.is_some())
        {
            drain_into(dev, at, &mut self.device_events, &mut self.trace);
            self.idle.activity();
            return value;
        }
        let kind = if aperture {
            EventKind::Aperture {
                bdf,
                offset,
                size,
                value,
                write: write.is_some(),
                count: 1,
            }
        } else if write.is_some() {
            EventKind::MmioWrite {
                bdf,
                bar,
                offset,
                size,
                value,
            }
        } else {
            self.flow.read(
                at,
                crate::diagnose::record::ReadSource::Mmio { bdf, bar, offset },
                size,
                value,
            );
            EventKind::MmioRead {
                bdf,
                bar,
                offset,
                size,
                value,
            }
        };
        self.trace.push(at, kind);
        drain_into(dev, at, &mut self.device_events, &mut self.trace);
        if aperture || write.is_some() {
            self.idle.activity();
        } else {
            let key = (u64::from(bdf.to_u16()) << 48) | (u64::from(bar) << 40) | offset;
            self.poll_read(at, key, value);
        }
        value
    }

    /// Move what a device recorded during an access (passthrough decisions,
    /// DMA) into the trace, stamped with the access's CS:IP.
    fn drain_device(&mut self, at: CsIp, bdf: Bdf) {
        let Some(dev) = self.pci.get_mut(bdf) else {
            return;
        };
        drain_into(dev, at, &mut self.device_events, &mut self.trace);
    }

    /// The BAR windows the devices currently decode.
    fn desired_bars(&mut self) -> Vec<(MappedBar, Option<RamBacking>)> {
        let mut out = Vec::new();
        for bdf in self.pci.functions() {
            let Some(dev) = self.pci.get_mut(bdf) else {
                continue;
            };
            let cmd = dev.config().read_u16(reg::COMMAND);
            for bar in 0..6u8 {
                let Some(spec) = dev.config().bar_spec(usize::from(bar)) else {
                    continue;
                };
                let Some(base) = dev.config().bar_address(usize::from(bar)) else {
                    continue;
                };
                let io = matches!(spec.kind, crate::pci::BarKind::Io);
                let on = if io {
                    cmd & command::IO != 0
                } else {
                    cmd & command::MEMORY != 0
                };
                if !on || base == 0 {
                    continue;
                }
                let ram = if io { None } else { dev.ram_bar(bar) };
                out.push((
                    MappedBar {
                        bdf,
                        bar,
                        base,
                        size: spec.size,
                        io,
                    },
                    ram,
                ));
            }
        }
        out
    }
}

/// Move what `dev` recorded during an access into `trace`, through the
/// reusable buffer `events`. Hot: once per device access, and almost always
/// empty.
fn drain_into(dev: &mut dyn BusDevice, at: CsIp, events: &mut Vec<EventKind>, trace: &mut Trace) {
    dev.drain_events(at, events);
    if !events.is_empty() {
        for kind in events.drain(..) {
            trace.push(at, kind);
        }
    }
}

type Uc = Unicorn<'static, MachineState>;

/// Re-map BARs if a config write moved one or changed decode.
pub(crate) fn apply_pending(uc: &mut Unicorn<'_, MachineState>) {
    if !uc.get_data().bars_dirty {
        return;
    }
    uc.get_data_mut().bars_dirty = false;
    let desired = uc.get_data_mut().desired_bars();
    let current = std::mem::take(&mut uc.get_data_mut().mapped);
    let mut keep = Vec::new();
    for m in current {
        let same = desired
            .iter()
            .any(|(d, _)| d.bdf == m.bdf && d.bar == m.bar && d.base == m.base && d.size == m.size);
        if same {
            keep.push(m);
            continue;
        }
        if !m.io {
            let _ = uc.mem_unmap(m.base, m.size);
        }
    }
    for (d, ram) in desired {
        if keep
            .iter()
            .any(|k| k.bdf == d.bdf && k.bar == d.bar && k.base == d.base)
        {
            continue;
        }
        if !d.io {
            let ok = map_bar(uc, &d, ram);
            if !ok {
                let at = uc.get_data().here;
                uc.get_data_mut().trace.push(
                    at,
                    EventKind::Unhandled(Unhandled::BarMap {
                        bdf: d.bdf,
                        bar: d.bar,
                        address: d.base,
                    }),
                );
                continue;
            }
        }
        keep.push(d);
    }
    uc.get_data_mut().mapped = keep;
}

fn map_bar(uc: &mut Unicorn<'_, MachineState>, d: &MappedBar, ram: Option<RamBacking>) -> bool {
    if !d.base.is_multiple_of(0x1000) || !d.size.is_multiple_of(0x1000) {
        return false;
    }
    if let Some(r) = ram {
        if r.len < d.size {
            return false;
        }
        // SAFETY: the device promises (RamBacking contract) that the memory
        // lives as long as the device; devices live in the engine's user data,
        // which unicorn drops only after closing the engine.
        return unsafe { uc.mem_map_ptr(d.base, d.size, Prot::ALL, r.ptr.cast()) }.is_ok();
    }
    let (bdf, bar, base) = (d.bdf, d.bar, d.base);
    // The callbacks find the accessing instruction themselves: unicorn does
    // not sync IP inside MMIO callbacks, and a memory hook on the BAR to learn
    // it would cost a second callback per access.
    let mapped = uc.mmio_map(
        base,
        d.size,
        Some(
            move |uc: &mut Unicorn<'_, MachineState>, off: u64, size: usize| {
                let at = cpu::mem_here(uc, base.wrapping_add(off), false);
                let regs = cpu::gprs(uc);
                let stack = cpu::stack_linear(uc, regs[4]);
                let st = uc.get_data_mut();
                st.here = at;
                st.flow.set_regs(regs, stack);
                st.mmio(bdf, bar, off, size, None)
            },
        ),
        Some(
            move |uc: &mut Unicorn<'_, MachineState>, off: u64, size: usize, v: u64| {
                let at = cpu::mem_here(uc, base.wrapping_add(off), true);
                let st = uc.get_data_mut();
                st.here = at;
                st.mmio(bdf, bar, off, size, Some(v));
            },
        ),
    );
    mapped.is_ok()
}

/// RAM below the PCI hole (or the VMM's lowered end) and above 4 GiB.
fn split_ram(config: &MachineConfig) -> (u64, u64) {
    let ram = config.ram_size;
    let low = ram
        .min(PCI_HOLE)
        .min(config.low_ram_end.unwrap_or(u64::MAX));
    (low, ram - low)
}

/// The machine: CPU, memory, devices, firmware.
pub struct Machine {
    // Drop order matters: `uc` maps host memory owned by `memory` (and by the
    // devices in its user data), so it is declared, and dropped, first.
    uc: Uc,
    memory: GuestMemoryMmap,
    config: MachineConfig,
    rom: Option<RomInfo>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("config", &self.config)
            .field("rom", &self.rom)
            .finish_non_exhaustive()
    }
}

/// Segment holding the INT trampoline (`int n ; hlt`).
const INT_TRAMPOLINE_IP: u16 = cpu::TRAMPOLINE_IP + 0x10;

impl Machine {
    /// Build a machine: RAM, the real-mode map, IVT stubs, BDA/EBDA, PCI bus with
    /// BARs assigned as firmware would.
    pub fn new(config: MachineConfig) -> Result<Machine, MachineError> {
        let ram = config.ram_size;
        if !ram.is_multiple_of(0x1000) || ram < (1 << 20) {
            return Err(MachineError::BadRamSize(ram));
        }
        let (low, high) = split_ram(&config);
        if !low.is_multiple_of(0x1000) || low < (1 << 20) {
            return Err(MachineError::BadRamSize(low));
        }
        let mut ranges = vec![(GuestAddress(0), low as usize)];
        if high > 0 {
            ranges.push((GuestAddress(memory::FOUR_GIB), high as usize));
        }
        for &(base, size) in &config.vmm_memory {
            ranges.push((GuestAddress(base), size as usize));
        }
        ranges.sort_by_key(|r| r.0);
        let memory = GuestMemoryMmap::from_ranges(&ranges)
            .map_err(|e| MachineError::Memory(e.to_string()))?;
        let state = MachineState::new(&config);
        let mut uc = Unicorn::new_with_data(Arch::X86, Mode::MODE_16, state).map_err(engine)?;
        let host = |a: u64| {
            memory
                .get_host_address(GuestAddress(a))
                .map_err(|e| MachineError::Memory(e.to_string()))
        };
        let low_ptr = host(0)?;
        let pieces: [(u64, u64, Prot); 5] = [
            (0, memory::VGA_WINDOW.0, Prot::ALL),
            (memory::VGA_WINDOW.0, memory::VGA_WINDOW.1, Prot::ALL),
            (memory::SHADOW.0, memory::SHADOW.1, Prot::ALL),
            (0xE_0000, 0x1_0000, Prot::ALL),
            (memory::BIOS.0, memory::BIOS.1, Prot::READ | Prot::EXEC),
        ];
        for (base, size, prot) in pieces {
            // SAFETY: `low_ptr + base .. + size` lies inside the first
            // GuestMemoryMmap region (at least 1 MiB long), which `Machine`
            // owns and drops after `uc` (field order), so the mapping never
            // outlives the memory.
            unsafe { uc.mem_map_ptr(base, size, prot, low_ptr.add(base as usize).cast()) }
                .map_err(engine)?;
        }
        if low > 0x10_0000 {
            // SAFETY: as above, for the rest of low RAM.
            unsafe {
                uc.mem_map_ptr(
                    0x10_0000,
                    low - 0x10_0000,
                    Prot::ALL,
                    low_ptr.add(0x10_0000).cast(),
                )
            }
            .map_err(engine)?;
        }
        if high > 0 {
            let p = host(memory::FOUR_GIB)?;
            // SAFETY: the second region, `high` bytes, owned as above.
            unsafe { uc.mem_map_ptr(memory::FOUR_GIB, high, Prot::ALL, p.cast()) }
                .map_err(engine)?;
        }
        for &(base, size) in &config.vmm_memory {
            let p = host(base)?;
            // SAFETY: a region of `memory` of `size` bytes, owned as above.
            unsafe { uc.mem_map_ptr(base, size, Prot::ALL, p.cast()) }.map_err(engine)?;
        }
        uc.get_data_mut().low_ram = (low_ptr, low as usize);
        cpu::install_hooks(&mut uc).map_err(engine)?;
        let mut m = Machine {
            uc,
            memory,
            config,
            rom: None,
        };
        m.init_firmware()?;
        Ok(m)
    }

    fn init_firmware(&mut self) -> Result<(), MachineError> {
        let w = |m: &GuestMemoryMmap, a: u64, d: &[u8]| {
            m.write_slice(d, GuestAddress(a))
                .map_err(|_| MachineError::Access(a))
        };
        w(&self.memory, memory::BIOS.0, &cpu::bios_image())?;
        for v in 0..256u32 {
            let entry = u32::from(cpu::BIOS_SEG) << 16 | (u32::from(cpu::STUB_BASE) + 4 * v);
            w(&self.memory, u64::from(v) * 4, &entry.to_le_bytes())?;
        }
        use memory::bda;
        w(&self.memory, bda::COM, &0x3F8u16.to_le_bytes())?;
        w(&self.memory, bda::LPT, &0x378u16.to_le_bytes())?;
        w(
            &self.memory,
            bda::EBDA_SEG,
            &((memory::EBDA >> 4) as u16).to_le_bytes(),
        )?;
        // Equipment: 1 serial port, math coprocessor, 80x25 colour.
        w(&self.memory, bda::EQUIPMENT, &0x0222u16.to_le_bytes())?;
        w(
            &self.memory,
            bda::MEM_KIB,
            &((memory::EBDA >> 10) as u16).to_le_bytes(),
        )?;
        w(&self.memory, bda::VIDEO_MODE, &[0x03])?;
        w(&self.memory, bda::VIDEO_COLS, &80u16.to_le_bytes())?;
        w(&self.memory, bda::CRTC_BASE, &0x3D4u16.to_le_bytes())?;
        w(&self.memory, bda::VIDEO_ROWS, &[24])?;
        w(&self.memory, bda::CHAR_HEIGHT, &16u16.to_le_bytes())?;
        w(&self.memory, memory::EBDA, &[1])?; // EBDA size in KiB
        let mut alloc = BarAllocator {
            next_mem: PCI_HOLE,
            mem_end: PCI_MMIO_END,
            next_io: 0xC000,
        };
        let st = self.uc.get_data_mut();
        for bdf in st.pci.functions() {
            if let Some(d) = st.pci.get_mut(bdf) {
                alloc.assign(d);
            }
        }
        st.bars_dirty = true;
        apply_pending(&mut self.uc);
        Ok(())
    }

    /// Plug a PCI function into a free slot on bus 0 (the IGD goes to
    /// [`slot::DISPLAY`]). Its BARs are assigned above the ones already
    /// present and decoding is enabled, as firmware would.
    pub fn plug(&mut self, bdf: Bdf, mut dev: Box<dyn BusDevice>) -> Result<(), MachineError> {
        let st = self.uc.get_data_mut();
        if bdf.bus != 0 || st.pci.get(bdf).is_some() {
            return Err(MachineError::SlotTaken(bdf));
        }
        let next_mem = st
            .mapped
            .iter()
            .filter(|m| !m.io)
            .map(|m| m.base + m.size)
            .max()
            .unwrap_or(PCI_HOLE)
            .max(PCI_HOLE);
        let next_io = st
            .mapped
            .iter()
            .filter(|m| m.io)
            .map(|m| m.base + m.size)
            .max()
            .unwrap_or(0xC000)
            .max(0xC000);
        let mut alloc = BarAllocator {
            next_mem,
            mem_end: PCI_MMIO_END,
            next_io,
        };
        alloc.assign(dev.as_mut());
        st.pci.insert(bdf, dev);
        st.bars_dirty = true;
        apply_pending(&mut self.uc);
        Ok(())
    }

    /// Guest memory (the same host pages the CPU sees).
    #[must_use]
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// The device plugged at `bdf`, if it is a `T`.
    #[must_use]
    pub fn device<T: 'static>(&self, bdf: Bdf) -> Option<&T> {
        let d: &dyn std::any::Any = self.uc.get_data().pci.get(bdf)?;
        d.downcast_ref::<T>()
    }

    /// The device plugged at `bdf`, mutably, if it is a `T`. Config changes made
    /// through it take effect (BAR re-mapping) at the next run.
    pub fn device_mut<T: 'static>(&mut self, bdf: Bdf) -> Option<&mut T> {
        let st = self.uc.get_data_mut();
        st.bars_dirty = true;
        let d: &mut dyn std::any::Any = st.pci.get_mut(bdf)?;
        d.downcast_mut::<T>()
    }

    /// Move what the device at `bdf` still holds (an open DMA run, say) into the
    /// trace, stamped with the last CS:IP serviced.
    pub fn flush_device_events(&mut self, bdf: Bdf) {
        let st = self.uc.get_data_mut();
        let at = st.here;
        st.drain_device(at, bdf);
    }

    /// The machine's state (devices, trace, tables).
    #[must_use]
    pub fn state(&self) -> &MachineState {
        self.uc.get_data()
    }

    /// Mutable state (to reserve e820 ranges, change the INT 15h table...).
    pub fn state_mut(&mut self) -> &mut MachineState {
        self.uc.get_data_mut()
    }

    /// Reserve (or retype) a range in the e820 table.
    pub fn set_e820(&mut self, base: u64, len: u64, kind: memory::E820Type) {
        self.uc.get_data_mut().e820.set(base, len, kind);
    }

    /// Virtual time: emulated nanoseconds since power-on ([`crate::vtime`]).
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        self.uc.get_data().clock.ns()
    }

    /// Virtual nanoseconds skipped while the guest only waited.
    #[must_use]
    pub fn idle_skipped_ns(&self) -> u64 {
        self.uc.get_data().idle.skipped_ns()
    }

    /// Writes into the read-only option ROM shadow the machine dropped (a
    /// count kept in state, whatever the trace kept).
    #[must_use]
    pub fn shadow_writes_dropped(&self) -> u64 {
        self.uc.get_data().shadow_writes_dropped
    }

    /// The trace so far.
    #[must_use]
    pub fn trace(&self) -> &[TraceEvent] {
        self.uc.get_data().trace.events()
    }

    /// Disassemble the instruction at `cs:ip` in guest memory.
    #[must_use]
    pub fn disassemble_at(&self, cs: u16, ip: u16) -> Option<String> {
        let at = CsIp::new(cs, ip);
        let mut buf = [0u8; 15];
        self.read_guest(u64::from(at.linear()), &mut buf).ok()?;
        crate::trace::disassemble(&buf, at)
    }

    /// Read guest memory (RAM, shadow, frame buffers) at a linear address.
    pub fn read_guest(&self, addr: u64, buf: &mut [u8]) -> Result<(), MachineError> {
        self.uc
            .mem_read(addr, buf)
            .map_err(|_| MachineError::Access(addr))
    }

    /// Write guest memory from the host (invalidating translated code there).
    pub fn write_guest(&mut self, addr: u64, data: &[u8]) -> Result<(), MachineError> {
        let end = addr.saturating_add(data.len() as u64);
        match self.memory.write_slice(data, GuestAddress(addr)) {
            Ok(()) => {}
            Err(_) => self
                .uc
                .mem_write(addr, data)
                .map_err(|_| MachineError::Access(addr))?,
        }
        self.uc.ctl_remove_cache(addr, end).map_err(engine)?;
        Ok(())
    }

    /// Parse a ROM, pick its x86 image and copy it to the 0xC0000 shadow.
    pub fn load_option_rom(
        &mut self,
        bytes: &[u8],
        opts: LoadOptions,
    ) -> Result<RomInfo, RomError> {
        let (image, code, checksum_ok) = rom::select_x86(bytes)?;
        if !checksum_ok {
            if !opts.allow_bad_checksum {
                return Err(RomError::BadChecksum {
                    offset: image.offset,
                    sum: rom::checksum(code),
                });
            }
            tracing::warn!(
                offset = image.offset,
                "option ROM checksum is wrong; running anyway"
            );
        }
        let st = self.uc.get_data();
        let bdf = opts.bdf.or_else(|| {
            st.pci.functions().into_iter().find(|b| {
                st.pci.get(*b).is_some_and(|d| {
                    image.matches(
                        d.config().read_u16(reg::VENDOR_ID),
                        d.config().read_u16(reg::DEVICE_ID),
                    )
                })
            })
        });
        let code = code.to_vec();
        if let Some((b, l)) = self.uc.get_data_mut().shadow_protected.take() {
            let _ = self.uc.mem_protect(b, l, Prot::ALL);
        }
        let mut blank = vec![0u8; memory::SHADOW.1 as usize];
        for (d, c) in blank.iter_mut().zip(&code) {
            *d = *c;
        }
        self.write_guest(memory::SHADOW.0, &blank)
            .map_err(|_| RomError::TooLarge { size: code.len() })?;
        let info = RomInfo {
            image,
            checksum_ok,
            bdf,
        };
        self.rom = Some(info.clone());
        Ok(info)
    }

    fn limits(&self) -> Limits {
        Limits {
            budget: self.config.budget,
            deadline_us: self.config.deadline.as_micros().min(u128::from(u64::MAX)) as u64,
        }
    }

    fn setup_call(&mut self, regs: &Registers) -> Result<(), MachineError> {
        cpu::write_regs(&mut self.uc, regs).map_err(engine)?;
        self.uc
            .reg_write(RegisterX86::SS, u64::from(cpu::HOST_STACK.0))
            .map_err(engine)?;
        self.uc
            .reg_write(RegisterX86::ESP, u64::from(cpu::HOST_STACK.1))
            .map_err(engine)?;
        Ok(())
    }

    /// Far-call the loaded ROM's entry (C000:0003) as a BIOS does: AX = bus/devfn
    /// of the function it matched, BX = DX = FFFFh, ES:DI = the `$PnP`
    /// installation check structure. Then write-protect the
    /// shadow for the size the ROM reports after init.
    pub fn run_option_rom_init(&mut self) -> RunOutcome {
        let bdf = self.rom.as_ref().and_then(|r| r.bdf);
        let mut regs = Registers::default();
        regs.set_ax(bdf.map_or(0xFFFF, Bdf::to_u16));
        regs.set_bx(0xFFFF);
        regs.set_dx(0xFFFF);
        regs.es = cpu::BIOS_SEG;
        regs.set_di(cpu::PNP_HEADER_IP);
        if let Err(e) = self.setup_call(&regs) {
            return RunOutcome::Fault {
                at: CsIp::default(),
                kind: cpu::FaultKind::Engine {
                    error: e.to_string(),
                },
                recent: Vec::new(),
            };
        }
        let start = CsIp::new(cpu::BIOS_SEG, cpu::TRAMPOLINE_IP);
        let until = CsIp::new(cpu::BIOS_SEG, cpu::TRAMPOLINE_IP + 5);
        let limits = self.limits();
        let out = cpu::run(&mut self.uc, start, until, limits);
        if out.returned() {
            let mut size = [0u8; 1];
            let _ = self.uc.mem_read(memory::SHADOW.0 + 2, &mut size);
            let len = (u64::from(size[0]) * 512).div_ceil(0x1000) * 0x1000;
            if len > 0
                && self
                    .uc
                    .mem_protect(memory::SHADOW.0, len, Prot::READ | Prot::EXEC)
                    .is_ok()
            {
                self.uc.get_data_mut().shadow_protected = Some((memory::SHADOW.0, len));
            }
        }
        out
    }

    /// Issue `INT vector` from the host with `regs` (through a trampoline
    /// `int n ; hlt`), returning the registers after the handler's IRET.
    pub fn call_int(
        &mut self,
        vector: u8,
        regs: Registers,
    ) -> Result<(Registers, RunOutcome), MachineError> {
        let at = u64::from(CsIp::new(cpu::BIOS_SEG, INT_TRAMPOLINE_IP).linear());
        self.write_guest(at, &[0xCD, vector, 0xF4])?;
        self.setup_call(&regs)?;
        let start = CsIp::new(cpu::BIOS_SEG, INT_TRAMPOLINE_IP);
        let until = CsIp::new(cpu::BIOS_SEG, INT_TRAMPOLINE_IP + 2);
        let limits = self.limits();
        let out = cpu::run(&mut self.uc, start, until, limits);
        let after = cpu::read_regs(&self.uc);
        self.uc.get_data_mut().trace.push(
            start,
            EventKind::IntCall {
                vector,
                input: regs.traced(),
                output: after.traced(),
                result: IntResult::HostCall,
            },
        );
        Ok((after, out))
    }

    /// Run guest code at `start` until it executes the `hlt` at `until` (for
    /// tests and custom trampolines), with SS:SP = the host stack and `regs`.
    pub fn run_code(
        &mut self,
        start: CsIp,
        until: CsIp,
        regs: Registers,
    ) -> Result<(Registers, RunOutcome), MachineError> {
        self.setup_call(&regs)?;
        let limits = self.limits();
        let out = cpu::run(&mut self.uc, start, until, limits);
        Ok((cpu::read_regs(&self.uc), out))
    }

    /// The configuration the machine was built with.
    #[must_use]
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// Change the instruction budget for the next runs.
    pub fn set_budget(&mut self, budget: u64) {
        self.config.budget = budget;
    }

    /// Remembered mappings (for tests).
    #[must_use]
    pub fn bar_address(&self, bdf: Bdf, bar: u8) -> Option<u64> {
        self.state()
            .mapped
            .iter()
            .find(|m| m.bdf == bdf && m.bar == bar)
            .map(|m| m.base)
    }
}
