//! The passthrough layer under test: what a VMM's IGD quirk puts between the
//! guest and the assigned device (QEMU `hw/vfio/igd.c`, igd-anchors §1, §12).
//!
//! [`Passthrough`] lets the [`Remapper`] realize itself against the host
//! config space (QEMU's realize: device ID, GGC, BDSM), then virtualizes BDSM
//! (guest-writable scratch where the remapper emulates it, by default the
//! generation's register, initially 0), ASLS (0xFC, initially 0) and GGC (read
//! only, as the [`Remapper`] presents it); routes every BAR4 index/data access
//! and every BAR0 GTT-half write through the [`Remapper`]; serves the BAR0
//! mirrors the remapper declares from the virtual config. Everything that
//! happened comes back as [`PassthroughEvent`] values. No guest input panics.
//!
//! ```
//! use igdemu::passthrough::{Passthrough, Strict, testing::FakeIgd};
//! use igdemu::igd::generation::{info, Platform};
//! let dev = FakeIgd::new(info(Platform::SandyBridge), 0x8b00_0000, 0x0228);
//! let mut pt = Passthrough::new(dev, Box::new(Strict::default()));
//! pt.config_write(0x5C, &0x7e00_0000u32.to_le_bytes()); // firmware sets BDSM
//! pt.io_write(0, &0x0000_0001u32.to_le_bytes());       // GTT entry 0
//! pt.io_write(4, &0x8b00_0005u32.to_le_bytes());       // host stolen page 0
//! assert_eq!(pt.host().gtt_entry(0), 0x7e00_0005);     // device sees guest page 0
//! ```
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod acrn;
pub mod firmware;
mod host;
pub mod qemu2016;
pub mod qemu2025;
pub mod qemu_igd;
pub mod qemu_release;
pub mod remap;
pub mod strict;
pub mod testing;
pub mod xen;

pub use acrn::Acrn;
pub use qemu2016::Qemu2016;
pub use qemu2025::Qemu2025;
pub use qemu_igd::QemuIgd;
pub use qemu_release::{QemuOptions, QemuSetup, Realized, Refusal, Release};
pub use remap::{
    Bar0Mirror, Bar4Access, Bar4Op, Bar4Reg, Decision, GttDwordWrite, HostBridgeView, HostMapped,
    Reason, RemapContext, Remapper, VmmError,
};
pub use strict::{OutsidePolicy, Strict};
pub use xen::Xen;

use crate::addr::{GuestPhys, HostPhys, Region};
use crate::igd::dma::{DmaAccesses, DmaBus};
use crate::igd::generation::{BdsmLocation, PlatformInfo};
use crate::pci::{ConfigSpace, ConfigWrite};
use remap::{CFG_ASLS, CFG_GGC};

pub use crate::igd::GttWrite;

