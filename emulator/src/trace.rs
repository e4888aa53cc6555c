//! The trace: one [`Event`] for everything the guest does that a device or the
//! firmware can observe (DESIGN.md, "trace").
//!
//! Every event carries a sequence number and the guest CS:IP (and the linear
//! address) of the instruction that caused it. Nothing host-specific goes in:
//! no timestamps, no host addresses, so the same ROM and configuration give the
//! same trace, byte for byte. Events serialize with serde (one JSON object per
//! line in the harness). Disassembly is done on demand by [`disassemble`].
//!
//! A leaf: plain data that everything writes to and nothing reads back for
//! decisions (facts come from the devices' own state). It imports nothing of
//! the machine or the devices: what a device reports goes in as the type
//! parameter `D` of [`EventKind::Device`] (the machine's `DeviceEvent`), and
//! the only crate type used is the plain [`Bdf`] of the `pci` leaf.
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use serde::Serialize;

use crate::pci::Bdf;

/// Where the guest was when it caused an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct CsIp {
    /// Code segment selector.
    pub cs: u16,
    /// Instruction pointer.
    pub ip: u16,
}

impl CsIp {
    /// A CS:IP pair.
    #[must_use]
    pub const fn new(cs: u16, ip: u16) -> Self {
        Self { cs, ip }
    }

    /// The real-mode linear address `cs * 16 + ip`.
    #[must_use]
    pub const fn linear(self) -> u32 {
        ((self.cs as u32) << 4) + self.ip as u32
    }
}

impl std::fmt::Display for CsIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}:{:04x}", self.cs, self.ip)
    }
}

/// The registers a BIOS call takes and returns, as traced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntRegs {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
    /// ESI.
    pub esi: u32,
    /// EDI.
    pub edi: u32,
    /// ES.
    pub es: u16,
    /// Carry flag.
    pub cf: bool,
}

/// How a BIOS service call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum IntResult {
    /// Serviced by the machine's own BIOS (Rust).
    Handled,
    /// Not implemented: returned CF=1, AH=0x86 and traced.
    Unimplemented,
    /// Issued by the host; the guest's handler ran and returned.
    HostCall,
}

/// Something the guest touched that nothing modelled answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Unhandled {
    /// An I/O port no device decodes (IN returned all-ones).
    Port {
        /// Port number.
        port: u16,
        /// Access width in bytes.
        size: u8,
        /// Written value (None for IN).
        value: Option<u32>,
    },
    /// A config access that went nowhere (disabled 0xCF8, odd width).
    Config {
        /// Raw 0xCF8 latch.
        address: u32,
        /// Port used.
        port: u16,
    },
    /// A BAR could not be mapped (overlap with RAM or another BAR).
    BarMap {
        /// Function.
        bdf: Bdf,
        /// BAR index.
        bar: u8,
        /// Address asked for.
        address: u64,
    },
    /// A software interrupt into a vector whose stub is not implemented (CPU
    /// exception vectors).
    Exception {
        /// Vector.
        vector: u8,
    },
    /// A write into the option ROM shadow after POST, when the chipset has
    /// made it read-only: dropped, as the hardware drops it.
    ShadowWrite {
        /// Linear address.
        address: u64,
        /// Width in bytes.
        size: u8,
        /// The value the guest tried to store.
        value: u64,
    },
}

