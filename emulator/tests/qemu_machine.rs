//! The machine each QEMU release builds around an assigned IGD, as the guest
//! reads it through configuration mechanism #1: the host bridge at 00:00.0
//! (i440FX, with the host's revision and subsystem IDs when the IGD quirk
//! copies them) and 00:1f.0 (QEMU's `vfio-pci-igd-lpc-bridge` with the host
//! LPC bridge's IDs and nothing else, or nothing at all). One test per QEMU
//! commit that changed it, exact values, against the platform's own bridges
//! under `strict` (sources in `machine::qemu_pc` and
//! `passthrough::qemu_release::lpc_quirk`).

use igdemu::igd::IgdDevice;
use igdemu::machine::{qemu_pc, slot, MachineState};
use igdemu::passthrough::QemuSetup;
use igdemu::pci::Bdf;
use igdemu::session::{RemapperKind, Scenario};
use igdemu::trace::CsIp;

/// SNB mobile GT2 (the ChiefRiver image's device): host bridge 0x0104 rev 9,
/// Cougar Point HM65 LPC 0x1C49 rev 5 (`machine::chipset`).
const SNB: u16 = 0x0126;
/// Ice Lake: i915 gen 11, QEMU 9.1 calls it gen 8; ICP-LP LPC 0x3482 rev 0x30.
const ICL: u16 = 0x8A52;
/// Amber Lake (KBL-derived): QEMU 10.0's table does not know it (gen -1).
const AML: u16 = 0x87C0;

/// What the guest reads, dword by dword.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// 00:00.0 at 0x00 (device:vendor), 0x08 (class:revision), 0x2C (SSID:SVID).
    host: [u32; 3],
    /// 00:1f.0 at 0x00, 0x08, 0x2C, 0x40 (PMBASE), 0x44 (ACPI_CNTL).
    lpc: [u32; 5],
    /// The ACPI PM I/O block: a timer read at the PIIX4's 0x608 and at the
    /// platform LPC's PMBASE + 8 (0x1808); `None` where nothing answers.
    pm_timer: (Option<u32>, Option<u32>),
}

fn seen(remapper: RemapperKind, device_id: u16) -> Seen {
    let sc = Scenario::for_device(device_id, remapper);
    let host = IgdDevice::new(sc.igd_config().expect("config")).expect("device");
    let mut st = MachineState::new(&sc.machine_config(host.config()));
    let mut rd = |bdf: Bdf, off: u16| st.config_read(CsIp::default(), bdf, off, 4);
    let host_bridge = [
        rd(slot::HOST_BRIDGE, 0x00),
        rd(slot::HOST_BRIDGE, 0x08),
        rd(slot::HOST_BRIDGE, 0x2C),
    ];
    let lpc = [0x00, 0x08, 0x2C, 0x40, 0x44].map(|off| rd(slot::LPC, off));
    let mut timer = |port: u16| {
        let v = st.port_in(port, 4);
        // A timer: the 24-bit count, never all-ones.
        (v != u32::MAX).then_some(v & 0xFF00_0000)
    };
    let pm_timer = (timer(0x608), timer(0x1808));
    Seen {
        host: host_bridge,
        lpc,
        pm_timer,
    }
}

fn qemu(spec: &str) -> RemapperKind {
    RemapperKind::Qemu(QemuSetup::parse(spec).expect("valid spec"))
}

/// i440FX with the SNB host bridge's revision (9, prog-if 0) and subsystem
/// (0000:0000 on this platform model) copied in.
const I440FX_SNB: [u32; 3] = [0x1237_8086, 0x0600_0009, 0];
/// i440FX as QEMU builds it: revision 2, subsystem 1af4:1100.
const I440FX_OWN: [u32; 3] = [0x1237_8086, 0x0600_0002, 0x1100_1AF4];
/// QEMU's LPC bridge with HM65's IDs: ISA bridge class, revision 5, nothing
/// at PMBASE or ACPI_CNTL.
const LPC_SNB: [u32; 5] = [0x1C49_8086, 0x0601_0005, 0, 0, 0];
/// Nothing at 00:1f.0.
const ABSENT: [u32; 5] = [u32::MAX; 5];
/// The PM block: the PIIX4's at 0x600, none at the platform's 0x1800.
const PIIX4_PM: (Option<u32>, Option<u32>) = (Some(0), None);

#[test]
fn strict_keeps_the_platform_bridges_and_their_pm_block() {
    let s = seen(RemapperKind::Strict, SNB);
    assert_eq!(s.host, [0x0104_8086, 0x0600_0009, 0]);
    assert_eq!(s.lpc, [0x1C49_8086, 0x0601_0005, 0, 0x1801, 0x80]);
    assert_eq!(s.pm_timer, (None, Some(0)));
}

/// 2.7.0: legacy mode creates `vfio-pci-igd-lpc-bridge` at 1f.0 with the host
/// LPC's vendor, device, revision and subsystem (`vfio_pci_igd_lpc_init`) and
/// copies revision and subsystem into the i440FX (`vfio_pci_igd_host_init`);
/// PMBASE and ACPI_CNTL read 0, so the platform's PM timer is gone and only
/// the PIIX4's (SeaBIOS: 0x600) answers.
#[test]
fn c4c45e943e51_legacy_mode_copies_host_ids_into_i440fx_and_its_lpc_bridge() {
    for spec in ["qemu-2.7", "qemu-4.2", "qemu-9.1", "qemu-9.2", "qemu-10.2"] {
        let s = seen(qemu(spec), SNB);
        assert_eq!(s.host, I440FX_SNB, "{spec}");
        assert_eq!(s.lpc, LPC_SNB, "{spec}");
        assert_eq!(s.pm_timer, PIIX4_PM, "{spec}");
    }
    // The aliases are releases: the same machine.
    assert_eq!(
        seen(RemapperKind::Qemu2016, SNB),
        seen(qemu("qemu-9.1"), SNB)
    );
    assert_eq!(
        seen(RemapperKind::Qemu2025, SNB),
        seen(qemu("qemu-10.1"), SNB)
    );
}

