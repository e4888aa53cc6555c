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

pub mod aperture;
pub mod config;
pub mod dma;
pub mod generation;
pub mod gtt;
pub mod iobar;
pub mod mmio;
pub mod pte;
pub mod reset;

pub use aperture::{ApertureFault, ApertureFaultKind};
pub use dma::{DmaAccess, DmaBus, DmaFault};
pub use generation::{Gen, GgcDecode, Platform, PlatformInfo, PteFormat};
pub use gtt::{Gtt, GttAccessError, GttWrite};
pub use iobar::{IoBar, IoTarget};
pub use mmio::{MmioRegisters, RegisterBehaviour};
pub use pte::{Pte, PteError};

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
    /// Widths other than 1, 2, 4, 8 and offsets outside the GTT or BAR0 read 0.
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

    /// Guest write of BAR0. A write to the GTT half returns the PTE change.
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
        self.iobar.read(offset, data, &self.mmio, &self.gtt);
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
    pub fn aperture_read(
        &mut self,
        offset: u64,
        data: &mut [u8],
        dma: &mut dyn DmaBus,
    ) -> Result<Vec<DmaAccess>, ApertureFault> {
        aperture::read(&self.gtt, self.cfg.aperture_size, offset, data, dma)
    }

    /// Guest write of the aperture (BAR2) at `offset`, through the GTT to `dma`.
    pub fn aperture_write(
        &mut self,
        offset: u64,
        data: &[u8],
        dma: &mut dyn DmaBus,
    ) -> Result<Vec<DmaAccess>, ApertureFault> {
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