/// Everything observable: the CPU's and the machine's own events, and what a
/// device reported (`D`: passthrough decisions, DMA runs). Keep each variant
/// self-describing so a reader of the JSON needs no other context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum EventKind<D> {
    /// PCI configuration read (mechanism #1 or PCI BIOS).
    ConfigRead {
        /// Function.
        bdf: Bdf,
        /// Register offset.
        offset: u16,
        /// Width in bytes.
        size: u8,
        /// Value read.
        value: u32,
    },
    /// PCI configuration write.
    ConfigWrite {
        /// Function.
        bdf: Bdf,
        /// Register offset.
        offset: u16,
        /// Width in bytes.
        size: u8,
        /// Value written.
        value: u32,
    },
    /// Port IN answered by a device.
    PortIn {
        /// Port.
        port: u16,
        /// Width in bytes.
        size: u8,
        /// Value returned.
        value: u32,
    },
    /// Port OUT taken by a device.
    PortOut {
        /// Port.
        port: u16,
        /// Width in bytes.
        size: u8,
        /// Value written.
        value: u32,
    },
    /// MMIO read of a device BAR.
    MmioRead {
        /// Function owning the BAR.
        bdf: Bdf,
        /// BAR index.
        bar: u8,
        /// Offset in the BAR.
        offset: u64,
        /// Width in bytes.
        size: u8,
        /// Value read.
        value: u64,
    },
    /// MMIO write of a device BAR.
    MmioWrite {
        /// Function owning the BAR.
        bdf: Bdf,
        /// BAR index.
        bar: u8,
        /// Offset in the BAR.
        offset: u64,
        /// Width in bytes.
        size: u8,
        /// Value written.
        value: u64,
    },
    /// Access to a graphics aperture BAR (translated by the device). Runs of
    /// contiguous accesses of one width, direction and value from one
    /// instruction (a `rep stosd`) are folded into one event with a `count`.
    Aperture {
        /// Function owning the aperture.
        bdf: Bdf,
        /// Offset in the aperture of the first access.
        offset: u64,
        /// Width in bytes of each access.
        size: u8,
        /// Value read or written (of the first access).
        value: u64,
        /// Write (true) or read.
        write: bool,
        /// Accesses folded into this event.
        count: u64,
    },
    /// What a device reported about a guest access (for the IGD: what the
    /// passthrough layer did, and device DMA runs through the IOMMU).
    Device(D),
    /// A BIOS interrupt call with its inputs and results.
    IntCall {
        /// Vector.
        vector: u8,
        /// Registers on entry.
        input: IntRegs,
        /// Registers on return.
        output: IntRegs,
        /// Who answered.
        result: IntResult,
    },
    /// A POST Memory Manager call (far call to the `$PMM` entry), at the
    /// caller's return address.
    Pmm {
        /// Function (0 allocate, 1 find, 2 deallocate).
        function: u16,
        /// The words that followed the function on the stack.
        args: [u16; 5],
        /// DX:AX on return.
        result: u32,
    },
    /// A POST code (port 0x80) or vBIOS checkpoint (port 0xE0).
    Checkpoint {
        /// Port written.
        port: u16,
        /// Value.
        value: u32,
    },
    /// An access nothing answers.
    Unhandled(Unhandled),
}

/// One trace record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event<D> {
    /// Sequence number, from 0, without gaps.
    pub seq: u64,
    /// Guest CS:IP of the instruction responsible.
    pub at: CsIp,
    /// Linear address of that instruction.
    pub linear: u32,
    /// What happened.
    pub kind: EventKind<D>,
}

/// An append-only event log with a size cap (delay loops can poll a port
/// millions of times; beyond the cap events are counted, not stored).
#[derive(Clone, Debug)]
pub struct Trace<D> {
    events: Vec<Event<D>>,
    next_seq: u64,
    cap: usize,
    dropped: u64,
}

impl<D> Default for Trace<D> {
    fn default() -> Self {
        Self::with_capacity_limit(1 << 20)
    }
}

impl<D> Trace<D> {
    /// A trace that stores at most `cap` events.
    #[must_use]
    pub fn with_capacity_limit(cap: usize) -> Self {
        Self {
            events: Vec::new(),
            next_seq: 0,
            cap,
            dropped: 0,
        }
    }

    /// Record an event at `at`.
    pub fn push(&mut self, at: CsIp, kind: EventKind<D>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.events.len() >= self.cap {
            self.dropped += 1;
            return;
        }
        self.events.push(Event {
            seq,
            at,
            linear: at.linear(),
            kind,
        });
    }

    /// Fold an aperture access into the last event when it continues it (same
    /// function, width, direction, value and instruction, next offset); returns
    /// false when it does not.
    pub fn extend_aperture(
        &mut self,
        at: CsIp,
        bdf2: Bdf,
        offset2: u64,
        size2: u8,
        value2: u64,
        write2: bool,
    ) -> bool {
        let Some(last) = self.events.last_mut() else {
            return false;
        };
        if last.at != at {
            return false;
        }
        if let EventKind::Aperture {
            bdf,
            offset,
            size,
            value,
            write,
            count,
        } = &mut last.kind
        {
            let next = offset.wrapping_add(u64::from(*size).wrapping_mul(*count));
            if *bdf == bdf2
                && *size == size2
                && *value == value2
                && *write == write2
                && next == offset2
            {
                *count += 1;
                return true;
            }
        }
        false
    }

    /// The stored events.
    #[must_use]
    pub fn events(&self) -> &[Event<D>] {
        &self.events
    }

    /// Events not stored because the cap was reached.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forget all events (sequence numbers continue).
    pub fn clear(&mut self) {
        self.events.clear();
    }
}