/// 5.0.0: legacy IGD compiled out: no LPC bridge, the i440FX untouched.
#[test]
fn _29d62771c81d_5_0_builds_no_lpc_bridge_and_copies_nothing() {
    let s = seen(qemu("qemu-5.0"), SNB);
    assert_eq!((s.host, s.lpc, s.pm_timer), (I440FX_OWN, ABSENT, PIIX4_PM));
    assert_eq!(seen(qemu("qemu-4.2"), SNB).lpc, LPC_SNB);
}

/// 5.1.0: legacy IGD built in again, and with it the bridges.
#[test]
fn _643a4eacef87_5_1_builds_the_bridges_again() {
    assert_eq!(seen(qemu("qemu-5.0"), SNB).lpc, ABSENT);
    let s = seen(qemu("qemu-5.1"), SNB);
    assert_eq!((s.host, s.lpc), (I440FX_SNB, LPC_SNB));
}

/// 9.2.0: an ID QEMU does not know gets no legacy mode (`gen == -1`), so no
/// LPC bridge; 9.1 called ICL gen 8 and built it with ICP's IDs.
#[test]
fn e433f208973f_9_2_builds_no_lpc_bridge_for_an_unknown_id() {
    let s = seen(qemu("qemu-9.1"), ICL);
    assert_eq!(s.lpc, [0x3482_8086, 0x0601_0030, 0, 0, 0]);
    assert_eq!(s.host, [0x1237_8086, 0x0600_0003, 0]);
    let s = seen(qemu("qemu-9.2"), ICL);
    assert_eq!((s.host, s.lpc), (I440FX_OWN, ABSENT));
}

/// 10.0.0: `x-igd-lpc=on` builds the bridges without legacy mode; legacy
/// mode sets the feature bit itself, so `x-igd-lpc=off` cannot remove them;
/// an ID 10.0 does not know returns before any quirk, option or not.
#[test]
fn _674f61117d36_x_igd_lpc_builds_the_bridges_without_legacy_mode() {
    let off = seen(qemu("qemu-10.0,x-igd-legacy-mode=off"), SNB);
    assert_eq!((off.host, off.lpc), (I440FX_OWN, ABSENT));
    let lpc = seen(qemu("qemu-10.0,x-igd-legacy-mode=off,x-igd-lpc=on"), SNB);
    assert_eq!((lpc.host, lpc.lpc), (I440FX_SNB, LPC_SNB));
    let no = seen(qemu("qemu-10.0,x-igd-lpc=off"), SNB);
    assert_eq!((no.host, no.lpc), (I440FX_SNB, LPC_SNB));
    assert!(QemuSetup::parse("qemu-9.2,x-igd-lpc=on").is_err());
    let aml = seen(qemu("qemu-10.0,x-igd-lpc=on"), AML);
    assert_eq!(aml.lpc, ABSENT);
}

/// 10.1.0: no legacy mode for gen 11 (`dd69d846046f`), so no bridges by
/// default; with `x-igd-lpc=on` they are built for any IGD with an OpRegion,
/// even one QEMU does not number (`7969cf463979` dropped 10.0's `gen == -1`
/// return), where 10.0 gave ICL legacy mode and the bridges with it.
#[test]
fn dd69d846046f_10_1_builds_bridges_for_gen_11_only_with_x_igd_lpc() {
    let icp = [0x3482_8086, 0x0601_0030, 0, 0, 0];
    assert_eq!(seen(qemu("qemu-10.0"), ICL).lpc, icp);
    let s = seen(qemu("qemu-10.1"), ICL);
    assert_eq!((s.host, s.lpc), (I440FX_OWN, ABSENT));
    assert_eq!(seen(qemu("qemu-10.1,x-igd-lpc=on"), ICL).lpc, icp);
    assert_eq!(
        seen(qemu("qemu-10.1,x-igd-lpc=on"), AML).lpc[0],
        0x9D56_8086
    );
}

/// The PIIX functions QEMU's `pc` machine carries whatever the release.
#[test]
fn the_pc_machine_carries_piix3_and_the_piix4_pm_function() {
    let sc = Scenario::for_device(SNB, qemu("qemu-7.2"));
    let host = IgdDevice::new(sc.igd_config().expect("config")).expect("device");
    let mut st = MachineState::new(&sc.machine_config(host.config()));
    let mut rd = |bdf: Bdf, off: u16| st.config_read(CsIp::default(), bdf, off, 4);
    assert_eq!(rd(qemu_pc::slot::PIIX3_ISA, 0), 0x7000_8086);
    assert_eq!(rd(qemu_pc::slot::PIIX3_ISA, 0x08), 0x0601_0000);
    assert_eq!(rd(qemu_pc::slot::PIIX3_IDE, 0), 0x7010_8086);
    assert_eq!(rd(qemu_pc::slot::PIIX4_PM, 0), 0x7113_8086);
    assert_eq!(rd(qemu_pc::slot::PIIX4_PM, 0x40), 0x601);
    assert_eq!(rd(qemu_pc::slot::PIIX4_PM, 0x80) & 0xFF, 1);
}
