//! QEMU's `pc` machine (i440FX host bridge and PIIX3/PIIX4 south bridge) as
//! SeaBIOS leaves it when option ROMs run, with what QEMU's IGD legacy mode
//! copies into it from the host's bridges. Every QEMU release that has legacy
//! IGD assignment requires this machine (before 10.0 implicitly: Q35's ICH9
//! LPC occupies 00:1f.0; from 10.0 `2fedccf03c88` checks the `pc_piix`
//! family).
//!
//! Sources (QEMU from `github:pbo-linaro/qemu-ci`, SeaBIOS `coreboot/seabios`):
//! - i440FX at 00:00.0: `hw/pci-host/i440fx.c` (`piix.c` before 8.0):
//!   8086:1237 (`PCI_DEVICE_ID_INTEL_82441`), revision 2, class 0x0600; SMRAM
//!   (0x72) = 0x02 at realize; 0x57 = RAM size / 8 MiB capped at 255 (the
//!   "coreboot RAM size" register). SeaBIOS `make_bios_writable` (`fw/shadow.c`)
//!   sets PAM0 (0x59) to 0x30 and PAM1-6 to 0x33 before POST; option ROMs run
//!   before `make_bios_readonly`.
//! - PIIX3 at 00:01.0 (ISA bridge 8086:7000, multifunction), 00:01.1 (IDE
//!   8086:7010, prog-if 0x80), PIIX4 PM at 00:01.3 (8086:7113, revision 3,
//!   class 0x0680): `hw/isa/piix.c`, `hw/ide/piix.c`, `hw/acpi/piix4.c`,
//!   placed by `hw/i386/pc_piix.c` at the first free slot, functions 0, 1, 3.
//! - SeaBIOS `piix4_pm_config_setup` (`fw/pciinit.c`) writes `PMBA` (0x40) =
//!   `acpi_pm_base | 1` and `PMREGMISC` (0x80) = 1; `acpi_pm_base` is 0x600
//!   whenever QEMU provides `etc/table-loader` (`fw/paravirt.c`, every
//!   release since 1.7), so the ACPI PM timer is at port 0x608.
//! - Every QEMU PCI function's config bytes past the 64-byte header are
//!   guest-writable plain storage unless the device says otherwise
//!   (`hw/pci/pci.c` `pci_init_wmask`); a header-type-0 function without its
//!   own subsystem IDs gets 1af4:1100 (`pci_set_default_subsystem_id`).
//! - The IGD quirk (`vfio_pci_igd_host_init`, `vfio_pci_igd_lpc_init`,
//!   igd-anchors §1.6): 2 bytes each at 0x08 (revision and prog-if), 0x2C
//!   (SVID), 0x2E (SSID) into the i440FX; 0x00, 0x02, 0x08, 0x2C, 0x2E into a
//!   `vfio-pci-igd-lpc-bridge` (class 0x0601, created at 00:1f.0), nothing
//!   else: its PMBASE and ACPI_CNTL read 0 and decode nothing.

use super::pci_bus::{class, PmDecode, SimpleFunction, PIIX4_PMBA, PIIX4_PMREGMISC};
use crate::pci::{reg, Bdf, ConfigSpace};

/// i440FX (82441FX PMC) device ID.
pub const I440FX_DEVICE_ID: u16 = 0x1237;
/// Its revision before any copy.
pub const I440FX_REVISION: u8 = 0x02;
/// PIIX3 ISA bridge device ID (82371SB function 0).
pub const PIIX3_ISA_DEVICE_ID: u16 = 0x7000;
/// PIIX3 IDE device ID (82371SB function 1).
pub const PIIX3_IDE_DEVICE_ID: u16 = 0x7010;
/// PIIX4 power management device ID (82371AB function 3).
pub const PIIX4_PM_DEVICE_ID: u16 = 0x7113;
/// QEMU's default subsystem vendor (`PCI_SUBVENDOR_ID_REDHAT_QUMRANET`).
pub const QEMU_SUBSYSTEM_VENDOR: u16 = 0x1AF4;
/// QEMU's default subsystem ID (`PCI_SUBDEVICE_ID_QEMU`).
pub const QEMU_SUBSYSTEM_ID: u16 = 0x1100;
/// The ACPI PM I/O base SeaBIOS programs on QEMU (`acpi_pm_base`).
pub const SEABIOS_PM_BASE: u16 = 0x600;

/// i440FX register: the RAM size in 8 MiB units that old coreboot read.
const I440FX_COREBOOT_RAM_SIZE: u16 = 0x57;
/// i440FX register: PAM0 (0xF0000 segment); PAM1-6 follow.
const I440FX_PAM0: u16 = 0x59;
/// i440FX register: SMRAM control.
const I440FX_SMRAM: u16 = 0x72;

