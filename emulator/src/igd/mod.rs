//! The Intel integrated graphics device, host side: what the real hardware does.
//! The device model knows host physical addresses only (DESIGN.md).
//!
//! [`IgdDevice`] ties the parts together: [`config`] (PCI config space),
//! [`mmio`] (BAR0 registers), [`gtt`] (the GGTT in the upper half of BAR0),
//! [`iobar`] (BAR4 index/data), [`aperture`] (BAR2 through the GTT) and
//! [`reset`] (FLR). The device does not check the command register's decode
//! enables: routing accesses to BARs is the bus's job.
//!
//! ```
//! use igdemu::igd::{IgdConfig, IgdDevice};
//! let mut igd = IgdDevice::new(IgdConfig::for_device(0x0126)?)?;
//! // Program GTT entry 3 through the I/O BAR as a vBIOS does.
//! igd.io_write(0, &((3u32 * 4) | 1).to_le_bytes());
//! let w = igd.io_write(4, &0x8b80_0001u32.to_le_bytes()).unwrap();
//! assert_eq!((w.index, w.new), (3, 0x8b80_0001));
//! assert_eq!(igd.gtt().raw(3), 0x8b80_0001);
//! # Ok::<(), igdemu::igd::IgdError>(())
//! ```
// Guest-reachable code: no panicking shortcuts (STYLE.md pattern 5); tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod aperture;
pub mod config;
pub mod devices;
pub mod display;
pub mod dma;
pub mod dpaux;
pub mod edid;
pub mod generation;
pub mod gmbus;
pub mod gtt;
pub mod iobar;
pub mod mmio;
pub mod overrides;
pub mod pte;
pub mod regs;
pub mod reset;
pub mod spin;

pub use aperture::{ApertureFault, ApertureFaultKind};
pub use dma::{DmaAccess, DmaAccesses, DmaBus, DmaFault};
pub use dpaux::DpSink;
pub use edid::Panel;
pub use generation::{Gen, GgcDecode, Platform, PlatformInfo, PteFormat};
pub use gtt::{Gtt, GttAccessError, GttWrite};
pub use iobar::{IoBar, IoTarget};
pub use mmio::{MmioRegisters, RegisterBehaviour};
pub use overrides::{OverrideError, RegisterOverride};
pub use pte::{Pte, PteError};
pub use regs::register_name;
pub use spin::{PolledRegister, WaitCondition};

use crate::addr::HostPhys;
use crate::pci::{ConfigSpace, ConfigWrite, PciError, PciFunction};
use generation::BdsmLocation;

const MIB: u64 = 1 << 20;

/// How to build a device: identity and the values host firmware left in the
/// locked registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IgdConfig {
    /// PCI device ID; selects the platform.
    pub device_id: u16,
    /// Revision ID.
    pub revision: u8,
    /// Subsystem vendor ID.
    pub subsystem_vendor: u16,
    /// Subsystem ID.
    pub subsystem_id: u16,
    /// Host base of data stolen memory (BDSM), 1 MiB aligned.
    pub host_bdsm: HostPhys,
    /// GGC as firmware programmed it (GMS, GGMS, lock bit 0).
    pub ggc: u16,
    /// Aperture (BAR2) size in bytes, a power of two.
    pub aperture_size: u64,
    /// ASLS (OpRegion address) as host firmware left it.
    pub host_asls: u32,
}

impl IgdConfig {
    /// Sane defaults for `device_id`: host BDSM 0x8b80_0000, 64 MiB of data
    /// stolen memory, a 2 MiB GTT, GGC locked, a 256 MiB aperture, an OpRegion
    /// at 0x8a7f_c000.
    pub fn for_device(device_id: u16) -> Result<IgdConfig, IgdError> {
        let info =
            generation::lookup(device_id).map_err(|_| IgdError::UnknownDeviceId(device_id))?;
        let gms = info
            .gms_for_size(64 * MIB)
            .ok_or(IgdError::ReservedGgc { ggc: 0 })?;
        let ggms = info
            .ggms_for_size(2 * MIB)
            .ok_or(IgdError::ReservedGgc { ggc: 0 })?;
        Ok(IgdConfig {
            device_id,
            revision: 0x09,
            subsystem_vendor: 0x8086,
            subsystem_id: 0x2212,
            host_bdsm: HostPhys(0x8b80_0000),
            ggc: info.encode_ggc(gms, ggms) | config::GGC_LOCK,
            aperture_size: 256 * MIB,
            host_asls: 0x8a7f_c000,
        })
    }
}