/// The host device as the passthrough layer reaches it: the exact method
/// shapes of `igd::IgdDevice` (aperture errors through an associated type).
pub trait HostIgd {
    /// Aperture access error.
    type ApertureError: std::fmt::Debug;
    /// Platform row.
    fn info(&self) -> &'static PlatformInfo;
    /// Host BDSM.
    fn host_bdsm(&self) -> HostPhys;
    /// Host DSM size in bytes.
    fn stolen_size(&self) -> u64;
    /// GTT size in bytes.
    fn gtt_size(&self) -> u64;
    /// The host config space.
    fn config(&self) -> &ConfigSpace;
    /// Config read.
    fn config_read(&mut self, offset: u16, data: &mut [u8]);
    /// Config write.
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite;
    /// BAR0 read.
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]);
    /// BAR0 write; returns the GTT entry it changed, if any.
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Option<GttWrite>;
    /// BAR4 read.
    fn io_read(&mut self, offset: u16, data: &mut [u8]);
    /// BAR4 write; returns the GTT entry it changed, if any.
    fn io_write(&mut self, offset: u16, data: &[u8]) -> Option<GttWrite>;
    /// BAR2 (aperture) read through the GTT.
    fn aperture_read(
        &mut self,
        offset: u64,
        data: &mut [u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, Self::ApertureError>;
    /// BAR2 (aperture) write through the GTT.
    fn aperture_write(
        &mut self,
        offset: u64,
        data: &[u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, Self::ApertureError>;
    /// Function-level reset.
    fn flr(&mut self);
}

/// What the wrapper did with a write that reached the remapper.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    /// Forwarded unchanged.
    Forwarded,
    /// Forwarded with another value.
    Rewritten {
        /// The value the device received.
        value: u64,
        /// Why.
        reason: Reason,
    },
    /// Replaced by GTT dword writes.
    Replaced {
        /// The dwords written.
        writes: Vec<GttDwordWrite>,
        /// Why.
        reason: Reason,
    },
    /// Absorbed by an emulated register.
    Emulated {
        /// Why.
        reason: Reason,
    },
    /// Dropped.
    Refused {
        /// Why.
        reason: Reason,
    },
    /// The VM was stopped.
    Fatal {
        /// The VMM's message.
        message: String,
    },
}

/// Something the passthrough layer did, for the trace and the checker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PassthroughEvent {
    /// A guest write to BAR4 MMIO_Data.
    Bar4DataWrite {
        /// The device's MMIO_Index at the time.
        index: u32,
        /// Byte offset inside MMIO_Data and width.
        offset: u8,
        /// Width in bytes.
        width: u8,
        /// What the guest wrote.
        guest_value: u32,
        /// What the wrapper did.
        outcome: Outcome,
        /// GTT entries the device reported changed.
        gtt: Vec<GttWrite>,
    },
    /// A guest write to BAR0's GTT half.
    Bar0GttWrite {
        /// Byte offset in the GTT.
        gtt_offset: u64,
        /// Width in bytes.
        width: u8,
        /// What the guest wrote (little-endian, up to 8 bytes).
        guest_value: u64,
        /// What the wrapper did.
        outcome: Outcome,
        /// GTT entries the device reported changed.
        gtt: Vec<GttWrite>,
    },
    /// A BAR4 read answered without the device.
    Bar4Emulated {
        /// The device's MMIO_Index.
        index: u32,
        /// The register value returned.
        value: u64,
        /// Why.
        reason: Reason,
    },
    /// A BAR0 mirror read served from the virtual config.
    MirrorRead {
        /// BAR0 offset.
        bar0_offset: u64,
        /// Bytes returned (little-endian).
        value: u64,
    },
    /// A BAR0 mirror write applied to the virtual config.
    MirrorWrite {
        /// BAR0 offset.
        bar0_offset: u64,
        /// Bytes written (little-endian).
        value: u64,
    },
    /// The VMM's start-up GTT clear.
    StartupClear {
        /// MMIO_Index values written with data 0.
        entries: usize,
    },
    /// A function-level reset.
    Flr,
    /// A guest access after the VM was stopped (ignored).
    IgnoredAfterFatal,
}

/// The registers the wrapper virtualizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VirtualRegs {
    /// BDSM (32- or 64-bit per generation), initially 0.
    pub bdsm: u64,
    /// ASLS, initially 0.
    pub asls: u32,
    /// GGC as the guest sees it (read-only).
    pub ggc: u16,
}

/// A VMM's IGD passthrough quirk around a host device.
pub struct Passthrough<H: HostIgd, R: Remapper + ?Sized = dyn Remapper> {
    host: H,
    remapper: Box<R>,
    regs: VirtualRegs,
    guest_stolen_size: u64,
    reserved_stolen: Option<Region<GuestPhys>>,
    /// Where the remapper emulates BDSM (None: the device's register).
    bdsm_loc: Option<BdsmLocation>,
    /// The VMM set BDSM and ASLS itself ([`Remapper::host_mapped`]): guest
    /// writes to them are dropped.
    vmm_regs: bool,
    /// The device's MMIO_Index as the guest last wrote it.
    index_shadow: u32,
    events: Vec<PassthroughEvent>,
    halted: Option<String>,
}

impl<H: HostIgd, R: Remapper + ?Sized> std::fmt::Debug for Passthrough<H, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passthrough")
            .field("remapper", &self.remapper.name())
            .field("regs", &self.regs)
            .field("halted", &self.halted)
            .finish_non_exhaustive()
    }
}

/// `data` as a little-endian integer (up to 8 bytes; missing bytes are 0).
pub(crate) fn le_value(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(data) {
        *d = *s;
    }
    u64::from_le_bytes(b)
}