/// Where the PIIX functions sit.
pub mod slot {
    use crate::pci::Bdf;
    /// PIIX3 ISA bridge.
    pub const PIIX3_ISA: Bdf = Bdf::new(0, 1, 0);
    /// PIIX3 IDE.
    pub const PIIX3_IDE: Bdf = Bdf::new(0, 1, 1);
    /// PIIX4 power management (ACPI).
    pub const PIIX4_PM: Bdf = Bdf::new(0, 1, 3);
}

/// A QEMU PCI function: a type 0 header whose bytes past 0x40 the guest may
/// write, with QEMU's default subsystem IDs.
fn qemu_function(device: u16, class_code: u32, revision: u8) -> ConfigSpace {
    let mut cs = ConfigSpace::new(0x8086, device, class_code, revision, 256);
    cs.set_u16(reg::SUBSYSTEM_VENDOR_ID, QEMU_SUBSYSTEM_VENDOR);
    cs.set_u16(reg::SUBSYSTEM_ID, QEMU_SUBSYSTEM_ID);
    for off in (0x40..0x100u16).step_by(4) {
        cs.set_wmask_u32(off, u32::MAX);
    }
    cs
}

/// Copy 2-byte fields from the host function (`vfio_pci_igd_copy`).
fn copy(to: &mut ConfigSpace, from: &ConfigSpace, offsets: &[u16]) {
    for &off in offsets {
        to.set_u16(off, from.read_u16(off));
    }
}

/// QEMU's i440FX host bridge. With `host` (the IGD quirk ran), it carries the
/// host bridge's revision and prog-if, SVID and SSID; its IDs stay 8086:1237.
#[must_use]
pub fn i440fx(host: Option<&ConfigSpace>, ram_size: u64) -> SimpleFunction {
    let mut cs = qemu_function(I440FX_DEVICE_ID, class::HOST_BRIDGE, I440FX_REVISION);
    cs.set_u8(
        I440FX_COREBOOT_RAM_SIZE,
        (ram_size / (8 << 20)).min(255) as u8,
    );
    cs.set_u8(I440FX_PAM0, 0x30);
    for i in 1..=6 {
        cs.set_u8(I440FX_PAM0 + i, 0x33);
    }
    cs.set_u8(I440FX_SMRAM, 0x02);
    if let Some(h) = host {
        copy(
            &mut cs,
            h,
            &[
                reg::REVISION_ID,
                reg::SUBSYSTEM_VENDOR_ID,
                reg::SUBSYSTEM_ID,
            ],
        );
    }
    SimpleFunction::new("i440fx", cs)
}

/// QEMU's `vfio-pci-igd-lpc-bridge` at 00:1f.0: an ISA bridge with the host
/// LPC bridge's vendor, device, revision and prog-if, SVID and SSID; header
/// type 0; every other byte reads 0 (writable, decoding nothing).
#[must_use]
pub fn igd_lpc_bridge(host: &ConfigSpace) -> SimpleFunction {
    let mut cs = qemu_function(0, class::ISA_BRIDGE, 0);
    copy(
        &mut cs,
        host,
        &[
            reg::VENDOR_ID,
            reg::DEVICE_ID,
            reg::REVISION_ID,
            reg::SUBSYSTEM_VENDOR_ID,
            reg::SUBSYSTEM_ID,
        ],
    );
    SimpleFunction::new("vfio-pci-igd-lpc-bridge", cs)
}

/// PIIX3 ISA bridge at 00:01.0 (multifunction).
#[must_use]
pub fn piix3_isa() -> SimpleFunction {
    let mut cs = qemu_function(PIIX3_ISA_DEVICE_ID, class::ISA_BRIDGE, 0);
    cs.set_u8(reg::HEADER_TYPE, 0x80);
    SimpleFunction::new("piix3-isa", cs)
}

/// PIIX3 IDE at 00:01.1 (legacy ATA mode, prog-if 0x80).
#[must_use]
pub fn piix3_ide() -> SimpleFunction {
    let cs = qemu_function(PIIX3_IDE_DEVICE_ID, 0x01_0180, 0);
    SimpleFunction::new("piix3-ide", cs)
}

/// PIIX4 power management at 00:01.3, PM I/O at [`SEABIOS_PM_BASE`] and
/// enabled, as SeaBIOS `piix4_pm_config_setup` leaves it.
#[must_use]
pub fn piix4_pm() -> SimpleFunction {
    let mut cs = qemu_function(PIIX4_PM_DEVICE_ID, 0x06_8000, 3);
    cs.set_u32(PIIX4_PMBA, u32::from(SEABIOS_PM_BASE) | 1);
    cs.set_u8(PIIX4_PMREGMISC, 1);
    SimpleFunction::new("piix4-pm", cs).with_pm_decode(PmDecode::Piix4)
}