/// Disassemble one 16-bit instruction from `bytes` as if it sat at `at`.
/// Returns `"cs:ip  text"`, or `None` when the bytes do not decode.
#[must_use]
pub fn disassemble(bytes: &[u8], at: CsIp) -> Option<String> {
    let mut dec = Decoder::with_ip(16, bytes, u64::from(at.ip), DecoderOptions::NONE);
    let insn = dec.decode();
    if insn.is_invalid() {
        return None;
    }
    let mut text = String::new();
    IntelFormatter::new().format(&insn, &mut text);
    Some(format!("{at}  {text}"))
}

/// What the CPU glue needs to know about a translated block: how many
/// instructions it holds, and where its port I/O instructions are (unicorn
/// reports the block's start, not the instruction, as IP in IN/OUT hooks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockInfo {
    /// Instructions in the block (at least 1).
    pub instructions: u64,
    /// Byte offsets of IN/OUT/INS/OUTS instructions, and whether each repeats.
    pub port_io: Vec<(u16, bool)>,
    /// Instructions with (non-stack) memory operands, to find which one made
    /// a device access.
    pub mem_ops: Vec<MemOp>,
    /// Whether any instruction reads or writes SP (push, pop, call, ret,
    /// `mov sp`...): such a block must have its stack guard checked each time.
    pub touches_stack: bool,
    /// Whether every memory operand is the block's first instruction's.
    pub mem_at_start: bool,
}

/// An instruction of a block that accesses memory other than the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemOp {
    /// Byte offset in the block.
    pub offset: u16,
    /// Whether it can access its operands more than once per execution: a
    /// string instruction (`rep stosd`, `movs`...), whose operand addresses
    /// move with each element.
    pub string: bool,
    /// Its memory operands, with their access direction.
    pub mems: Vec<iced_x86::UsedMemory>,
}

/// Decode a block of 16-bit code.
#[must_use]
pub fn scan_block(bytes: &[u8]) -> BlockInfo {
    use iced_x86::Mnemonic as M;
    let mut dec = Decoder::new(16, bytes, DecoderOptions::NONE);
    let mut info = BlockInfo::default();
    let mut factory = iced_x86::InstructionInfoFactory::new();
    while dec.can_decode() {
        let insn = dec.decode();
        info.instructions += 1;
        if insn.is_invalid() {
            break;
        }
        let insn_info = factory.info(&insn);
        if insn_info.used_registers().iter().any(|r| {
            matches!(
                r.register(),
                iced_x86::Register::SP | iced_x86::Register::ESP
            )
        }) {
            info.touches_stack = true;
        }
        let mems: Vec<iced_x86::UsedMemory> = insn_info
            .used_memory()
            .iter()
            .filter(|m| m.segment() != iced_x86::Register::SS)
            .copied()
            .collect();
        if !mems.is_empty() {
            info.mem_ops.push(MemOp {
                offset: insn.ip() as u16,
                string: insn.is_string_instruction(),
                mems,
            });
        }
        let io = matches!(
            insn.mnemonic(),
            M::In | M::Out | M::Insb | M::Insw | M::Insd | M::Outsb | M::Outsw | M::Outsd
        );
        if io {
            let rep = insn.has_rep_prefix() || insn.has_repne_prefix();
            info.port_io.push((insn.ip() as u16, rep));
        }
    }
    info.instructions = info.instructions.max(1);
    info.mem_at_start = info.mem_ops.iter().all(|o| o.offset == 0);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_address_and_display() {
        let at = CsIp::new(0xC000, 0x0003);
        assert_eq!(at.linear(), 0xC0003);
        assert_eq!(at.to_string(), "c000:0003");
    }

    #[test]
    fn disassembles_real_mode_code() {
        let s = disassemble(&[0xE6, 0xEF], CsIp::new(0xF000, 0xE040));
        assert_eq!(s.as_deref(), Some("f000:e040  out 0EFh,al"));
        assert_eq!(scan_block(&[0x90, 0x90, 0xEB, 0xFE]).instructions, 3);
    }

    #[test]
    fn cap_counts_dropped_events_and_keeps_sequence() {
        let mut t = Trace::<()>::with_capacity_limit(1);
        for _ in 0..3 {
            t.push(
                CsIp::default(),
                EventKind::Checkpoint {
                    port: 0x80,
                    value: 1,
                },
            );
        }
        assert_eq!(t.events().len(), 1);
        assert_eq!(t.dropped(), 2);
        assert_eq!(t.events()[0].seq, 0);
    }
}