impl<H: HostIgd, R: Remapper + ?Sized> Passthrough<H, R> {
    /// Wrap `host`; the VMM's start-up GTT writes (if any) are done here.
    pub fn new(host: H, mut remapper: Box<R>) -> Self {
        let info = host.info();
        remapper.realize(info, host.config());
        let bdsm_loc = remapper.bdsm_location(info);
        let host_ggc = host.config().read_u16(CFG_GGC);
        let ggc = remapper.guest_ggc(info, host_ggc);
        let mut guest_stolen_size = remapper.bdsm_size(info, ggc);
        let mut regs = VirtualRegs {
            bdsm: 0,
            asls: 0,
            ggc,
        };
        let mut reserved_stolen = None;
        let mapped = remapper.host_mapped().and_then(Result::ok);
        if let Some(m) = &mapped {
            regs.bdsm = m.bdsm;
            regs.asls = m.asls;
            guest_stolen_size = m.stolen.size;
            reserved_stolen = Some(m.stolen);
        }
        let mut pt = Self {
            host,
            remapper,
            regs,
            guest_stolen_size,
            reserved_stolen,
            bdsm_loc,
            vmm_regs: mapped.is_some(),
            index_shadow: 0,
            events: Vec::new(),
            halted: None,
        };
        pt.startup_clear();
        pt
    }

    fn startup_clear(&mut self) {
        let ctx = self.context();
        let writes = self.remapper.startup_writes(&ctx);
        if writes.is_empty() {
            return;
        }
        for &i in &writes {
            self.host.io_write(remap::BAR4_INDEX, &i.to_le_bytes());
            self.host.io_write(remap::BAR4_DATA, &0u32.to_le_bytes());
        }
        self.host
            .io_write(remap::BAR4_INDEX, &self.index_shadow.to_le_bytes());
        self.events.push(PassthroughEvent::StartupClear {
            entries: writes.len(),
        });
    }

    /// The context handed to the remapper now.
    #[must_use]
    pub fn context(&self) -> RemapContext {
        RemapContext {
            info: self.host.info(),
            host_bdsm: self.host.host_bdsm(),
            guest_bdsm: self.regs.bdsm,
            host_stolen_size: self.host.stolen_size(),
            guest_stolen_size: self.guest_stolen_size,
            gtt_size: self.host.gtt_size(),
            ggc: self.regs.ggc,
            reserved_stolen: self.reserved_stolen,
        }
    }

    /// Tell the layer where firmware reserved guest stolen memory (the
    /// machine learns it from the firmware step).
    pub fn set_reserved_stolen(&mut self, region: Option<Region<GuestPhys>>) {
        self.reserved_stolen = region;
        if let Some(r) = region {
            self.guest_stolen_size = r.size;
        }
    }

    /// Where BDSM is emulated (None: the device's own register).
    #[must_use]
    pub fn bdsm_location(&self) -> Option<BdsmLocation> {
        self.bdsm_loc
    }

    /// The size firmware should reserve (`etc/igd-bdsm-size`).
    #[must_use]
    pub fn bdsm_size(&self) -> u64 {
        self.guest_stolen_size
    }

    /// What the VMM's host bridge shows of the platform's graphics registers.
    #[must_use]
    pub fn host_bridge_view(&self) -> HostBridgeView {
        self.remapper.host_bridge()
    }

    /// The remapper.
    #[must_use]
    pub fn remapper(&self) -> &R {
        &self.remapper
    }

    /// The virtual registers.
    #[must_use]
    pub fn regs(&self) -> VirtualRegs {
        self.regs
    }

    /// The host device.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// The host device, mutably (host-side inspection in tests).
    pub fn host_mut(&mut self) -> &mut H {
        &mut self.host
    }

    /// Events so far.
    #[must_use]
    pub fn events(&self) -> &[PassthroughEvent] {
        &self.events
    }

    /// Take the events recorded so far.
    pub fn take_events(&mut self) -> Vec<PassthroughEvent> {
        std::mem::take(&mut self.events)
    }

    /// The VMM's fatal message, once the VM is stopped.
    #[must_use]
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    fn stopped(&mut self) -> bool {
        if self.halted.is_some() {
            self.events.push(PassthroughEvent::IgnoredAfterFatal);
            true
        } else {
            false
        }
    }

