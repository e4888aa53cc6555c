//! The real device behind the passthrough layer: [`HostIgd`] for the device
//! model's [`IgdDevice`].

use super::HostIgd;
use crate::addr::HostPhys;
use crate::igd::aperture::ApertureFault;
use crate::igd::{DmaAccesses, DmaBus, GttWrite, IgdDevice, PlatformInfo};
use crate::pci::{ConfigSpace, ConfigWrite};

impl HostIgd for IgdDevice {
    type ApertureError = ApertureFault;

    fn info(&self) -> &'static PlatformInfo {
        IgdDevice::info(self)
    }
    fn host_bdsm(&self) -> HostPhys {
        IgdDevice::host_bdsm(self)
    }
    fn stolen_size(&self) -> u64 {
        IgdDevice::stolen_size(self)
    }
    fn gtt_size(&self) -> u64 {
        IgdDevice::gtt_size(self)
    }
    fn config(&self) -> &ConfigSpace {
        IgdDevice::config(self)
    }
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        IgdDevice::config_read(self, offset, data);
    }
    fn config_write(&mut self, offset: u16, data: &[u8]) -> ConfigWrite {
        IgdDevice::config_write(self, offset, data)
    }
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        IgdDevice::mmio_read(self, offset, data);
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Option<GttWrite> {
        IgdDevice::mmio_write(self, offset, data)
    }
    fn io_read(&mut self, offset: u16, data: &mut [u8]) {
        IgdDevice::io_read(self, offset, data);
    }
    fn io_write(&mut self, offset: u16, data: &[u8]) -> Option<GttWrite> {
        IgdDevice::io_write(self, offset, data)
    }
    #[inline]
    fn aperture_read(
        &mut self,
        offset: u64,
        data: &mut [u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, ApertureFault> {
        IgdDevice::aperture_read(self, offset, data, dma)
    }
    #[inline]
    fn aperture_write(
        &mut self,
        offset: u64,
        data: &[u8],
        dma: &mut dyn DmaBus,
    ) -> Result<DmaAccesses, ApertureFault> {
        IgdDevice::aperture_write(self, offset, data, dma)
    }
    fn flr(&mut self) {
        IgdDevice::flr(self);
    }
}
