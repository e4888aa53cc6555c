//! Function-level reset of the IGD: Advanced Features FLR (PCI Advanced
//! Features ECN: AF control bit 0) and, where the platform has a PCIe
//! capability, PCIe FLR (PCIe Base §6.6.2: Device Control bit 15).
//!
//! No public source documents what an IGD FLR does to its host registers
//! (igd-anchors §9). igdemu's model, tested against a freshly built device:
//!
//! - **Config space** returns to its reset state: command register, BARs
//!   (unassigned, so the VMM must restore them, as Linux's `pci_restore_state`
//!   does), MSI, PM state, PCIe Device Control, AF control.
//! - **GGC and BDSM** survive: they are host registers locked by firmware
//!   (GGCLCK, BDSM lock) and read-only to the guest, so their reset value is
//!   the firmware value.
//! - **ASLS survives** with whatever was last written: it is firmware-owned
//!   scratch that the OS does not rewrite after a reset, and QEMU too keeps its
//!   emulated ASLS across resets until firmware writes it again. (GVT-g zeroes it
//!   on a device-model reset; a remapper wanting that behaviour does it itself.)
//! - **BAR4 index** is cleared.
//! - **MMIO registers** go back to their reset values (mirrors keep the host
//!   GGC/BDSM values).
//! - **GTT contents** are cleared to zero: every entry invalid. igd-anchors §9
//!   recommends treating GSM as undefined after reset; zero is the
//!   deterministic choice that makes stale mappings impossible to use by accident.
//!
//! The reset is performed synchronously inside the config write that starts it.

use super::config;
use super::IgdDevice;
use crate::pci::ConfigWrite;

