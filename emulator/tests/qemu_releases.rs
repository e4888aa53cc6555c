//! Each QEMU commit that changed what a vBIOS sees, as a named test with exact
//! values: the GGC the guest reads, where BDSM is emulated, `etc/igd-bdsm-size`,
//! the BAR0 mirrors, the BAR4 rewrite, the start-up clear, the refusals. Each
//! test is named for the commit and compares the last release before it with
//! the first release after it (release table in `passthrough::qemu_release`).

mod common;

use common::*;
use igdemu::igd::generation::{info, BdsmLocation, Platform};
use igdemu::passthrough::qemu_release::{realize, Realized};
use igdemu::passthrough::testing::FakeIgd;
use igdemu::passthrough::{
    HostIgd, Outcome, PassthroughEvent, QemuIgd, QemuSetup, Reason, Refusal, Release,
};

fn setup(spec: &str) -> QemuSetup {
    QemuSetup::parse(spec).expect("valid spec")
}

/// A passthrough layer with `spec` around a fake `p` device (host BDSM
/// `HOST_BDSM`, host GGC `ggc`).
fn qemu(spec: &str, p: Platform, ggc: u16) -> Rig {
    rig(p, HOST_BDSM, ggc, Box::new(QemuIgd::new(setup(spec))))
}

/// Firmware (SeaBIOS-like) programs the guest BDSM where the release emulates it.
fn programmed(spec: &str, p: Platform, ggc: u16) -> Rig {
    let mut pt = qemu(spec, p, ggc);
    let loc = pt.bdsm_location().expect("BDSM emulated");
    let bytes = GUEST_BDSM.to_le_bytes();
    pt.config_write(loc.offset(), &bytes[..usize::from(loc.width())]);
    pt
}

fn realized(spec: &str, p: Platform, ggc: u16) -> Result<Realized, Refusal> {
    realize(&setup(spec), FakeIgd::new(info(p), HOST_BDSM, ggc).config())
}

fn guest_ggc(pt: &mut Rig) -> u16 {
    let mut g = [0u8; 2];
    pt.config_read(0x50, &mut g);
    u16::from_le_bytes(g)
}

fn bar0_u32(pt: &mut Rig, off: u64) -> (u32, bool) {
    let before = pt.events().len();
    let mut b = [0u8; 4];
    pt.mmio_read(off, &mut b);
    let mirrored = pt.events()[before..]
        .iter()
        .any(|e| matches!(e, PassthroughEvent::MirrorRead { .. }));
    (u32::from_le_bytes(b), mirrored)
}

/// A 16-bit read of BAR0 0x108040 (GGC): the value and whether a mirror served it.
fn bar0_ggc(pt: &mut Rig) -> (u16, bool) {
    let before = pt.events().len();
    let mut b = [0u8; 2];
    pt.mmio_read(0x108040, &mut b);
    let mirrored = pt.events()[before..]
        .iter()
        .any(|e| matches!(e, PassthroughEvent::MirrorRead { .. }));
    (u16::from_le_bytes(b), mirrored)
}

