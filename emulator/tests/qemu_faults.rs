//! QEMU's IGD quirks against the containment invariant: each test is a minimal
//! counterexample, named for the fault, asserting the exact faulty output.
//! Faults are QEMU's (commit ids in `passthrough::qemu_release`); the same
//! inputs under `Strict` are asserted alongside where it helps.
//!
//! Which releases each holds for: `qemu2016_*` is QEMU 9.1.0 (the alias) and
//! holds for every release with the rebase, 2.9 to 9.2 except 5.0 (the BAR4
//! quirk with `data - host + guest`, GMS zeroed through 9.1); `qemu9_2_*` only
//! for 9.2.0; `qemu2025_*` is QEMU 10.1.0 and holds for 10.0 to 10.2 (no BAR4
//! quirk, BAR0 mirrors, bdsm-size = GMS). Per-release differences are in
//! `qemu_releases.rs`.

mod common;

use common::*;
use igdemu::addr::{GuestPhys, HostPhys, Iova, Region};
use igdemu::check::{check, CheckInput, GttLedger, Report, Violation};
use igdemu::igd::generation::BdsmLocation;
use igdemu::igd::generation::{info, Platform, PteFormat};
use igdemu::machine::iommu::{AccessClass, Iommu, Mapping};
use igdemu::passthrough::qemu2016::UNSUPPORTED_BIOS;
use igdemu::passthrough::testing::FakeIgd;
use igdemu::passthrough::{
    Bar4Access, Bar4Op, Bar4Reg, Decision, HostIgd, Outcome, PassthroughEvent, Qemu2016, Qemu2025,
    Reason, RemapContext, Remapper, Strict,
};
use igdemu::passthrough::{QemuIgd, QemuSetup, Release};