/// The functions of QEMU's `pc` machine around the IGD, by location. `host`
/// holds the host's host bridge and LPC bridge config spaces when QEMU's IGD
/// quirk copies from them (then 00:1f.0 carries the LPC bridge; otherwise it
/// is empty).
#[must_use]
pub fn functions(
    host: Option<(&ConfigSpace, &ConfigSpace)>,
    ram_size: u64,
) -> Vec<(Bdf, SimpleFunction)> {
    let mut v = vec![
        (
            super::slot::HOST_BRIDGE,
            i440fx(host.map(|h| h.0), ram_size),
        ),
        (slot::PIIX3_ISA, piix3_isa()),
        (slot::PIIX3_IDE, piix3_ide()),
        (slot::PIIX4_PM, piix4_pm()),
    ];
    if let Some((_, lpc)) = host {
        v.push((super::slot::LPC, igd_lpc_bridge(lpc)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::pci_bus::{host_bridge, lpc_bridge, BusDevice};
    use crate::pci::PciFunction;

    fn host() -> (ConfigSpace, ConfigSpace) {
        let mut hb = host_bridge(0x0104, 0x09).config().clone();
        hb.set_u16(reg::SUBSYSTEM_VENDOR_ID, 0x17AA);
        hb.set_u16(reg::SUBSYSTEM_ID, 0x21CF);
        let mut lpc = lpc_bridge(0x1C49, 0x05, 0x1800).config().clone();
        lpc.set_u16(reg::SUBSYSTEM_VENDOR_ID, 0x17AA);
        lpc.set_u16(reg::SUBSYSTEM_ID, 0x21D0);
        (hb, lpc)
    }

    #[test]
    fn i440fx_keeps_its_ids_and_takes_revision_and_subsystem_from_the_host() {
        let (hb, _) = host();
        let f = i440fx(Some(&hb), 2 << 30);
        let cs = f.config();
        assert_eq!(cs.read_u32(0x00), 0x1237_8086);
        assert_eq!(cs.read_u32(0x08), 0x0600_0009);
        assert_eq!(cs.read_u32(0x2C), 0x21CF_17AA);
        assert_eq!(cs.read_u16(0x50), 0, "no GGC");
        assert_eq!(cs.read_u8(0x57), 255, "2 GiB / 8 MiB, capped");
        assert_eq!(cs.read_u8(0x59), 0x30);
        assert_eq!(cs.read_u8(0x5F), 0x33);
        assert_eq!(cs.read_u8(0x72), 0x02);
        let own = i440fx(None, 512 << 20);
        assert_eq!(own.config().read_u32(0x08), 0x0600_0002);
        assert_eq!(own.config().read_u32(0x2C), 0x1100_1AF4);
        assert_eq!(own.config().read_u8(0x57), 64);
    }

    #[test]
    fn igd_lpc_bridge_copies_ids_only_and_decodes_no_pm_block() {
        let (_, lpc) = host();
        let mut f = igd_lpc_bridge(&lpc);
        let cs = f.config().clone();
        assert_eq!(cs.read_u32(0x00), 0x1C49_8086);
        assert_eq!(cs.read_u32(0x08), 0x0601_0005);
        assert_eq!(cs.read_u8(reg::HEADER_TYPE), 0);
        assert_eq!(cs.read_u32(0x2C), 0x21D0_17AA);
        assert_eq!(cs.read_u32(0x40), 0, "PMBASE");
        assert_eq!(cs.read_u8(0x44), 0, "ACPI_CNTL");
        assert_eq!(f.acpi_pm_base(), None);
        // The bytes are QEMU's plain writable storage: a guest that programs
        // PMBASE and ACPI_EN reads them back, and still nothing decodes.
        f.config_write(0x40, &0x1801u32.to_le_bytes());
        f.config_write(0x44, &[0x80]);
        assert_eq!(f.config().read_u32(0x40), 0x1801);
        assert_eq!(f.acpi_pm_base(), None);
    }

    #[test]
    fn piix4_pm_decodes_seabios_pm_base_while_pmiose_is_set() {
        let mut f = piix4_pm();
        assert_eq!(f.config().read_u32(0x00), 0x7113_8086);
        assert_eq!(f.config().read_u32(0x40), 0x601);
        assert_eq!(f.acpi_pm_base(), Some(0x600));
        f.config_write(0x40, &0xB001u32.to_le_bytes());
        assert_eq!(f.acpi_pm_base(), Some(0xB000));
        f.config_write(0x80, &[0]);
        assert_eq!(f.acpi_pm_base(), None);
    }
}