fn last_outcome(pt: &Rig) -> Outcome {
    pt.events()
        .iter()
        .rev()
        .find_map(|e| match e {
            PassthroughEvent::Bar4DataWrite { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .expect("a data write")
}

/// `c4c45e943e51` (2.7.0): legacy mode for QEMU gen 6/8, GMS hidden, bdsm-size =
/// GGMS, no mirrors, the start-up clear, and the BAR4 rewrite `base | (data &
/// 0xFFFFF)`: a host page 1 MiB into stolen memory wraps to the first guest MiB.
#[test]
fn c4c45e943e51_2_7_ors_the_guest_base_with_the_low_20_bits() {
    let mut pt = programmed("qemu-2.7", Platform::SandyBridge, SNB_GGC);
    assert_eq!(guest_ggc(&mut pt), 0x0200, "GMS 5 zeroed, GGMS 2 kept");
    assert_eq!(pt.bdsm_size(), 2 * MIB, "GGMS 2 MiB + GMS 0");
    assert_eq!(pt.bdsm_location(), Some(BdsmLocation::Config5C));
    assert_eq!(
        pt.events().first(),
        Some(&PassthroughEvent::StartupClear { entries: 512 })
    );
    assert_eq!(
        bar0_u32(&mut pt, 0x1080C0),
        (0x8B00_0001, false),
        "no mirror"
    );
    write_pte(&mut pt, 0, 0x8B01_2005, false);
    assert_eq!(pt.host().gtt_entry(0), 0x7E01_2005);
    write_pte(&mut pt, 1, 0x8B11_2005, false);
    assert_eq!(
        pt.host().gtt_entry(1),
        0x7E01_2005,
        "wrapped into the first MiB"
    );
    assert_eq!(
        last_outcome(&pt),
        Outcome::Rewritten {
            value: 0x7E01_2005,
            reason: Reason::QemuOrLow20
        }
    );
}

/// `ac2a9862b761` (2.9.0) "Fix GTT wrap-around for Skylake+ IGD": the rewrite
/// becomes `data - host BDSM + guest BDSM`.
#[test]
fn ac2a9862b761_2_9_rebases_instead_of_masking() {
    let mut pt = programmed("qemu-2.9", Platform::SandyBridge, SNB_GGC);
    write_pte(&mut pt, 1, 0x8B11_2005, false);
    assert_eq!(pt.host().gtt_entry(1), 0x7E11_2005);
    assert_eq!(
        last_outcome(&pt),
        Outcome::Rewritten {
            value: 0x7E11_2005,
            reason: Reason::QemuRebase
        }
    );
    let mut old = programmed("qemu-2.8", Platform::SandyBridge, SNB_GGC);
    write_pte(&mut old, 1, 0x8B11_2005, false);
    assert_eq!(old.host().gtt_entry(1), 0x7E01_2005);
}

/// `29d62771c81d` (5.0.0) compiled legacy IGD out; `643a4eacef87` (5.1.0) put
/// it back.
#[test]
fn _29d62771c81d_5_0_compiled_legacy_igd_out_643a4eacef87_restored_it() {
    assert_eq!(
        realized("qemu-5.0", Platform::SandyBridge, SNB_GGC),
        Err(Refusal::CompiledOut {
            release: Release::V5_0
        })
    );
    let r = realized("qemu-5.1", Platform::SandyBridge, SNB_GGC).expect("5.1 admits SNB");
    assert_eq!(
        r,
        realized("qemu-4.2", Platform::SandyBridge, SNB_GGC)
            .map(|r| Realized {
                release: Release::V5_1,
                ..r
            })
            .unwrap()
    );
}

/// `e433f208973f` (9.2.0): unknown IDs are gen -1 and refused, where 9.1
/// assumed gen 8 ("Assume newer is compatible").
#[test]
fn e433f208973f_9_2_refuses_what_9_1_assumed_was_gen_8() {
    let r = realized("qemu-9.1", Platform::GeminiLake, BDW_GGC).expect("9.1 admits GLK");
    assert_eq!(r.qemu_gen, 8);
    assert_eq!(
        realized("qemu-9.2", Platform::GeminiLake, BDW_GGC),
        Err(Refusal::UnsupportedGen {
            release: Release::V9_2,
            device_id: 0x3184,
            qemu_gen: -1,
            commit: "abd9dda914ea"
        })
    );
    let r = realized("qemu-10.0", Platform::GeminiLake, BDW_GGC).expect("10.0 knows GLK");
    assert_eq!(r.qemu_gen, 9, "183714d8f940 added it");
}

/// `7bafcd176729` (9.2.0): gen 11+ (9.2 numbers only EHL and TGL so) get the
/// 64-bit BDSM at 0xC0; 9.1 emulated 0x5C for them as for everything.
#[test]
fn _7bafcd176729_9_2_emulates_bdsm_at_0xc0_for_gen_11_and_up() {
    let mut old = qemu("qemu-9.1", Platform::TigerLake, BDW_GGC);
    assert_eq!(old.bdsm_location(), Some(BdsmLocation::Config5C));
    let mut b = [0u8; 8];
    old.config_read(0xC0, &mut b);
    assert_eq!(
        u64::from_le_bytes(b),
        HOST_BDSM | 1,
        "9.1: the host BDSM shows"
    );
    let mut new = qemu("qemu-9.2", Platform::TigerLake, BDW_GGC);
    assert_eq!(new.bdsm_location(), Some(BdsmLocation::ConfigC0));
    new.config_read(0xC0, &mut b);
    assert_eq!(
        u64::from_le_bytes(b),
        0,
        "9.2: emulated, 0 until firmware writes it"
    );
    // SeaBIOS writes 0x5C only: the emulated 0xC0 stays 0 and the first
    // BAR4 PTE write stops the VM.
    new.config_write(0x5C, &(GUEST_BDSM as u32).to_le_bytes());
    write_pte(&mut new, 0, 0x8B00_0001, false);
    assert!(new.halted().is_some());
}

/// `11b5ce95beec` (9.2.0): a BAR0 BDSM mirror, gen 11+ only, 8 bytes onto 0xC0.
#[test]
fn _11b5ce95beec_9_2_mirrors_bdsm_in_bar0_for_gen_11_only() {
    let mut tgl = programmed("qemu-9.2", Platform::TigerLake, BDW_GGC);
    assert_eq!(bar0_u32(&mut tgl, 0x1080C0), (GUEST_BDSM as u32, true));
    let mut skl = programmed("qemu-9.2", Platform::Skylake, BDW_GGC);
    assert_eq!(bar0_u32(&mut skl, 0x1080C0), (0x8B00_0001, false));
    let mut old = programmed("qemu-9.1", Platform::TigerLake, BDW_GGC);
    assert_eq!(bar0_u32(&mut old, 0x1080C0), (0x8B00_0001, false));
}

/// `971ca22f041b` (9.2.0): the guest sees the host GMS, and bdsm-size adds it
/// to GGMS: 2 MiB + 160 MiB.
#[test]
fn _971ca22f041b_9_2_keeps_the_host_gms() {
    let mut old = qemu("qemu-9.1", Platform::SandyBridge, SNB_GGC);
    assert_eq!((guest_ggc(&mut old), old.bdsm_size()), (0x0200, 2 * MIB));
    let mut new = qemu("qemu-9.2", Platform::SandyBridge, SNB_GGC);
    assert_eq!((guest_ggc(&mut new), new.bdsm_size()), (0x0228, 162 * MIB));
    // The rebase is still there in 9.2.
    let mut new = programmed("qemu-9.2", Platform::SandyBridge, SNB_GGC);
    write_pte(&mut new, 0, 0x8B00_0005, false);
    assert_eq!(new.host().gtt_entry(0), 0x7E00_0005);
}

/// `871922416683` (9.2.0): GMS 0xF0+ on gen 9 is 4 MiB steps; a gen < 9 GMS
/// above 0x10 is "Unsupported IGD GMS value" and counts 0.
#[test]
fn _871922416683_9_2_decodes_gms_0xf0_on_gen_9() {
    let cfl = info(Platform::CoffeeLake);
    let r = realized("qemu-9.2", Platform::CoffeeLake, cfl.encode_ggc(0xF0, 1)).unwrap();
    assert_eq!((r.qemu_gen, r.bdsm_size), (9, 2 * MIB + 4 * MIB));
    let skl = info(Platform::Skylake);
    let r = realized("qemu-9.2", Platform::Skylake, skl.encode_ggc(0xF0, 1)).unwrap();
    assert_eq!(
        (r.qemu_gen, r.bdsm_size),
        (8, 2 * MIB),
        "SKL is gen 8 in 9.2"
    );
    assert_eq!(
        r.warnings,
        vec!["Unsupported IGD GMS value 0xf0".to_string()]
    );
}

/// `03828b00a2bf` fixed GGMS 0 → 0 MiB only in 10.0, with the quirk already
/// gone: every release with the quirk reads a GGMS of 0 as 1 MiB above gen 6
/// (bdsm-size and gtt_max); 10.0 does not use GGMS at all.
#[test]
fn _03828b00a2bf_ggms_zero_was_one_mib_while_the_quirk_existed() {
    let bdw = info(Platform::Broadwell);
    let ggc = bdw.encode_ggc(2, 0);
    for spec in ["qemu-2.7", "qemu-9.1"] {
        let r = realized(spec, Platform::Broadwell, ggc).unwrap();
        assert_eq!((r.bdsm_size, r.gtt_max), (MIB, 2048), "{spec}");
    }
    let r = realized("qemu-9.2", Platform::Broadwell, ggc).unwrap();
    assert_eq!((r.bdsm_size, r.gtt_max), (MIB + 64 * MIB, 2048));
    let r = realized("qemu-10.0", Platform::Broadwell, ggc).unwrap();
    assert_eq!((r.bdsm_size, r.gtt_max), (64 * MIB, 0));
}

/// `0bb758e97ace` (10.0.0): i915's numbering. SKL becomes gen 9, so its GMS
/// 0xF0 is 4 MiB (9.2, gen 8: "unsupported", 0).
#[test]
fn _0bb758e97ace_10_0_numbers_generations_as_i915() {
    let skl = info(Platform::Skylake);
    let r = realized("qemu-10.0", Platform::Skylake, skl.encode_ggc(0xF0, 1)).unwrap();
    assert_eq!((r.qemu_gen, r.bdsm_size), (9, 4 * MIB));
    let r = realized("qemu-10.0", Platform::Haswell, 0x0228).unwrap();
    assert_eq!(r.qemu_gen, 7);
    let r = realized("qemu-9.2", Platform::Haswell, 0x0228).unwrap();
    assert_eq!(r.qemu_gen, 6);
}

/// `5aed8b0f0be2` (10.0.0): no BAR4 quirk: the PTE reaches the device as
/// written, no start-up clear, no VM stop while BDSM is 0.
#[test]
fn _5aed8b0f0be2_10_0_removes_the_bar4_quirk() {
    let mut pt = qemu("qemu-10.0", Platform::SandyBridge, SNB_GGC);
    assert!(!pt
        .events()
        .iter()
        .any(|e| matches!(e, PassthroughEvent::StartupClear { .. })));
    write_pte(&mut pt, 0, 0x8B00_0005, false);
    assert_eq!(pt.host().gtt_entry(0), 0x8B00_0005);
    assert_eq!(last_outcome(&pt), Outcome::Forwarded);
    assert!(pt.halted().is_none(), "BDSM still 0 and the VM runs on");
    let mut old = qemu("qemu-9.2", Platform::SandyBridge, SNB_GGC);
    write_pte(&mut old, 0, 0x8B00_0005, false);
    assert!(old.halted().is_some());
}

/// `5faec6a5e220` (10.0.0): `etc/igd-bdsm-size` is the GMS size only.
#[test]
fn _5faec6a5e220_10_0_bdsm_size_is_gms_only() {
    assert_eq!(
        qemu("qemu-9.2", Platform::SandyBridge, SNB_GGC).bdsm_size(),
        162 * MIB
    );
    assert_eq!(
        qemu("qemu-10.0", Platform::SandyBridge, SNB_GGC).bdsm_size(),
        160 * MIB
    );
}

/// `ea652c2beeae` (10.0.0): GGC mirrored at BAR0 0x108040; `36e4047a9b1c`
/// (10.1.0): only with `x-igd-gms`.
#[test]
fn ea652c2beeae_10_0_mirrors_ggc_and_36e4047a9b1c_10_1_only_with_x_igd_gms() {
    let mut pt = qemu("qemu-10.0", Platform::SandyBridge, SNB_GGC);
    assert_eq!(bar0_ggc(&mut pt), (0x0228, true));
    let mut pt = qemu("qemu-10.0,x-igd-gms=2", Platform::SandyBridge, SNB_GGC);
    assert_eq!(
        bar0_ggc(&mut pt),
        (0x0210, true),
        "GMS 2 through the mirror"
    );
    let mut pt = qemu("qemu-10.1", Platform::SandyBridge, SNB_GGC);
    assert_eq!(
        bar0_ggc(&mut pt),
        (0x0228, false),
        "the device's own register"
    );
    let mut pt = qemu("qemu-10.1,x-igd-gms=2", Platform::SandyBridge, SNB_GGC);
    assert_eq!(bar0_ggc(&mut pt), (0x0210, true));
    let mut pt = qemu("qemu-9.2", Platform::SandyBridge, SNB_GGC);
    assert_eq!(bar0_ggc(&mut pt), (0x0228, false));
}

/// `f926baa03b7b` (10.0.0): the BDSM mirror for gen 6-10 (4 bytes onto 0x5C).
#[test]
fn f926baa03b7b_10_0_mirrors_bdsm_for_gen_6_to_10() {
    let mut pt = programmed("qemu-10.0", Platform::SandyBridge, SNB_GGC);
    assert_eq!(bar0_u32(&mut pt, 0x1080C0), (GUEST_BDSM as u32, true));
    let mut old = programmed("qemu-9.2", Platform::SandyBridge, SNB_GGC);
    assert_eq!(bar0_u32(&mut old, 0x1080C0), (0x8B00_0001, false));
}

/// `37f05a59e869` (10.0.0): `x-igd-gms` works again (9.2 accepts and ignores
/// it); out of range it is reported and the host GMS kept.
#[test]
fn _37f05a59e869_10_0_brings_x_igd_gms_back() {
    let r = realized("qemu-9.1,x-igd-gms=2", Platform::SandyBridge, SNB_GGC).unwrap();
    assert_eq!((r.guest_ggc, r.bdsm_size), (0x0210, 2 * MIB + 64 * MIB));
    let r = realized("qemu-9.2,x-igd-gms=2", Platform::SandyBridge, SNB_GGC).unwrap();
    assert_eq!((r.guest_ggc, r.bdsm_size), (0x0228, 162 * MIB));
    assert_eq!(r.warnings.len(), 1);
    let r = realized("qemu-10.0,x-igd-gms=2", Platform::SandyBridge, SNB_GGC).unwrap();
    assert_eq!((r.guest_ggc, r.bdsm_size), (0x0210, 64 * MIB));
    let r = realized("qemu-10.0,x-igd-gms=0x11", Platform::SandyBridge, SNB_GGC).unwrap();
    assert_eq!((r.guest_ggc, r.bdsm_size), (0x0228, 160 * MIB));
    assert_eq!(
        r.warnings,
        vec!["Parameter 'x-igd-gms' expects 0~0x10: ignored, host GMS kept".to_string()]
    );
    let r = realized("qemu-9.1,x-igd-gms=0x11", Platform::SandyBridge, SNB_GGC).unwrap();
    assert_eq!((r.guest_ggc, r.bdsm_size), (0x0200, 2 * MIB));
}

/// `395a1f7941f4` (10.1.0): gen 9+ takes 0xF0-0xFE; an out-of-range value
/// now fails realize.
#[test]
fn _395a1f7941f4_10_1_takes_gms_0xf0_on_gen_9_and_fails_out_of_range() {
    let skl = info(Platform::Skylake);
    let ggc = skl.encode_ggc(2, 1);
    let r = realized("qemu-10.0,x-igd-gms=0xf2", Platform::Skylake, ggc).unwrap();
    assert_eq!(
        (r.guest_ggc, r.bdsm_size),
        (0x0240, 64 * MIB),
        "ignored in 10.0"
    );
    let r = realized("qemu-10.1,x-igd-gms=0xf2", Platform::Skylake, ggc).unwrap();
    assert_eq!((r.guest_ggc, r.bdsm_size), (0xF240, 12 * MIB));
    assert_eq!(
        realized("qemu-10.1,x-igd-gms=0x50", Platform::Skylake, ggc),
        Err(Refusal::RealizeFailed {
            release: Release::V10_1,
            message: "Parameter 'x-igd-gms' expects 0~0x40 or 0xf0~0xfe".into()
        })
    );
}

/// `dd69d846046f` (10.1.0): legacy mode for gen 6-9 only; `x-igd-legacy-mode=on`
/// on a gen 12 device fails realize.
#[test]
fn dd69d846046f_10_1_restricts_legacy_mode_to_gen_6_to_9() {
    let r = realized("qemu-10.0", Platform::TigerLake, BDW_GGC).unwrap();
    assert_eq!((r.qemu_gen, r.bdsm), (12, BdsmLocation::ConfigC0));
    assert_eq!(
        realized("qemu-10.1", Platform::TigerLake, BDW_GGC),
        Err(Refusal::NotLegacyGen {
            release: Release::V10_1,
            device_id: 0x9A40,
            qemu_gen: 12
        })
    );
    assert!(matches!(
        realized(
            "qemu-10.1,x-igd-legacy-mode=on",
            Platform::TigerLake,
            BDW_GGC
        ),
        Err(Refusal::RealizeFailed { .. })
    ));
}

/// `e0b33efe2acc` (10.1.0): a host IGD with IVD set (no VGA decode) gets no
/// legacy mode; 10.0 went on without VGA.
#[test]
fn e0b33efe2acc_10_1_requires_host_vga_decode() {
    let ivd = SNB_GGC | 0x2;
    assert!(realized("qemu-10.0", Platform::SandyBridge, ivd).is_ok());
    assert_eq!(
        realized("qemu-10.1", Platform::SandyBridge, ivd),
        Err(Refusal::VgaDecodeDisabled {
            release: Release::V10_1
        })
    );
}

/// `2fedccf03c88` (10.0.0): `x-igd-legacy-mode` exists and `off` drops legacy
/// mode; before 10.0 the option is rejected.
#[test]
fn _2fedccf03c88_10_0_lets_the_user_turn_legacy_mode_off() {
    assert_eq!(
        realized(
            "qemu-10.0,x-igd-legacy-mode=off",
            Platform::SandyBridge,
            SNB_GGC
        ),
        Err(Refusal::LegacyModeOff {
            release: Release::V10_0
        })
    );
    assert!(QemuSetup::parse("qemu-9.2,x-igd-legacy-mode=off").is_err());
}

/// `432ca3dfa3d5` (10.2.0) accepts display-class IGDs: nothing changes for a
/// VGA-class IGD.
#[test]
fn _432ca3dfa3d5_10_2_changes_nothing_for_a_vga_class_igd() {
    for p in [
        Platform::SandyBridge,
        Platform::Skylake,
        Platform::TigerLake,
    ] {
        let ggc = info(p).encode_ggc(2, 1);
        let a = realized("qemu-10.1", p, ggc).map(|r| Realized {
            release: Release::V10_2,
            ..r
        });
        let b = realized("qemu-10.2", p, ggc).map_err(|e| e.to_string());
        assert_eq!(a.map_err(|e| e.to_string().replace("10.1", "10.2")), b);
    }
}

/// The aliases: `qemu-2016` behaves as 9.1.0, `qemu-2025` as 10.1.0, on every
/// platform.
#[test]
fn aliases_are_real_releases() {
    use igdemu::passthrough::{Qemu2016, Qemu2025, Remapper};
    for p in [
        Platform::SandyBridge,
        Platform::Haswell,
        Platform::Broadwell,
        Platform::Skylake,
        Platform::IceLake,
        Platform::TigerLake,
    ] {
        let ggc = info(p).encode_ggc(2, 1);
        let fake = FakeIgd::new(info(p), HOST_BDSM, ggc);
        let mut a = Qemu2016::new();
        a.realize(info(p), fake.config());
        assert_eq!(
            a.model().realized(),
            Some(&realize(&QemuSetup::release(Release::V9_1), fake.config()))
        );
        let mut b = Qemu2025::new();
        b.realize(info(p), fake.config());
        assert_eq!(
            b.model().realized(),
            Some(&realize(&QemuSetup::release(Release::V10_1), fake.config()))
        );
    }
}

/// `6ced0bba70ff` (2.7.0) added `x-igd-opregion`; legacy mode sets the
/// OpRegion up regardless (before 10.0 unconditionally, from `2fedccf03c88` by
/// forcing the feature bit), so `x-igd-opregion=off|on` realizes exactly as the
/// default in every release, and every release accepts the option.
#[test]
fn _6ced0bba70ff_x_igd_opregion_changes_nothing_in_legacy_mode() {
    for release in Release::ALL {
        let default = realized(release.name(), Platform::SandyBridge, SNB_GGC);
        for v in ["off", "on"] {
            let spec = format!("{},x-igd-opregion={v}", release.name());
            assert_eq!(
                realized(&spec, Platform::SandyBridge, SNB_GGC),
                default,
                "{spec}"
            );
        }
        if let Ok(r) = default {
            assert!(r.opregion, "{release}");
        }
    }
}