    /// Which virtual register byte `at` belongs to: (register start, width, kind).
    fn virtual_byte(&self, at: u16) -> Option<(u16, VReg)> {
        if let Some(loc) = self.bdsm_loc {
            let b = loc.offset();
            if (b..b + loc.width()).contains(&at) {
                return Some((b, VReg::Bdsm));
            }
        }
        if (CFG_ASLS..CFG_ASLS + 4).contains(&at) {
            return Some((CFG_ASLS, VReg::Asls));
        }
        if (CFG_GGC..CFG_GGC + 2).contains(&at) {
            return Some((CFG_GGC, VReg::Ggc));
        }
        None
    }

    fn vreg_byte(&self, reg: VReg, i: u16) -> u8 {
        let v = match reg {
            VReg::Bdsm => self.regs.bdsm,
            VReg::Asls => u64::from(self.regs.asls),
            VReg::Ggc => u64::from(self.regs.ggc),
        };
        (v >> (u32::from(i) * 8)) as u8
    }

    fn set_vreg_byte(&mut self, reg: VReg, i: u16, byte: u8) {
        let shift = u32::from(i) * 8;
        if self.vmm_regs {
            // Xen (non-permissive config writes, `igd_write_opregion` taking
            // only the first ASLS write) and ACRN (`passthru_cfgwrite` skips
            // virtualized registers) keep what they set.
            return;
        }
        match reg {
            VReg::Bdsm => {
                self.regs.bdsm =
                    (self.regs.bdsm & !(0xFFu64 << shift)) | (u64::from(byte) << shift);
            }
            VReg::Asls => {
                self.regs.asls =
                    (self.regs.asls & !(0xFFu32 << shift)) | (u32::from(byte) << shift);
            }
            // GGC is read-only (hardware lock; QEMU emulates it read-only).
            VReg::Ggc => {}
        }
    }