impl IgdDevice {
    /// Perform the reset; report what it changed in config space.
    pub(crate) fn reset_function(&mut self) -> ConfigWrite {
        // ASLS survives (see the module doc).
        let asls = self.config.read_u32(config::ASLS);
        let before = self.config.decode_state();
        match config::build(self.info, &self.cfg) {
            Ok(cs) => self.config = cs,
            // Cannot happen: the same build succeeded in `new`.
            Err(e) => tracing::warn!(%e, "igd: FLR could not rebuild config space"),
        }
        self.config.set_u32(config::ASLS, asls);
        self.mmio.reset();
        self.gtt.clear();
        self.iobar.reset();
        tracing::debug!("igd: function-level reset");
        ConfigWrite {
            flr: true,
            ..self.config.changes_since(&before)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::config::*;
    use crate::igd::regs::{HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ, PCH_PP_CONTROL, PCH_PP_STATUS};
    use crate::igd::IgdConfig;
    use crate::pci::{command, reg};

    fn dev(id: u16) -> IgdDevice {
        IgdDevice::new(IgdConfig::for_device(id).unwrap()).unwrap()
    }

    /// Put the device in a state a booted guest would leave.
    fn dirty(d: &mut IgdDevice) {
        d.config_write(reg::COMMAND, &0x0007u16.to_le_bytes());
        d.config_write(0x10, &0xE000_0000u32.to_le_bytes());
        d.config_write(0x18, &0xC000_0000u32.to_le_bytes());
        d.config_write(0x20, &0xF001u32.to_le_bytes());
        d.config_write(ASLS, &0x7FE0_0000u32.to_le_bytes());
        d.config_write(CAP_MSI + 4, &0xFEE0_0000u32.to_le_bytes());
        d.config_write(CAP_PM + 4, &[3]);
        d.config_write(reg::INTERRUPT_LINE, &[11]);
        d.mmio_write(
            u64::from(HSW_PWR_WELL_CTL2),
            &HSW_PWR_WELL_REQ.to_le_bytes(),
        );
        d.mmio_write(u64::from(PCH_PP_CONTROL), &1u32.to_le_bytes());
        d.mmio_write(0x6_4000, &0xDEAD_BEEFu32.to_le_bytes());
        let gtt = d.gtt_offset_in_bar0();
        d.mmio_write(gtt + 8, &0x8B80_0001u32.to_le_bytes());
        d.io_write(0, &((5u32 * 4) | 1).to_le_bytes());
        d.io_write(4, &0x8B90_0001u32.to_le_bytes());
    }

    fn assert_fresh_except_asls(d: &IgdDevice, asls: u32) {
        let mut fresh = dev(d.igd_config().device_id);
        fresh.config_write(ASLS, &asls.to_le_bytes());
        assert_eq!(d.config().bytes(), fresh.config().bytes());
        assert_eq!(d.mmio(), fresh.mmio());
        assert_eq!(d.gtt(), fresh.gtt());
        assert_eq!(d.iobar(), fresh.iobar());
        assert_eq!(d.iobar().index(), 0);
        assert_eq!(d.gtt().iter_valid().count(), 0);
    }

    #[test]
    fn af_flr_restores_the_reset_state() {
        let mut d = dev(0x0416);
        dirty(&mut d);
        assert_ne!(d.gtt().iter_valid().count(), 0);
        assert_ne!(d.mmio().read32(PCH_PP_STATUS), 0);
        let eff = d.config_write(CAP_AF + AF_CTRL, &[AF_CTRL_INITIATE_FLR]);
        assert!(eff.flr);
        assert_eq!(eff.bars_moved, 1 << 0 | 1 << 2 | 1 << 4);
        assert!(eff.command_changed);
        assert_eq!(d.config().read_u16(reg::COMMAND) & command::MEMORY, 0);
        assert_eq!(d.config().read_u8(CAP_AF + AF_CTRL), 0, "FLR bit reads 0");
        assert_fresh_except_asls(&d, 0x7FE0_0000);
    }

    #[test]
    fn pcie_flr_restores_the_reset_state() {
        let mut d = dev(0x9A49);
        dirty(&mut d);
        d.config_write(CAP_PCIE + PCIE_DEVCTL, &0x0010u16.to_le_bytes());
        let eff = d.config_write(CAP_PCIE + PCIE_DEVCTL, &0x8010u16.to_le_bytes());
        assert!(eff.flr);
        assert_eq!(d.config().read_u16(CAP_PCIE + PCIE_DEVCTL), 0);
        assert_fresh_except_asls(&d, 0x7FE0_0000);
    }

    #[test]
    fn firmware_registers_survive() {
        let mut d = dev(0x1912);
        let ggc = d.config().read_u16(GGC);
        let bdsm = d.config().read_u32(BDSM);
        d.flr();
        assert_eq!(d.config().read_u16(GGC), ggc);
        assert_eq!(d.config().read_u32(BDSM), bdsm);
        assert_eq!(d.config().read_u32(ASLS), 0x8a7f_c000, "host ASLS kept");
        assert_eq!(
            d.mmio().read32(crate::igd::mmio::GEN6_DSMBASE),
            bdsm,
            "BAR0 mirror back to the host value"
        );
    }

    #[test]
    fn writes_without_the_flr_bit_do_not_reset() {
        let mut d = dev(0x9A49);
        dirty(&mut d);
        let eff = d.config_write(CAP_PCIE + PCIE_DEVCTL, &0x7FFFu16.to_le_bytes());
        assert!(!eff.flr);
        let eff = d.config_write(CAP_AF + AF_CTRL, &[0xFE]);
        assert!(!eff.flr);
        assert_ne!(d.gtt().iter_valid().count(), 0);
        // IVB has no PCIe capability: bit 15 at that offset is no FLR.
        let mut d = dev(0x0166);
        dirty(&mut d);
        let eff = d.config_write(CAP_PCIE + PCIE_DEVCTL, &0x8000u16.to_le_bytes());
        assert!(!eff.flr);
        assert_ne!(d.gtt().iter_valid().count(), 0);
    }
}