/// Why a device could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgdError {
    /// No platform has this device ID.
    #[error("unknown Intel graphics device ID {0:#06x}")]
    UnknownDeviceId(u16),
    /// GGC holds a reserved GMS encoding (or no encoding exists for a default).
    #[error("GGC {ggc:#06x} holds a reserved encoding")]
    ReservedGgc {
        /// The GGC value.
        ggc: u16,
    },
    /// The GTT GGC asks for does not fit the upper half of BAR0.
    #[error("GTT of {gtt_size:#x} bytes does not fit the {limit:#x}-byte GTT half of BAR0")]
    GttTooLarge {
        /// GTT size from GGC.
        gtt_size: u64,
        /// Half of GTTMMADR.
        limit: u64,
    },
    /// BDSM not 1 MiB aligned.
    #[error("host BDSM {0:?} is not 1 MiB aligned")]
    UnalignedBdsm(HostPhys),
    /// Stolen memory does not fit where BDSM puts it (above 4 GiB for a 32-bit
    /// BDSM, overflow, or no room for the GTT below it).
    #[error("host stolen memory at {0:?} does not fit the address space")]
    BdsmOutOfRange(HostPhys),
    /// Aperture size not a power of two between 1 MiB and 64 GiB.
    #[error("aperture size {0:#x} is not a power of two between 1 MiB and 64 GiB")]
    BadApertureSize(u64),
    /// The config space could not be built (a programming error).
    #[error("config space: {0}")]
    Pci(#[from] PciError),
}

/// The IGD at 00:02.0, host side.
#[derive(Clone, Debug)]
pub struct IgdDevice {
    cfg: IgdConfig,
    info: &'static PlatformInfo,
    ggc: GgcDecode,
    config: ConfigSpace,
    mmio: MmioRegisters,
    gtt: Gtt,
    iobar: IoBar,
}

impl IgdDevice {
    /// Build a device in its power-on state (GTT zeroed, BARs unassigned).
    pub fn new(cfg: IgdConfig) -> Result<IgdDevice, IgdError> {
        let info = generation::lookup(cfg.device_id)
            .map_err(|_| IgdError::UnknownDeviceId(cfg.device_id))?;
        let ggc = info
            .decode_ggc(cfg.ggc)
            .map_err(|_| IgdError::ReservedGgc { ggc: cfg.ggc })?;
        let limit = info.gtt_offset_in_bar0();
        if ggc.gtt_size > limit {
            return Err(IgdError::GttTooLarge {
                gtt_size: ggc.gtt_size,
                limit,
            });
        }
        let bdsm = cfg.host_bdsm.raw();
        if !bdsm.is_multiple_of(MIB) {
            return Err(IgdError::UnalignedBdsm(cfg.host_bdsm));
        }
        let end = bdsm.checked_add(ggc.stolen_size);
        let fits = match info.bdsm {
            BdsmLocation::Config5C => end.is_some_and(|e| e <= 1 << 32),
            BdsmLocation::ConfigC0 => end.is_some(),
        };
        if !fits || bdsm < ggc.gtt_size {
            return Err(IgdError::BdsmOutOfRange(cfg.host_bdsm));
        }
        let a = cfg.aperture_size;
        if !a.is_power_of_two() || !(MIB..=64 << 30).contains(&a) {
            return Err(IgdError::BadApertureSize(a));
        }
        Ok(IgdDevice {
            cfg,
            info,
            ggc,
            config: config::build(info, &cfg)?,
            mmio: MmioRegisters::new(info, config::bdsm_register(&cfg), cfg.ggc),
            gtt: Gtt::new(info.pte, ggc.gtt_size),
            iobar: IoBar::new(info.iobar_gtt),
        })
    }

    /// Virtual time reached `now_ns` (emulated ns since power-on): what
    /// completions scheduled with [`crate::vtime::Timer`] compare against.
    /// Completions whose time has come take effect (PLL lock, panel power
    /// sequence, AUX reply; see [`MmioRegisters::set_time`]).
    pub fn set_time(&mut self, now_ns: u64) {
        self.mmio.set_time(now_ns);
    }

    /// Virtual time of the current access.
    #[must_use]
    pub const fn now_ns(&self) -> u64 {
        self.mmio.now_ns()
    }

    /// The earliest pending completion after `now_ns`, for a guest polling
    /// for it to skip ahead ([`crate::vtime::IdleDetector`]).
    #[must_use]
    pub fn next_deadline(&self, now_ns: u64) -> Option<u64> {
        self.mmio.next_deadline(now_ns)
    }