    /// Guest config read: host bytes overlaid with the virtual registers.
    pub fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        if self.stopped() {
            data.fill(0xFF);
            return;
        }
        self.host.config_read(offset, data);
        self.overlay_config(offset, data);
    }

    fn overlay_config(&self, offset: u16, data: &mut [u8]) {
        for (i, d) in data.iter_mut().enumerate() {
            let Some(at) = u16::try_from(i).ok().and_then(|i| offset.checked_add(i)) else {
                break;
            };
            if let Some((base, reg)) = self.virtual_byte(at) {
                *d = self.vreg_byte(reg, at - base);
            }
        }
    }

    /// Guest config write: virtual register bytes are kept here, the rest goes
    /// to the device. A write that starts an FLR resets the remapper.
    pub fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        if self.stopped() {
            return ConfigWrite::default();
        }
        let mut eff = ConfigWrite::default();
        // The pending run of device bytes: (config offset, start index in `data`).
        let mut run: Option<(u16, usize)> = None;
        let mut end = data.len();
        for (i, &b) in data.iter().enumerate() {
            let Some(at) = u16::try_from(i).ok().and_then(|i| offset.checked_add(i)) else {
                end = i;
                break;
            };
            if let Some((base, reg)) = self.virtual_byte(at) {
                if let Some((o, start)) = run.take() {
                    let bytes = data.get(start..i).unwrap_or_default();
                    eff = eff.merge(self.host.config_write(o, bytes));
                }
                self.set_vreg_byte(reg, at - base, b);
            } else if run.is_none() {
                run = Some((at, i));
            }
        }
        if let Some((o, start)) = run {
            let bytes = data.get(start..end).unwrap_or_default();
            eff = eff.merge(self.host.config_write(o, bytes));
        }
        if eff.flr {
            self.after_flr();
        }
        eff
    }

    fn after_flr(&mut self) {
        self.remapper.reset();
        self.index_shadow = 0;
        self.events.push(PassthroughEvent::Flr);
    }

    /// Function-level reset of the device (the VMM's reset path). The virtual
    /// BDSM/ASLS survive, as in QEMU (igd-anchors §1.9).
    pub fn flr(&mut self) {
        self.host.flr();
        self.after_flr();
    }

    /// Guest BAR0 read; mirrors are served from the virtual config.
    pub fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        if self.stopped() {
            data.fill(0xFF);
            return;
        }
        let ctx = self.context();
        let len = data.len() as u64;
        match self.remapper.bar0_mirror(&ctx, offset) {
            Some(m) if m.covers(offset, len) => {
                // "Read and discard in case the hardware cares" (QEMU).
                self.host.mmio_read(offset, data);
                let cfg = m.config_offset + (offset - m.bar0_offset) as u16;
                self.host.config_read(cfg, data);
                self.overlay_config(cfg, data);
                self.events.push(PassthroughEvent::MirrorRead {
                    bar0_offset: offset,
                    value: le_value(data),
                });
            }
            _ => self.host.mmio_read(offset, data),
        }
    }

    /// Guest BAR0 write: mirrors go to the virtual config, GTT-half writes
    /// through the remapper.
    pub fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Option<GttWrite> {
        if self.stopped() {
            return None;
        }
        let ctx = self.context();
        let len = data.len() as u64;
        if let Some(m) = self.remapper.bar0_mirror(&ctx, offset) {
            if m.covers(offset, len) {
                let cfg = m.config_offset + (offset - m.bar0_offset) as u16;
                self.config_write(cfg, data);
                self.events.push(PassthroughEvent::MirrorWrite {
                    bar0_offset: offset,
                    value: le_value(data),
                });
                return None;
            }
        }
        let info = ctx.info;
        let gtt_base = info.gtt_offset_in_bar0();
        if offset >= gtt_base && offset < info.gttmmadr_size {
            let gtt_offset = offset - gtt_base;
            let decision = self.remapper.on_bar0_gtt_write(&ctx, gtt_offset, data);
            let (outcome, gtt) = self.apply_write(decision, Target::Bar0(offset), data);
            let last = gtt.last().copied();
            self.events.push(PassthroughEvent::Bar0GttWrite {
                gtt_offset,
                width: data.len().min(8) as u8,
                guest_value: le_value(data),
                outcome,
                gtt,
            });
            return last;
        }
        self.host.mmio_write(offset, data)
    }

    /// Apply a write decision; returns the outcome and the GTT changes.
    fn apply_write(
        &mut self,
        decision: Decision,
        target: Target,
        data: &[u8],
    ) -> (Outcome, Vec<GttWrite>) {
        let mut gtt = Vec::new();
        let outcome = match decision {
            Decision::Forward => {
                gtt.extend(self.write_target(target, data));
                Outcome::Forwarded
            }
            Decision::Rewrite { value, reason } => {
                let bytes = value.to_le_bytes();
                let n = data.len().min(8);
                gtt.extend(self.write_target(target, bytes.get(..n).unwrap_or(&bytes)));
                Outcome::Rewritten { value, reason }
            }
            Decision::Replace { writes, reason } => {
                let base = self.host.info().gtt_offset_in_bar0();
                for w in &writes {
                    if let Some(off) = base.checked_add(w.gtt_offset) {
                        gtt.extend(self.host.mmio_write(off, &w.value.to_le_bytes()));
                    }
                }
                Outcome::Replaced { writes, reason }
            }
            Decision::Emulate { reason, .. } => Outcome::Emulated { reason },
            Decision::Refuse { reason } => {
                tracing::debug!(%reason, "passthrough refused a write");
                Outcome::Refused { reason }
            }
            Decision::Fatal { message } => {
                tracing::warn!(%message, "VMM stopped the VM");
                self.halted = Some(message.clone());
                Outcome::Fatal { message }
            }
        };
        (outcome, gtt)
    }

    fn write_target(&mut self, target: Target, data: &[u8]) -> Option<GttWrite> {
        match target {
            Target::Bar0(off) => self.host.mmio_write(off, data),
            Target::Bar4(off) => self.host.io_write(off, data),
        }
    }

    /// Guest BAR4 read.
    pub fn io_read(&mut self, offset: u16, data: &mut [u8]) {
        if self.stopped() {
            data.fill(0xFF);
            return;
        }
        let ctx = self.context();
        let mut pos = 0usize;
        while pos < data.len() {
            let Some(at) = u16::try_from(pos).ok().and_then(|p| offset.checked_add(p)) else {
                break;
            };
            let (reg, seg) = segment(at, data.len() - pos);
            let Some(chunk) = data.get_mut(pos..pos + seg) else {
                break;
            };
            match reg {
                None => self.host.io_read(at, chunk),
                Some((reg, in_reg)) => {
                    let access = Bar4Access {
                        reg,
                        offset: in_reg,
                        width: seg as u8,
                        op: Bar4Op::Read,
                        device_index: self.index_shadow,
                    };
                    match self.remapper.on_bar4_access(&ctx, &access) {
                        Decision::Emulate { value, reason } => {
                            let bytes = value.to_le_bytes();
                            for (i, d) in chunk.iter_mut().enumerate() {
                                *d = bytes.get(usize::from(in_reg) + i).copied().unwrap_or(0);
                            }
                            self.events.push(PassthroughEvent::Bar4Emulated {
                                index: self.index_shadow,
                                value,
                                reason,
                            });
                        }
                        _ => self.host.io_read(at, chunk),
                    }
                }
            }
            pos += seg;
        }
    }

    /// Guest BAR4 write.
    pub fn io_write(&mut self, offset: u16, data: &[u8]) -> Option<GttWrite> {
        if self.stopped() {
            return None;
        }
        let ctx = self.context();
        let mut last = None;
        let mut pos = 0usize;
        while pos < data.len() {
            if self.halted.is_some() {
                break;
            }
            let Some(at) = u16::try_from(pos).ok().and_then(|p| offset.checked_add(p)) else {
                break;
            };
            let (reg, seg) = segment(at, data.len() - pos);
            let Some(chunk) = data.get(pos..pos + seg) else {
                break;
            };
            match reg {
                None => last = self.host.io_write(at, chunk).or(last),
                Some((reg, in_reg)) => {
                    let value = le_value(chunk) as u32;
                    let access = Bar4Access {
                        reg,
                        offset: in_reg,
                        width: seg as u8,
                        op: Bar4Op::Write(value),
                        device_index: self.index_shadow,
                    };
                    let decision = self.remapper.on_bar4_access(&ctx, &access);
                    if reg == Bar4Reg::Index {
                        // The device's register takes the bytes written.
                        if !matches!(decision, Decision::Refuse { .. } | Decision::Fatal { .. }) {
                            let mut b = self.index_shadow.to_le_bytes();
                            for (i, v) in chunk.iter().enumerate() {
                                if let Some(s) = b.get_mut(usize::from(in_reg) + i) {
                                    *s = *v;
                                }
                            }
                            self.index_shadow = u32::from_le_bytes(b);
                        }
                        let (_, gtt) = self.apply_write(decision, Target::Bar4(at), chunk);
                        last = gtt.last().copied().or(last);
                    } else {
                        let index = self.index_shadow;
                        let (outcome, gtt) = self.apply_write(decision, Target::Bar4(at), chunk);
                        last = gtt.last().copied().or(last);
                        self.events.push(PassthroughEvent::Bar4DataWrite {
                            index,
                            offset: in_reg,
                            width: seg as u8,
                            guest_value: value,
                            outcome,
                            gtt,
                        });
                    }
                }
            }
            pos += seg;
        }
        last
    }

    /// Guest aperture read (passes through; the GTT decides where it lands).
    #[inline]
    pub fn aperture_read(
        &mut self,
        offset: u64,
        data: &mut [u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, H::ApertureError> {
        if self.stopped() {
            data.fill(0xFF);
            return Ok(DmaAccesses::new());
        }
        self.host.aperture_read(offset, data, dma)
    }

    /// Guest aperture write.
    #[inline]
    pub fn aperture_write(
        &mut self,
        offset: u64,
        data: &[u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, H::ApertureError> {
        if self.stopped() {
            return Ok(DmaAccesses::new());
        }
        self.host.aperture_write(offset, data, dma)
    }
}

#[derive(Clone, Copy)]
enum VReg {
    Bdsm,
    Asls,
    Ggc,
}

#[derive(Clone, Copy)]
enum Target {
    Bar0(u64),
    Bar4(u16),
}

/// The BAR4 register an access at `at` hits and how many of `len` bytes stay
/// inside it: (Some((reg, offset in reg)) or None past +8, bytes).
fn segment(at: u16, len: usize) -> (Option<(Bar4Reg, u8)>, usize) {
    let (reg, start) = match at {
        0..=3 => (Bar4Reg::Index, 0u16),
        4..=7 => (Bar4Reg::Data, 4u16),
        _ => return (None, len),
    };
    let in_reg = at - start;
    let room = usize::from(4 - in_reg);
    (Some((reg, in_reg as u8)), len.min(room))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::{info, Platform};
    use testing::{FakeIgd, FAKE_HOST_ASLS};

    fn rig(r: Box<dyn Remapper>) -> Passthrough<FakeIgd> {
        Passthrough::new(
            FakeIgd::new(info(Platform::SandyBridge), 0x8B00_0000, 0x0228),
            r,
        )
    }

    #[test]
    fn bdsm_asls_and_ggc_are_virtual() {
        let mut pt = rig(Box::new(Qemu2016::new()));
        let mut b = [0u8; 4];
        pt.config_read(0x5C, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0, "BDSM starts at 0");
        pt.config_read(0xFC, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0, "ASLS starts at 0");
        // A write straddling 0x5A..0x5E: 0x5C-0x5D virtual, 0x5A-0x5B host.
        pt.config_write(0x5A, &[0xAA, 0xBB, 0x00, 0x7E]);
        pt.config_write(0x5E, &[0x00, 0x00]);
        pt.config_write(0xFC, &0x7FFF_E000u32.to_le_bytes());
        assert_eq!(
            pt.regs().bdsm,
            0x7E00,
            "bytes 0x5C-0x5D from the straddling write"
        );
        pt.config_write(0x5C, &0x7E00_0000u32.to_le_bytes());
        assert_eq!(pt.regs().bdsm, 0x7E00_0000);
        assert_eq!(pt.regs().asls, 0x7FFF_E000);
        assert_eq!(
            pt.host().config().read_u32(0x5C),
            0x8B00_0001,
            "host untouched"
        );
        assert_eq!(pt.host().config().read_u32(0xFC), FAKE_HOST_ASLS);
        let mut g = [0u8; 2];
        pt.config_read(0x50, &mut g);
        assert_eq!(u16::from_le_bytes(g), 0x0200, "QEMU 9.1 hides GMS");
        pt.config_write(0x50, &[0xFF, 0xFF]);
        pt.config_read(0x50, &mut g);
        assert_eq!(u16::from_le_bytes(g), 0x0200, "GGC is read-only");
    }

    #[test]
    fn one_wide_io_write_spanning_index_and_data_is_split() {
        let mut pt = rig(Box::new(Strict::default()));
        pt.config_write(0x5C, &0x7E00_0000u32.to_le_bytes());
        let mut both = [0u8; 8];
        both[..4].copy_from_slice(&1u32.to_le_bytes());
        both[4..].copy_from_slice(&0x8B00_2005u32.to_le_bytes());
        pt.io_write(0, &both);
        assert_eq!(pt.host().gtt_entry(0), 0x7E00_2005);
        let mut idx = [0u8; 4];
        pt.io_read(0, &mut idx);
        assert_eq!(u32::from_le_bytes(idx), 1);
    }

    #[test]
    fn qemu2025_mirrors_bdsm_always_and_ggc_only_with_gms_override() {
        let mut pt = rig(Box::new(Qemu2025::new()));
        pt.mmio_write(
            u64::from(crate::igd::mmio::GEN6_DSMBASE),
            &0x7E00_0000u32.to_le_bytes(),
        );
        assert_eq!(pt.regs().bdsm, 0x7E00_0000);
        let mut g = [0u8; 2];
        pt.mmio_read(0x108040, &mut g);
        assert_eq!(
            u16::from_le_bytes(g),
            0x0228,
            "device register, not a mirror"
        );
        let mut pt = rig(Box::new(Qemu2025::with_gms(2)));
        pt.mmio_read(0x108040, &mut g);
        assert_eq!(u16::from_le_bytes(g), 0x0210, "GMS 2 through the mirror");
        assert_eq!(pt.bdsm_size(), 64 << 20);
        assert!(matches!(
            pt.events().last(),
            Some(PassthroughEvent::MirrorRead { .. })
        ));
    }

    #[test]
    fn formulas_match_qemu_comments() {
        // "2M/4k * 4 = 2k or 8M/4k * 8 = 16k as the maximum iobar index".
        assert_eq!(qemu_release::legacy_gtt_max(6, 0x0200), 2048);
        assert_eq!(qemu_release::legacy_gtt_max(8, 0x00C0), 16384);
        // Every release with the quirk read a GGMS field of 0 as 1 MiB on gen
        // > 6 (03828b00a2bf fixed it in 10.0, after the quirk was gone).
        assert_eq!(qemu_release::legacy_ggms_mib(8, 0), 1);
        assert_eq!(qemu_release::stolen_size(9, 0xF000), 4 << 20);
    }
}