fn last_data_outcome(pt: &Rig) -> Outcome {
    pt.events()
        .iter()
        .rev()
        .find_map(|e| match e {
            PassthroughEvent::Bar4DataWrite { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .expect("a data write happened")
}

/// A rig around a `p` device with host BDSM at `HOST_BDSM`, firmware having
/// programmed the guest BDSM to `GUEST_BDSM`.
fn programmed(p: Platform, ggc: u16, r: Box<dyn Remapper>) -> Rig {
    let mut pt = rig(p, HOST_BDSM, ggc, r);
    set_bdsm(&mut pt, GUEST_BDSM);
    pt
}

fn snb_2016() -> Rig {
    programmed(Platform::SandyBridge, SNB_GGC, Box::new(Qemu2016::new()))
}

fn vm_iommu(pt: &Rig) -> Iommu {
    Iommu::new(
        vec![Mapping {
            guest: Region::new(GuestPhys(0), 0x8000_0000),
            host: HostPhys(0x1_0000_0000),
        }],
        Some(Region::new(GuestPhys(GUEST_BDSM), pt.bdsm_size())),
        Region::new(HostPhys(HOST_BDSM), pt.host().stolen_size()),
    )
}

/// The checker over `pt`'s SNB GTT and events, behind [`vm_iommu`].
fn check_vm(pt: &Rig) -> Report {
    let iommu = vm_iommu(pt);
    let mut ledger = GttLedger::new(PteFormat::Snb.size(), pt.host().gtt_bytes().len() as u64);
    for e in pt.events() {
        ledger.record(Default::default(), e);
    }
    check(&CheckInput {
        gtt: pt.host().gtt_bytes(),
        format: PteFormat::Snb,
        iommu: &iommu,
        ledger: &ledger,
        dma: &[],
        dma_unlisted: &[],
    })
}

/// (a) An address below host stolen underflows: `0x1001 - 0x8b000000 +
/// 0x7e000000` wraps to `0xfffffffff3001001`, the device takes 0xf3001001.
#[test]
fn qemu2016_address_outside_host_stolen_underflows() {
    let mut pt = snb_2016();
    write_pte(&mut pt, 0, 0x0000_1001, false);
    assert_eq!(
        last_data_outcome(&pt),
        Outcome::Rewritten {
            value: 0xFFFF_FFFF_F300_1001,
            reason: Reason::QemuRebase
        }
    );
    assert_eq!(pt.host().gtt_entry(0), 0xF300_1001);
    let r = check_vm(&pt);
    println!("{r}");
    assert_eq!(
        r.violations,
        vec![Violation::GttEntry {
            index: 0,
            guest_value: Some(0x1001),
            device_value: 0xF300_1001,
            addr: 0xF300_1000,
            class: AccessClass::Unmapped,
            origin: None
        }]
    );
}

/// (a') The 2016 guest region is GGMS-sized (`etc/igd-bdsm-size = ggms_mb +
/// 0`): a host stolen page 64 MiB in lands in other guest RAM.
#[test]
fn qemu2016_guest_region_is_ggms_sized_so_gms_pages_land_in_guest_ram() {
    let mut pt = snb_2016();
    assert_eq!(pt.bdsm_size(), 2 * MIB);
    assert_eq!(pt.regs().ggc, 0x0200, "GMS cleared in the guest view");
    write_pte(&mut pt, 3, 0x8F00_0005, false);
    assert_eq!(pt.host().gtt_entry(3), 0x8200_0005);
    let iommu = vm_iommu(&pt);
    assert_eq!(
        iommu.classify(Iova(0x8200_0000), 4096),
        AccessClass::Unmapped
    );
    assert_eq!(
        iommu.classify(Iova(0x7E40_0000), 4096),
        AccessClass::OtherGuestRam
    );
}

/// (b) A vBIOS that read the emulated BDSM writes guest addresses; QEMU shifts
/// them again (the reason for `5aed8b0f0be2`).
#[test]
fn qemu2016_double_shifts_an_address_already_in_guest_stolen() {
    let mut pt = snb_2016();
    write_pte(&mut pt, 0, 0x7E00_0005, false);
    assert_eq!(pt.host().gtt_entry(0), 0x7100_0005);
    // Strict leaves it alone.
    let mut st = programmed(Platform::SandyBridge, SNB_GGC, Box::new(Strict::default()));
    write_pte(&mut st, 0, 0x7E00_0005, false);
    assert_eq!(st.host().gtt_entry(0), 0x7E00_0005);
}

/// (c) SNB PTE bits 11:4 carry PA[39:32]; the rebase ignores them, so
/// 0x1_8b000000 (not host stolen) becomes 0x1_7e000000.
#[test]
fn qemu2016_ignores_snb_pa_39_32() {
    let raw = PteFormat::Snb.encode(0x1_8B00_0000, 0x5).unwrap();
    assert_eq!(raw, 0x8B00_0015);
    let mut pt = snb_2016();
    write_pte(&mut pt, 0, raw, false);
    let dev = pt.host().gtt_entry(0);
    assert_eq!(dev, 0x7E00_0015);
    assert_eq!(PteFormat::Snb.decode(dev).addr, 0x1_7E00_0000);
    let mut st = programmed(Platform::SandyBridge, SNB_GGC, Box::new(Strict::default()));
    write_pte(&mut st, 0, raw, false);
    assert_eq!(st.host().gtt_entry(0), 0, "Strict refuses it");
}

/// (d) gen >= 8: the high dword is forced to 0, a PTE above 4 GiB is
/// truncated (0x1_8b000000 becomes 0x7e000000).
#[test]
fn qemu2016_forces_gen8_high_dword_to_zero() {
    let mut pt = programmed(Platform::Broadwell, BDW_GGC, Box::new(Qemu2016::new()));
    write_pte(&mut pt, 0, 0x0000_0001_8B00_0001, false);
    assert_eq!(
        last_data_outcome(&pt),
        Outcome::Rewritten {
            value: 0,
            reason: Reason::QemuHighDwordZeroed
        }
    );
    assert_eq!(pt.host().gtt_entry(0), 0x0000_0000_7E00_0001);
}

/// (e) Holds for QEMU 9.2.0 only (the one release with both the 64-bit BDSM
/// at 0xC0, `7bafcd176729`, and the BAR4 rebase), on a device 9.2 numbers gen
/// 11+ (EHL, TGL): a guest BDSM above 4 GiB is rebased in 64 bits and then
/// truncated to the 32-bit data write.
#[test]
fn qemu9_2_gen12_bdsm_above_4g_is_truncated() {
    let host = FakeIgd::new(info(Platform::TigerLake), HOST_BDSM, BDW_GGC);
    let ctx = RemapContext {
        info: info(Platform::TigerLake),
        host_bdsm: HostPhys(HOST_BDSM),
        guest_bdsm: 0x1_0000_0000,
        host_stolen_size: 64 * MIB,
        guest_stolen_size: 2 * MIB,
        gtt_size: 2 * MIB,
        ggc: BDW_GGC,
        reserved_stolen: None,
    };
    let mut q = QemuIgd::realized_for(QemuSetup::release(Release::V9_2), host.config());
    assert_eq!(q.bdsm_location(ctx.info), Some(BdsmLocation::ConfigC0));
    let idx = Bar4Access {
        reg: Bar4Reg::Index,
        offset: 0,
        width: 4,
        op: Bar4Op::Write(1),
        device_index: 0,
    };
    assert_eq!(q.on_bar4_access(&ctx, &idx), Decision::Forward);
    let data = Bar4Access {
        reg: Bar4Reg::Data,
        op: Bar4Op::Write(0x8B00_0001),
        device_index: 1,
        ..idx
    };
    let d = q.on_bar4_access(&ctx, &data);
    assert_eq!(
        d,
        Decision::Rewrite {
            value: 0x1_0000_0001,
            reason: Reason::QemuRebase
        }
    );
    // `vfio_region_write(..., val, 4)`: the device receives 0x00000001.
    let Decision::Rewrite { value, .. } = d else {
        unreachable!()
    };
    assert_eq!(value as u32, 0x0000_0001);
    assert_eq!(q.latched_index(), !0);
    // 9.1 numbers TGL gen 8: 32-bit BDSM at 0x5C, the high bits never exist.
    let q91 = QemuIgd::realized_for(QemuSetup::release(Release::V9_1), host.config());
    assert_eq!(q91.bdsm_location(ctx.info), Some(BdsmLocation::Config5C));
}

/// (f) Only `index < gtt_max` is trapped: entry 256 of a 1 MiB SNB GTT passes
/// with its host address.
#[test]
fn qemu2016_entries_beyond_gtt_max_pass_unmodified() {
    let mut pt = programmed(Platform::SandyBridge, 0x0128, Box::new(Qemu2016::new()));
    write_pte(&mut pt, 255, 0x8B00_0005, false);
    write_pte(&mut pt, 256, 0x8B00_0005, false);
    assert_eq!(pt.host().gtt_entry(255), 0x7E00_0005);
    assert_eq!(pt.host().gtt_entry(256), 0x8B00_0005);
    assert_eq!(last_data_outcome(&pt), Outcome::Forwarded);
}

/// (f') Holds for 2.7 to 9.2: CHV is QEMU gen 8, so its GGC is decoded with
/// gen-8 positions. Zeroing "GMS" (bits 15:8) wipes CHV's real GGMS (bits
/// 9:8); GGMS is then read from bits 7:6 (CHV's GMS bits), here 0, and a GGMS
/// of 0 reads as 1 MiB: bdsm-size 1 MiB, 256 PTEs trapped.
#[test]
fn qemu2016_chv_decoded_as_gen8_wipes_its_ggms() {
    let chv = info(Platform::Cherryview);
    let ggc = chv.encode_ggc(0x02, 3);
    assert_eq!(ggc, 0x0310);
    let mut pt = rig(
        Platform::Cherryview,
        HOST_BDSM,
        ggc,
        Box::new(Qemu2016::new()),
    );
    assert_eq!(
        pt.regs().ggc,
        0x0010,
        "bits 15:8 cleared, CHV's GGMS with them"
    );
    assert_eq!(pt.bdsm_size(), MIB);
    assert_eq!(
        pt.events().first(),
        Some(&PassthroughEvent::StartupClear { entries: 512 })
    );
    set_bdsm(&mut pt, GUEST_BDSM);
    write_pte(&mut pt, 0, 0x8B00_0001, false);
    assert_eq!(pt.host().gtt_entry(0), 0x7E00_0001);
    write_pte(&mut pt, 256, 0x8B00_0001, false);
    assert_eq!(pt.host().gtt_entry(256), 0x8B00_0001, "past gtt_max");
}

/// (g) QEMU's BDSM mirror is a BAR0 quirk: through the BAR4 window
/// (Sel = 0, 0x1080C0) the device answers with the host BDSM.
#[test]
fn qemu2025_bdsm_mirror_through_bar4_returns_host_bdsm() {
    for (name, r) in [
        ("qemu-2025", Box::new(Qemu2025::new()) as Box<dyn Remapper>),
        ("strict", Box::new(Strict::default())),
    ] {
        let mut pt = programmed(Platform::Skylake, BDW_GGC, r);
        let mut b = [0u8; 4];
        pt.mmio_read(0x1080C0, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x7E00_0000, "{name} BAR0 mirror");
        pt.io_write(0, &0x1080C0u32.to_le_bytes());
        pt.io_read(4, &mut b);
        let expect = if name == "strict" {
            0x7E00_0000
        } else {
            0x8B00_0001
        };
        assert_eq!(u32::from_le_bytes(b), expect, "{name} BAR4 window");
    }
}

/// (h) QEMU stops the VM when the vBIOS programs the GTT before BDSM is set.
#[test]
fn qemu2016_hard_stop_when_guest_bdsm_is_zero() {
    let mut pt = rig(
        Platform::SandyBridge,
        HOST_BDSM,
        SNB_GGC,
        Box::new(Qemu2016::new()),
    );
    write_pte(&mut pt, 0, 0x8B00_0005, false);
    assert_eq!(pt.halted(), Some(UNSUPPORTED_BIOS));
    assert_eq!(
        last_data_outcome(&pt),
        Outcome::Fatal {
            message: UNSUPPORTED_BIOS.to_string()
        }
    );
    assert_eq!(pt.host().gtt_entry(0), 0);
    let mut b = [0u8; 4];
    pt.config_read(0, &mut b);
    assert_eq!(b, [0xFF; 4]);
    assert_eq!(
        pt.events().last(),
        Some(&PassthroughEvent::IgnoredAfterFatal)
    );
}

/// (i) Today's QEMU forwards host stolen addresses untouched: the entry points
/// at host stolen memory and the checker calls it an escape.
#[test]
fn qemu2025_forwards_host_stolen_addresses_untouched() {
    let mut pt = programmed(Platform::SandyBridge, SNB_GGC, Box::new(Qemu2025::new()));
    assert_eq!(pt.bdsm_size(), 160 * MIB, "GMS size since 5faec6a5e220");
    write_pte(&mut pt, 0, 0x8B00_0005, false);
    assert_eq!(pt.host().gtt_entry(0), 0x8B00_0005);
    assert_eq!(last_data_outcome(&pt), Outcome::Forwarded);
    let r = check_vm(&pt);
    assert_eq!(r.violations.len(), 1);
    assert_eq!(
        r.violations[0].to_string(),
        "GTT entry 0 maps page 0x8b000000 in host stolen memory (untranslated host address): the guest wrote 0x8b000005 and the device holds 0x8b000005"
    );
}

/// QEMU's latch: any read of index or data breaks the sequence, and the data
/// write then goes through unmodified.
#[test]
fn qemu2016_a_read_between_index_and_data_breaks_the_rebase() {
    let mut pt = snb_2016();
    pt.io_write(0, &1u32.to_le_bytes());
    let mut b = [0u8; 4];
    pt.io_read(0, &mut b);
    pt.io_write(4, &0x8B00_0005u32.to_le_bytes());
    assert_eq!(pt.host().gtt_entry(0), 0x8B00_0005);
    assert_eq!(last_data_outcome(&pt), Outcome::Forwarded);
}

/// QEMU zeroes every trapped PTE at realize: `index = 1, 5, 9, ... < gtt_max`.
#[test]
fn qemu2016_startup_clears_trapped_ptes() {
    let pt = snb_2016();
    assert_eq!(
        pt.events().first(),
        Some(&PassthroughEvent::StartupClear { entries: 512 })
    );
    let w = Qemu2016::realized_for(pt.host().config()).startup_writes(&pt.context());
    assert_eq!((w[0], w[1], w[511]), (1, 5, 2045));
    let bdw = rig(
        Platform::Broadwell,
        HOST_BDSM,
        BDW_GGC,
        Box::new(Qemu2016::new()),
    );
    // 2 MiB on gen 8: gtt_max = 512 * 8 = 4096, both dwords of 512 PTEs.
    assert_eq!(
        Qemu2016::realized_for(bdw.host().config())
            .startup_writes(&bdw.context())
            .len(),
        1024
    );
}