    /// The platform row.
    #[must_use]
    pub fn info(&self) -> &'static PlatformInfo {
        self.info
    }

    /// The configuration the device was built from.
    #[must_use]
    pub fn igd_config(&self) -> &IgdConfig {
        &self.cfg
    }

    /// Host base of data stolen memory.
    #[must_use]
    pub fn host_bdsm(&self) -> HostPhys {
        self.cfg.host_bdsm
    }

    /// Data stolen memory (DSM) size from GGC.
    #[must_use]
    pub fn stolen_size(&self) -> u64 {
        self.ggc.stolen_size
    }

    /// GTT stolen memory (GSM) size from GGC.
    #[must_use]
    pub fn gtt_size(&self) -> u64 {
        self.ggc.gtt_size
    }

    /// Offset of the GTT in BAR0.
    #[must_use]
    pub fn gtt_offset_in_bar0(&self) -> u64 {
        self.info.gtt_offset_in_bar0()
    }

    /// Config space.
    #[must_use]
    pub fn config(&self) -> &ConfigSpace {
        &self.config
    }

    /// Guest config read.
    pub fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.config.read(offset, data);
    }

    /// Guest config write. A write that sets AF control bit 0 or PCIe Device
    /// Control bit 15 performs an FLR; the result then has `flr` set and reports
    /// the BARs and command register the reset changed.
    pub fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        let eff = self.config.write(offset, data);
        if config::flr_requested(&self.config) {
            return eff.merge(self.reset_function());
        }
        eff
    }

    /// Guest read of BAR0: registers in the lower half, the GTT in the upper.
    /// An access is routed by its first byte; register bytes past the lower
    /// half, widths other than 1, 2, 4, 8, and offsets beyond the GTT or BAR0
    /// read 0 (reported through `tracing::debug`).
    pub fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if !matches!(data.len(), 1 | 2 | 4 | 8) {
            tracing::debug!(offset, len = data.len(), "igd bar0: bad read width");
            return;
        }
        let gtt_off = self.gtt_offset_in_bar0();
        if offset < gtt_off {
            if !self.mmio.read(offset, data) {
                tracing::debug!(offset, "igd bar0: read straddles the register half");
            }
        } else if let Err(e) = self.gtt.read(offset - gtt_off, data) {
            tracing::debug!(%e, "igd bar0: GTT read refused");
        }
    }

    /// Guest write of BAR0, routed like [`IgdDevice::mmio_read`]. A write to
    /// the GTT half returns the PTE change; refused writes are dropped.
    pub fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Option<GttWrite> {
        if !matches!(data.len(), 1 | 2 | 4 | 8) {
            tracing::debug!(offset, len = data.len(), "igd bar0: bad write width");
            return None;
        }
        let gtt_off = self.gtt_offset_in_bar0();
        if offset < gtt_off {
            if !self.mmio.write(offset, data) {
                tracing::debug!(offset, "igd bar0: write straddles the register half");
            }
            return None;
        }
        self.gtt
            .write(offset - gtt_off, data)
            .map_err(|e| tracing::debug!(%e, "igd bar0: GTT write refused"))
            .ok()
    }

    /// Guest read of BAR4 (widths 1, 2, 4; others read all-ones).
    pub fn io_read(&mut self, offset: u16, data: &mut [u8]) {
        if !matches!(data.len(), 1 | 2 | 4) {
            tracing::debug!(offset, len = data.len(), "igd iobar: bad read width");
            data.fill(0xFF);
            return;
        }
        self.iobar.read(offset, data, &mut self.mmio, &self.gtt);
    }

    /// Guest write of BAR4 (widths 1, 2, 4; others are dropped). A Sel = 1 data
    /// write returns the PTE change.
    pub fn io_write(&mut self, offset: u16, data: &[u8]) -> Option<GttWrite> {
        if !matches!(data.len(), 1 | 2 | 4) {
            tracing::debug!(offset, len = data.len(), "igd iobar: bad write width");
            return None;
        }
        self.iobar
            .write(offset, data, &mut self.mmio, &mut self.gtt)
    }

    /// Guest read of the aperture (BAR2) at `offset`, through the GTT to `dma`.
    #[inline]
    pub fn aperture_read(
        &mut self,
        offset: u64,
        data: &mut [u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, ApertureFault> {
        aperture::read(&self.gtt, self.cfg.aperture_size, offset, data, dma)
    }

    /// Guest write of the aperture (BAR2) at `offset`, through the GTT to `dma`.
    #[inline]
    pub fn aperture_write(
        &mut self,
        offset: u64,
        data: &[u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, ApertureFault> {
        aperture::write(&self.gtt, self.cfg.aperture_size, offset, data, dma)
    }

    /// The GTT.
    #[must_use]
    pub fn gtt(&self) -> &Gtt {
        &self.gtt
    }

    /// The I/O BAR state.
    #[must_use]
    pub fn iobar(&self) -> &IoBar {
        &self.iobar
    }

    /// Perform a function-level reset (see [`reset`] for what survives).
    pub fn flr(&mut self) {
        self.reset_function();
    }

    /// The BAR0 register file.
    #[must_use]
    pub fn mmio(&self) -> &MmioRegisters {
        &self.mmio
    }

    /// Replace the behaviour of one BAR0 register (`--override`); it survives
    /// FLR.
    pub fn apply_override(&mut self, o: &RegisterOverride) {
        self.mmio.apply_override(o);
    }

    /// Attach the displays of `topology` (`--display`).
    pub fn set_topology(&mut self, topology: &display::DisplayTopology) {
        self.mmio.set_topology(topology);
    }

    /// Put `panel` (its EDID) behind GMBUS and the AUX channels.
    pub fn set_panel(&mut self, panel: &Panel) {
        self.mmio.set_panel(panel);
    }

    /// Connect `sink` to AUX channel `index` (None disconnects); false if the
    /// platform has no such channel. See [`regs::aux_channels`].
    pub fn set_dp_sink(&mut self, index: usize, sink: Option<DpSink>) -> bool {
        self.mmio.set_dp_sink(index, sink)
    }

    /// The i915 name of the BAR0 register at `offset` on this platform.
    #[must_use]
    pub fn register_name(&self, offset: u32) -> Option<&'static str> {
        regs::register_name(self.info.platform, offset)
    }
}

impl PciFunction for IgdDevice {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        IgdDevice::config_read(self, offset, data);
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        IgdDevice::config_write(self, offset, data)
    }
    fn config(&self) -> &ConfigSpace {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::dma::FlatDma;
    use super::mmio::{GEN6_DSMBASE, GGC_MIRROR};
    use super::regs::{HSW_PWR_WELL_CTL1, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE};
    use super::*;
    use crate::addr::Iova;
    use proptest::prelude::*;

    fn dev(id: u16) -> IgdDevice {
        IgdDevice::new(IgdConfig::for_device(id).unwrap()).unwrap()
    }

    fn io32(d: &mut IgdDevice, port: u16, v: u32) -> Option<GttWrite> {
        d.io_write(port, &v.to_le_bytes())
    }

    fn io_in32(d: &mut IgdDevice, port: u16) -> u32 {
        let mut b = [0u8; 4];
        d.io_read(port, &mut b);
        u32::from_le_bytes(b)
    }

    fn mmio64(d: &mut IgdDevice, off: u64) -> u64 {
        let mut b = [0u8; 8];
        d.mmio_read(off, &mut b);
        u64::from_le_bytes(b)
    }

    #[test]
    fn defaults_decode_to_64_mib_stolen_and_2_mib_gtt() {
        for id in [
            0x0126u16, 0x0166, 0x0416, 0x1616, 0x22B0, 0x1912, 0x8A52, 0x9A49,
        ] {
            let d = dev(id);
            assert_eq!(d.stolen_size(), 64 * MIB, "{id:#x}");
            assert_eq!(d.gtt_size(), 2 * MIB, "{id:#x}");
            assert_eq!(d.gtt().len(), 2 * MIB / d.info().pte.size());
            assert_eq!(d.host_bdsm(), HostPhys(0x8b80_0000));
            assert_eq!(d.config().read_u16(config::GGC), d.igd_config().ggc);
        }
        // gen6/7 encode 2 MiB as GGMS 2, gen8+ as GGMS 1.
        assert_eq!((IgdConfig::for_device(0x0126).unwrap().ggc >> 8) & 3, 2);
        assert_eq!((IgdConfig::for_device(0x1912).unwrap().ggc >> 6) & 3, 1);
        assert_eq!(
            IgdConfig::for_device(0x1234),
            Err(IgdError::UnknownDeviceId(0x1234))
        );
    }

    #[test]
    fn bad_configurations_are_typed_errors() {
        let base = IgdConfig::for_device(0x0126).unwrap();
        let err = |f: &dyn Fn(&mut IgdConfig)| {
            let mut c = base;
            f(&mut c);
            IgdDevice::new(c).unwrap_err()
        };
        assert_eq!(
            err(&|c| c.host_bdsm = HostPhys(0x8b88_0000)),
            IgdError::UnalignedBdsm(HostPhys(0x8b88_0000))
        );
        assert_eq!(
            err(&|c| c.host_bdsm = HostPhys(0x1_0000_0000)),
            IgdError::BdsmOutOfRange(HostPhys(0x1_0000_0000)),
            "a 32-bit BDSM cannot point above 4 GiB"
        );
        assert_eq!(
            err(&|c| c.aperture_size = 3 << 27),
            IgdError::BadApertureSize(3 << 27)
        );
        // GGMS 3 on SNB = 3 MiB: does not fit the 2 MiB GTT half of BAR0.
        assert_eq!(
            err(&|c| c.ggc = 0x0311),
            IgdError::GttTooLarge {
                gtt_size: 3 * MIB,
                limit: 2 * MIB
            }
        );
        let mut c = IgdConfig::for_device(0x1912).unwrap();
        c.ggc = 0xFF40;
        assert_eq!(
            IgdDevice::new(c).unwrap_err(),
            IgdError::ReservedGgc { ggc: 0xFF40 }
        );
        // gen12: 64-bit BDSM above 4 GiB is fine; 8 MiB GTT on gen8+.
        let mut c = IgdConfig::for_device(0x9A49).unwrap();
        c.host_bdsm = HostPhys(0x4_0000_0000);
        c.ggc = 0x02C1;
        let d = IgdDevice::new(c).unwrap();
        assert_eq!(d.gtt_size(), 8 * MIB);
        assert_eq!(d.gtt().len(), MIB);
        assert_eq!(d.config().read_u64(config::BDSM_GEN11), 0x4_0000_0001);
    }

    #[test]
    fn bar0_gtt_writes_are_visible_through_bar4_and_back_gen6() {
        let mut d = dev(0x0126);
        let gtt = d.gtt_offset_in_bar0();
        assert_eq!(gtt, 2 * MIB);
        let w = d
            .mmio_write(gtt + 4 * 10, &0x8b80_a001u32.to_le_bytes())
            .unwrap();
        assert_eq!((w.index, w.old, w.new), (10, 0, 0x8b80_a001));
        io32(&mut d, 0, (4 * 10) | 1);
        assert_eq!(io_in32(&mut d, 4), 0x8b80_a001);
        io32(&mut d, 0, (4 * 11) | 1);
        let w = io32(&mut d, 4, 0x8b80_b001).unwrap();
        assert_eq!((w.index, w.old, w.new), (11, 0, 0x8b80_b001));
        let mut b = [0u8; 4];
        d.mmio_read(gtt + 44, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x8b80_b001);
    }

    #[test]
    fn bar0_gtt_writes_are_visible_through_bar4_and_back_gen8() {
        let mut d = dev(0x1616);
        let gtt = d.gtt_offset_in_bar0();
        assert_eq!(gtt, 8 * MIB);
        let w = d
            .mmio_write(gtt + 8 * 3, &0x1_8b80_3003u64.to_le_bytes())
            .unwrap();
        assert_eq!((w.index, w.new), (3, 0x1_8b80_3003));
        io32(&mut d, 0, (8 * 3 + 4) | 1);
        assert_eq!(io_in32(&mut d, 4), 1, "high dword");
        io32(&mut d, 0, (8 * 4) | 1);
        io32(&mut d, 4, 0x8b80_4001);
        io32(&mut d, 0, (8 * 4 + 4) | 1);
        let w = io32(&mut d, 4, 0x2).unwrap();
        assert_eq!((w.index, w.old, w.new), (4, 0x8b80_4001, 0x2_8b80_4001));
        assert_eq!(mmio64(&mut d, gtt + 32), 0x2_8b80_4001);
        // Beyond the 2 MiB GTT but inside the 8 MiB half: reads 0, writes dropped.
        assert_eq!(d.mmio_write(gtt + 2 * MIB, &[1, 0, 0, 0]), None);
        assert_eq!(mmio64(&mut d, gtt + 2 * MIB), 0);
    }

    #[test]
    fn bdsm_and_ggc_mirrors_read_the_host_values() {
        let mut d = dev(0x0166);
        let mut b = [0u8; 4];
        d.mmio_read(u64::from(GEN6_DSMBASE), &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x8b80_0001);
        d.mmio_write(u64::from(GEN6_DSMBASE), &0u32.to_le_bytes());
        d.mmio_read(u64::from(GEN6_DSMBASE), &mut b);
        assert_eq!(u32::from_le_bytes(b) & 0xFFF0_0000, 0x8b80_0000);
        let mut g = [0u8; 2];
        d.mmio_read(u64::from(GGC_MIRROR), &mut g);
        assert_eq!(u16::from_le_bytes(g), d.igd_config().ggc);
        // BAR4 Sel=0 reaches the same mirror.
        io32(&mut d, 0, GEN6_DSMBASE);
        assert_eq!(io_in32(&mut d, 4), 0x8b80_0001);

        let mut c = IgdConfig::for_device(0x9A49).unwrap();
        c.host_bdsm = HostPhys(0x4_8000_0000);
        let mut t = IgdDevice::new(c).unwrap();
        assert_eq!(mmio64(&mut t, u64::from(GEN6_DSMBASE)), 0x4_8000_0001);
    }

    #[test]
    fn power_well_status_follows_request_through_bar0() {
        let mut d = dev(0x0416);
        d.mmio_write(
            u64::from(HSW_PWR_WELL_CTL1),
            &HSW_PWR_WELL_REQ.to_le_bytes(),
        );
        let mut b = [0u8; 4];
        d.mmio_read(u64::from(HSW_PWR_WELL_CTL1), &mut b);
        assert_eq!(u32::from_le_bytes(b), HSW_PWR_WELL_REQ | HSW_PWR_WELL_STATE);
        d.mmio_write(u64::from(HSW_PWR_WELL_CTL1), &0u32.to_le_bytes());
        assert_eq!(d.mmio().read32(HSW_PWR_WELL_CTL1), 0);
    }

    #[test]
    fn aperture_goes_through_ptes_programmed_via_bar4() {
        let mut d = dev(0x0126);
        for (i, page) in [(0u32, 0x8b80_0000u32), (1, 0x8bf0_0000)] {
            io32(&mut d, 0, (i * 4) | 1);
            io32(&mut d, 4, page | 1);
        }
        let mut dma = FlatDma::default();
        let acc = d
            .aperture_write(0xFFC, &0x1122_3344_5566_7788u64.to_le_bytes(), &mut dma)
            .unwrap();
        assert_eq!(
            acc,
            [
                DmaAccess {
                    gtt_index: 0,
                    iova: Iova(0x8B80_0FFC),
                    len: 4,
                    write: true
                },
                DmaAccess {
                    gtt_index: 1,
                    iova: Iova(0x8bf0_0000),
                    len: 4,
                    write: true
                }
            ]
        );
        assert_eq!(dma.bytes.get(&0x8bf0_0003), Some(&0x11));
        let mut b = [0u8; 8];
        d.aperture_read(0xFFC, &mut b, &mut dma).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x1122_3344_5566_7788);
        let e = d.aperture_read(0x2000, &mut b, &mut dma).unwrap_err();
        assert_eq!(
            (e.gtt_index, e.raw, e.kind),
            (2, 0, ApertureFaultKind::InvalidPte)
        );
    }

    #[test]
    fn odd_widths_are_ignored() {
        let mut d = dev(0x0126);
        let mut b = [0xAAu8; 3];
        d.mmio_read(0x100, &mut b);
        assert_eq!(b, [0; 3]);
        assert_eq!(d.mmio_write(2 * MIB, &[1, 2, 3]), None);
        assert_eq!(d.gtt().raw(0), 0);
        let mut b = [0u8; 8];
        d.io_read(0, &mut b);
        assert_eq!(b, [0xFF; 8]);
        assert_eq!(d.io_write(0, &[1; 8]), None);
        assert_eq!(d.iobar().index(), 0);
        assert_eq!(d.mmio_write(u64::MAX - 2, &[1, 2, 3, 4]), None);
    }

    fn mw(d: &mut IgdDevice, off: u32, v: u32) {
        d.mmio_write(u64::from(off), &v.to_le_bytes());
    }

    fn mr(d: &mut IgdDevice, off: u32) -> u32 {
        let mut b = [0u8; 4];
        d.mmio_read(u64::from(off), &mut b);
        u32::from_le_bytes(b)
    }

    /// Poll like a vBIOS on the machine: at most 100 reads until `cond`
    /// holds, virtual time jumping to the device's next completion between
    /// reads (as the machine's idle detector lets it).
    fn poll(d: &mut IgdDevice, off: u32, cond: impl Fn(u32) -> bool) -> u32 {
        for _ in 0..100 {
            let v = mr(d, off);
            if cond(v) {
                return v;
            }
            if let Some(t) = d.next_deadline(0) {
                d.set_time(t);
            }
        }
        panic!("register {off:#x} never satisfied the condition");
    }

    /// The GMBUS EDID read sequence of a vBIOS (and i915 `gmbus_xfer_read`):
    /// pin pair, write offset 0, read 128 bytes with a WAIT cycle, poll
    /// HW_RDY before each GMBUS3 read, wait for HW_WAIT_PHASE, STOP, idle.
    fn gmbus_read_edid(d: &mut IgdDevice, base: u32, via_bar4: bool) -> Vec<u8> {
        use super::gmbus::*;
        let rd = |d: &mut IgdDevice, off: u32| {
            if via_bar4 {
                io32(d, 0, base + off);
                io_in32(d, 4)
            } else {
                mr(d, base + off)
            }
        };
        let wr = |d: &mut IgdDevice, off: u32, v: u32| {
            if via_bar4 {
                io32(d, 0, base + off);
                io32(d, 4, v);
            } else {
                mw(d, base + off, v);
            }
        };
        wr(d, GMBUS0, 3); // GMBUS_PIN_PANEL
        wr(d, GMBUS3, 0); // EDID offset 0
        wr(
            d,
            GMBUS1,
            GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | (1 << 16) | (0x50 << 1),
        );
        let mut n = 0;
        while rd(d, GMBUS2) & GMBUS_HW_WAIT_PHASE == 0 {
            n += 1;
            assert!(n < 100, "write phase never completed");
        }
        wr(
            d,
            GMBUS1,
            GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | (128 << GMBUS_BYTE_COUNT_SHIFT) | (0x50 << 1) | 1,
        );
        let mut out = Vec::new();
        while out.len() < 128 {
            let mut n = 0;
            loop {
                let s = rd(d, GMBUS2);
                assert_eq!(s & GMBUS_SATOER, 0, "NAK");
                if s & GMBUS_HW_RDY != 0 {
                    break;
                }
                n += 1;
                assert!(n < 100, "HW_RDY never set");
            }
            out.extend_from_slice(&rd(d, GMBUS3).to_le_bytes());
        }
        assert_ne!(rd(d, GMBUS2) & GMBUS_HW_WAIT_PHASE, 0);
        wr(d, GMBUS1, GMBUS_SW_RDY | GMBUS_CYCLE_STOP);
        assert_eq!(rd(d, GMBUS2) & GMBUS_ACTIVE, 0, "idle after STOP");
        wr(d, GMBUS0, 0);
        out
    }

    fn check_edid(e: &[u8], w: u16, h: u16) {
        assert_eq!(e.len(), 128);
        assert_eq!(e[..8], [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
        assert_eq!(e.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0, "checksum");
        // Preferred detailed timing descriptor at 54.
        let hact = u16::from(e[56]) | (u16::from(e[58] >> 4) << 8);
        let vact = u16::from(e[59]) | (u16::from(e[61] >> 4) << 8);
        assert_ne!(
            u16::from_le_bytes([e[54], e[55]]),
            0,
            "a timing, not a display descriptor"
        );
        assert_eq!((hact, vact), (w, h));
        assert_ne!(e[24] & 0x02, 0, "preferred timing mode");
    }

    #[test]
    fn vbios_reads_the_edid_over_gmbus_via_bar0_and_bar4() {
        for (id, base) in [
            (0x0126u16, 0xC_0000u32),
            (0x1912, 0xC_0000),
            (0x0F31, 0x18_0000),
        ] {
            let mut d = dev(id);
            let e = gmbus_read_edid(&mut d, base, false);
            check_edid(&e, 1920, 1080);
            let e4 = gmbus_read_edid(&mut d, base, true);
            assert_eq!(e4, e, "{id:#x}: BAR4 sees the same controller");
        }
        let mut d = dev(0x0416);
        d.set_panel(&Panel {
            width: 2560,
            height: 1440,
            ..Panel::default()
        });
        check_edid(&gmbus_read_edid(&mut d, 0xC_0000, false), 2560, 1440);
    }

    #[test]
    fn gmbus_read_of_a_missing_slave_naks() {
        use super::gmbus::*;
        let mut d = dev(0x0166);
        mw(&mut d, 0xC_5100, 3);
        mw(
            &mut d,
            0xC_5104,
            GMBUS_SW_RDY | GMBUS_CYCLE_WAIT | (4 << 16) | (0x3A << 1) | 1,
        );
        let s = poll(&mut d, 0xC_5108, |s| s & (GMBUS_HW_RDY | GMBUS_SATOER) != 0);
        assert_eq!(s & (GMBUS_SATOER | GMBUS_HW_RDY), GMBUS_SATOER);
    }

    /// One AUX transaction as i915 `intel_dp_aux_xfer` does it: pack the
    /// request big-endian into DATA1-5, write CTL with SEND_BUSY | DONE |
    /// errors | size, poll SEND_BUSY clear, read the reply.
    fn aux(d: &mut IgdDevice, ctl: u32, req: &[u8]) -> Vec<u8> {
        use super::dpaux::*;
        for (i, c) in req.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            mw(d, ctl + 4 + 4 * i as u32, u32::from_be_bytes(w));
        }
        mw(
            d,
            ctl,
            DP_AUX_CH_CTL_SEND_BUSY
                | DP_AUX_CH_CTL_DONE
                | DP_AUX_CH_CTL_TIME_OUT_ERROR
                | DP_AUX_CH_CTL_RECEIVE_ERROR
                | ((req.len() as u32) << DP_AUX_CH_CTL_MESSAGE_SIZE_SHIFT),
        );
        let s = poll(d, ctl, |s| s & DP_AUX_CH_CTL_SEND_BUSY == 0);
        assert_ne!(s & DP_AUX_CH_CTL_DONE, 0);
        assert_eq!(s & DP_AUX_CH_CTL_TIME_OUT_ERROR, 0, "timeout");
        let n =
            ((s & DP_AUX_CH_CTL_MESSAGE_SIZE_MASK) >> DP_AUX_CH_CTL_MESSAGE_SIZE_SHIFT) as usize;
        let mut out = Vec::new();
        for i in 0..5u32 {
            out.extend_from_slice(&mr(d, ctl + 4 + 4 * i).to_be_bytes());
        }
        out.truncate(n);
        // Clear DONE (W1C) as i915 does.
        mw(d, ctl, s);
        assert_eq!(mr(d, ctl) & DP_AUX_CH_CTL_DONE, 0);
        out
    }

    #[test]
    fn aux_native_dpcd_read_and_link_training() {
        let ctl = 0x6_4010; // DPA_AUX_CH_CTL on SKL
        let mut d = dev(0x1912);
        // Native read (0x9) of DPCD 0x000-0x00F: 16 bytes, length byte 15.
        let r = aux(&mut d, ctl, &[0x90, 0x00, 0x00, 15]);
        assert_eq!(r.len(), 17);
        assert_eq!(r[0], 0x00, "AUX ACK");
        let caps = &r[1..];
        assert_eq!(caps[0], 0x12, "DPCD rev 1.2");
        assert_eq!(caps[1], 0x14, "5.4 Gb/s");
        assert_eq!(caps[2] & 0x1F, 4, "4 lanes");
        assert_eq!(caps[0xD], 1, "eDP");
        // Link training: LANE_COUNT_SET = 2 | enhanced framing, then TPS1.
        assert_eq!(aux(&mut d, ctl, &[0x80, 0x01, 0x00, 1, 0x0A, 0x82]), [0]);
        assert_eq!(aux(&mut d, ctl, &[0x80, 0x01, 0x02, 0, 0x21]), [0]);
        let st = aux(&mut d, ctl, &[0x90, 0x02, 0x02, 2]);
        assert_eq!(
            st,
            [0, 0x11, 0x00, 0x00],
            "lanes 0-1 CR done, lanes 2-3 untrained, not aligned"
        );
        // TPS2: CR, EQ and symbol lock on both lanes, interlane aligned.
        assert_eq!(aux(&mut d, ctl, &[0x80, 0x01, 0x02, 0, 0x22]), [0]);
        let st = aux(&mut d, ctl, &[0x90, 0x02, 0x02, 2]);
        assert_eq!(st, [0, 0x77, 0x00, 0x01]);
        // Native writes update the DPCD; capabilities stay read-only.
        assert_eq!(aux(&mut d, ctl, &[0x80, 0x06, 0x00, 0, 0x01]), [0]);
        assert_eq!(aux(&mut d, ctl, &[0x90, 0x06, 0x00, 0]), [0, 0x01]);
        assert_eq!(aux(&mut d, ctl, &[0x80, 0x00, 0x00, 0, 0x55]), [0]);
        assert_eq!(aux(&mut d, ctl, &[0x90, 0x00, 0x00, 0]), [0, 0x12]);
        // I2C-over-AUX at 0x50 returns the same EDID as GMBUS.
        let mut e = Vec::new();
        aux(&mut d, ctl, &[0x40, 0x00, 0x50, 0, 0x00]);
        while e.len() < 128 {
            let r = aux(&mut d, ctl, &[0x50, 0x00, 0x50, 15]);
            e.extend_from_slice(&r[1..]);
        }
        check_edid(&e, 1920, 1080);
    }

    #[test]
    fn aux_without_a_sink_times_out_and_pch_channels_on_ivb() {
        use super::dpaux::*;
        let mut d = dev(0x0166);
        // IVB: port B AUX is in the PCH at 0xE4110; the default monitor
        // there unplugged.
        assert!(d.set_dp_sink(1, None));
        mw(&mut d, 0xE_4114, 0x9000_0000);
        mw(&mut d, 0xE_4110, DP_AUX_CH_CTL_SEND_BUSY | (4 << 20));
        assert_ne!(mr(&mut d, 0xE_4110) & DP_AUX_CH_CTL_SEND_BUSY, 0);
        // The reply timeout (400 us, field 0) after the 4-byte request.
        assert_eq!(d.next_deadline(0), Some(aux_frame_ns(4) + 400_000));
        let s = poll(&mut d, 0xE_4110, |s| s & DP_AUX_CH_CTL_SEND_BUSY == 0);
        assert_eq!(
            s & (DP_AUX_CH_CTL_SEND_BUSY | DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR),
            DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR
        );
        assert!(d.set_dp_sink(1, Some(DpSink::default())));
        assert!(!d.set_dp_sink(9, None));
        assert_eq!(aux(&mut d, 0xE_4110, &[0x90, 0, 0, 0]), [0, 0x12]);
        assert_eq!(d.register_name(0xE_4110), Some("PCH_DPB_AUX_CH_CTL"));
    }

    #[test]
    fn override_through_the_device_survives_flr() {
        let mut d = dev(0x0416);
        d.apply_override(&RegisterOverride::parse("0x45400=const:0xc0000000").unwrap());
        mw(&mut d, HSW_PWR_WELL_CTL1, 0);
        assert_eq!(mr(&mut d, HSW_PWR_WELL_CTL1), 0xC000_0000);
        d.flr();
        assert_eq!(mr(&mut d, HSW_PWR_WELL_CTL1), 0xC000_0000);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Cfg(u16, Vec<u8>),
        Io(u16, Vec<u8>),
        Mmio(u64, Vec<u8>),
        CfgRead(u16, usize),
        IoRead(u16, usize),
        MmioRead(u64, usize),
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..10)
    }

    fn mmio_offset() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            0u64..0x0100_0000,
            (0x80_0000u64..0x80_1000),
            (0x20_0000u64..0x20_1000),
            Just(0x45400u64),
            Just(0xC7204u64),
            Just(0x1080C0u64),
            (0xC_5100u64..0xC_5124),
            (0x6_4010u64..0x6_4028),
            (0xE_4110u64..0xE_4128),
            Just(0x46010u64),
            Just(0x44400u64),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..300, bytes()).prop_map(|(o, b)| Op::Cfg(o, b)),
            (any::<u16>(), bytes()).prop_map(|(o, b)| Op::Io(o, b)),
            (0u16..80, bytes()).prop_map(|(o, b)| Op::Io(o, b)),
            (mmio_offset(), bytes()).prop_map(|(o, b)| Op::Mmio(o, b)),
            (any::<u16>(), 0usize..10).prop_map(|(o, n)| Op::CfgRead(o, n)),
            (0u16..80, 0usize..10).prop_map(|(o, n)| Op::IoRead(o, n)),
            (mmio_offset(), 0usize..10).prop_map(|(o, n)| Op::MmioRead(o, n)),
        ]
    }

    proptest! {
        #[test]
        fn guest_sequences_never_panic_nor_change_read_only_config(
            id in prop::sample::select(vec![0x0126u16, 0x0416, 0x1616, 0x1912, 0x9A49]),
            ops in prop::collection::vec(op(), 1..40),
        ) {
            let mut d = dev(id);
            let before = d.config().clone();
            let mut dma = FlatDma::default();
            for op in ops {
                match op {
                    Op::Cfg(o, b) => { d.config_write(o, &b); }
                    Op::Io(o, b) => { d.io_write(o, &b); }
                    Op::Mmio(o, b) => {
                        d.mmio_write(o, &b);
                        let _ = d.aperture_write(o, &b, &mut dma);
                    }
                    Op::CfgRead(o, n) => d.config_read(o, &mut vec![0; n]),
                    Op::IoRead(o, n) => d.io_read(o, &mut vec![0; n]),
                    Op::MmioRead(o, n) => {
                        d.mmio_read(o, &mut vec![0; n]);
                        let _ = d.aperture_read(o, &mut vec![0; n], &mut dma);
                    }
                }
            }
            // Identity, firmware-locked registers, capability headers: RO by
            // definition, whatever the masks say.
            for off in [0x00u16, 0x08, 0x2C, 0x50, 0x5C, 0xC0, 0xC4] {
                prop_assert_eq!(d.config().read_u32(off), before.read_u32(off), "dword {:#x}", off);
            }
            for off in [0x34u16, 0x40, 0x70, 0xAC, 0xB8, 0xBA, 0xD0, 0xD2] {
                prop_assert_eq!(d.config().read_u16(off), before.read_u16(off), "word {:#x}", off);
            }
            for off in (0..256u16).step_by(4) {
                let ro = !(before.wmask_u32(off) | before.w1cmask_u32(off));
                prop_assert_eq!(
                    d.config().read_u32(off) & ro,
                    before.read_u32(off) & ro,
                    "RO bits of dword {:#x} changed", off
                );
            }
        }
    }
}
