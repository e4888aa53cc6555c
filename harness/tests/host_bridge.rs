//! The host bridge a vBIOS sees at 00:00.0: the platform's graphics
//! registers with the guest's values where the VMM presents them (strict),
//! QEMU's i440FX with copied IDs only (the QEMU remappers), the host GGC
//! under Xen; and what QEMU's LPC bridge at 00:1f.0 means for a ROM that
//! times its delays with the ACPI PM timer it finds there.

use igdemu::machine::pci_bus::SimpleFunction;
use igdemu::machine::slot;
use igdemu::session::{self, RemapperKind, Scenario};
use igdemu_roms::{build, DelayTimer, Options, Personality};

/// (host bridge GGC, BDSM, TOLUD) and the IGD's GGC as the guest reads it.
fn host_bridge_regs(remapper: RemapperKind) -> ((u16, u32, u32), u16) {
    let rom = build(Personality::SnbLegacy, &Options::default()).expect("builds");
    let mut run = session::run(&rom, &Scenario::for_rom(&rom, remapper)).expect("runs");
    let igd_ggc = run.igd().expect("IGD").passthrough().regs().ggc;
    let cs = run
        .machine
        .device_mut::<SimpleFunction>(slot::HOST_BRIDGE)
        .expect("host bridge")
        .config_mut();
    (
        (cs.read_u16(0x50), cs.read_u32(0xB0), cs.read_u32(0xBC)),
        igd_ggc,
    )
}

#[test]
fn strict_presents_the_guest_ggc_bdsm_and_tolud_at_the_host_bridge() {
    let ((ggc, bdsm, tolud), igd_ggc) = host_bridge_regs(RemapperKind::Strict);
    assert_eq!(ggc, igd_ggc, "host bridge GGC mirrors the IGD's");
    assert_ne!(ggc & 0xF8, 0, "GMS is not zero");
    assert_eq!(bdsm, 0x7BF0_0000, "guest BDSM");
    assert_eq!(tolud, 0x8000_0000, "guest RAM below 4 GiB");
}

#[test]
fn qemu_keeps_its_i440fx_host_bridge() {
    for k in [RemapperKind::Qemu2016, RemapperKind::Qemu2025] {
        assert_eq!(host_bridge_regs(k).0, (0, 0, 0), "{}", k.name());
        let rom = build(Personality::SnbLegacy, &Options::default()).expect("builds");
        let mut run = session::run(&rom, &Scenario::for_rom(&rom, k)).expect("runs");
        let cs = run
            .machine
            .device_mut::<SimpleFunction>(slot::HOST_BRIDGE)
            .expect("host bridge")
            .config_mut();
        // 8086:1237 with SNB's host bridge revision (9) copied in.
        assert_eq!((cs.read_u32(0), cs.read_u8(8)), (0x1237_8086, 9));
    }
}

/// Xen's igd-passthrough-i440FX copies the host's GGC (0x50/0x52), not BDSM
/// or TOLUD (`hw/pci-host/xen_igd_pt.c`, `igd_host_bridge_infos`).
#[test]
fn xen_copies_the_host_ggc_only() {
    let ((ggc, bdsm, tolud), igd_ggc) = host_bridge_regs(RemapperKind::Xen);
    assert_eq!(ggc, 0x0210, "host GGC: GMS 2 (64 MiB), GGMS 2 MiB");
    assert_eq!(igd_ggc, ggc, "the IGD reads the host GGC too");
    assert_eq!((bdsm, tolud), (0, 0));
}

/// A ROM that takes its delay from the ACPI PM timer at 00:1f.0's PMBASE + 8
/// (no timeout) runs under strict, where the platform's LPC bridge decodes
/// PMBASE 0x1800, and never finishes its delay under QEMU: QEMU's LPC bridge
/// copies IDs only, PMBASE reads 0, and the ROM polls port 0x08 (the DMA
/// controller's status, no timer) until the budget runs out. The project's
/// personalities and the real images time with PIT channel 2 instead.
#[test]
fn a_pm_timer_delay_from_the_lpc_pmbase_never_ends_under_qemu() {
    let opts = Options {
        delay_timer: DelayTimer::PmTimer,
        ..Options::default()
    };
    let rom = build(Personality::SnbLegacy, &opts).expect("builds");
    let strict = session::run(&rom, &Scenario::for_rom(&rom, RemapperKind::Strict)).expect("runs");
    assert!(strict.report.steps[0].returned);
    assert_eq!(strict.report.verdict.name(), "clean");
    let mut sc = Scenario::for_rom(&rom, RemapperKind::Qemu2025);
    sc.machine.budget = 2_000_000;
    let qemu = session::run(&rom, &sc).expect("runs");
    let post = &qemu.report.steps[0];
    assert!(!post.returned, "{}", post.outcome);
    assert_eq!(qemu.report.verdict.name(), "did-not-run");
    assert_eq!(qemu.report.gtt.len(), 0, "stopped before any GTT write");
    // It reads the timer at PMBASE 0 + 8, where nothing answers.
    let polls_port_8 = qemu.machine.trace().iter().any(|e| {
        matches!(
            &e.kind,
            igdemu::machine::EventKind::Unhandled(igdemu::trace::Unhandled::Port {
                port: 0x08,
                size: 4,
                value: None,
            })
        )
    });
    assert!(polls_port_8);
    // The diagnosis names the port that never answers, not the register
    // the loop around the delay polled before it.
    let d = post.diagnosis.clone().expect("a diagnosis");
    assert_eq!(
        d.register,
        igdemu::igd::PolledRegister::Port(0x08),
        "{}",
        d.suggestion
    );
    assert_eq!(d.value_read, 0xFFFF_FFFF);
    assert!(
        d.suggestion.contains("keeps time by it")
            && d.suggestion
                .ends_with("(no device decodes port 0x8: every read returns all-ones)"),
        "{}",
        d.suggestion
    );
}
