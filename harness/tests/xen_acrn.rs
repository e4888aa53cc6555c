//! Xen's and ACRN's IGD passthrough end to end: the project's built-in ROMs
//! under `--remapper xen` and `--remapper acrn`, with what the guest reads
//! (GGC and BDSM at the IGD and at the host bridge, ASLS), where the guest
//! stolen region sits, what the IOMMU maps there, and what the device holds
//! for the PTEs the ROM wrote. Neither VMM rewrites a PTE: Xen identity-maps
//! the host stolen range (reserved device memory), ACRN maps it at
//! `GPU_DSM_GPA` (0x7C000000) on gen 9 and identity on gen 11+.

use igdemu::addr::{GuestPhys, HostPhys, Iova, Region};
use igdemu::machine::igd_slot::IgdFunction;
use igdemu::machine::memory::{E820Entry, E820Type};
use igdemu::machine::pci_bus::SimpleFunction;
use igdemu::machine::slot;
use igdemu::passthrough::VmmError;
use igdemu::pci::PciFunction;
use igdemu::session::{
    self, RemapperKind, Scenario, SessionError, SessionRun, Verdict, DEFAULT_HOST_BDSM,
};
use igdemu_harness::render;
use igdemu_roms::{build, Options, Personality, StolenSource};

const MIB: u64 = 1 << 20;

fn rom(p: Personality, source: StolenSource, baked: Option<u64>) -> Vec<u8> {
    let mut o = Options {
        stolen_source: Some(source),
        ..Options::default()
    };
    if let Some(b) = baked {
        o.baked_host_bdsm = b;
    }
    build(p, &o).expect("built-in ROM builds")
}

fn run(rom: &[u8], k: RemapperKind) -> SessionRun {
    session::run(rom, &Scenario::for_rom(rom, k)).expect("the session runs")
}

/// A config dword of 00:02.0 as the guest reads it.
fn igd_read32(run: &mut SessionRun, off: u16) -> u32 {
    let f = run
        .machine
        .device_mut::<IgdFunction>(slot::DISPLAY)
        .expect("IGD");
    let mut b = [0u8; 4];
    f.config_read(off, &mut b);
    u32::from_le_bytes(b)
}

/// Host bridge (GGC, BDSM, TOLUD) as the guest reads them.
fn host_bridge(run: &mut SessionRun) -> (u16, u32, u32) {
    let cs = run
        .machine
        .device_mut::<SimpleFunction>(slot::HOST_BRIDGE)
        .expect("host bridge")
        .config_mut();
    (cs.read_u16(0x50), cs.read_u32(0xB0), cs.read_u32(0xBC))
}

fn reserved(run: &SessionRun, base: u64, len: u64) -> bool {
    run.machine.state().e820().entries().contains(&E820Entry {
        base,
        len,
        kind: E820Type::Reserved,
    })
}

/// snb-legacy (BDSM from config) under Xen: host BDSM and GGC everywhere the
/// guest looks, guest stolen = host stolen at the host address, PTEs
/// forwarded unchanged, clean.
#[test]
fn xen_guest_sees_host_bdsm_and_stolen_is_identity_mapped() {
    let rom = rom(Personality::SnbLegacy, StolenSource::ConfigBdsm, None);
    let mut run = run(&rom, RemapperKind::Xen);
    assert_eq!(run.report.verdict, Verdict::Clean);
    // Host BDSM (lock bit kept); a guest write does not move it.
    assert_eq!(igd_read32(&mut run, 0x5C), 0x8B80_0001);
    // Host GGC 0x0210 (SNB: GMS 2 = 64 MiB, GGMS 2 MiB), GMS not hidden.
    assert_eq!(igd_read32(&mut run, 0x50) & 0xFFFF, 0x0210);
    // hvmloader's OpRegion pages with the host ASLS's low 12 bits.
    assert_eq!(igd_read32(&mut run, 0xFC), 0xFDFF_C000);
    // igd-passthrough-i440FX: host GGC copied, BDSM and TOLUD not.
    assert_eq!(host_bridge(&mut run), (0x0210, 0, 0));
    let r = &run.report.regions;
    assert_eq!(
        r.guest_stolen,
        Some(Region::new(GuestPhys(DEFAULT_HOST_BDSM), 64 * MIB))
    );
    assert_eq!(
        r.opregion,
        Some(Region::new(GuestPhys(0xFDFF_C000), 0x3000))
    );
    assert!(reserved(&run, DEFAULT_HOST_BDSM, 64 * MIB), "RDM in e820");
    assert!(reserved(&run, 0xFDFF_C000, 0x3000), "OpRegion in e820");
    let f = run.igd().expect("IGD");
    assert_eq!(
        f.dma().iommu().translate(Iova(0x8B80_5000), 4),
        Some(HostPhys(0x8B80_5000)),
        "RMRR identity mapping"
    );
    // The PTE the ROM wrote is what the device holds: host page 0.
    let gtt = &run.report.gtt[0];
    assert_eq!((gtt.first, gtt.count), (0, 256), "POST maps 256 pages");
    assert_eq!(gtt.guest_first, 0x8B80_0005);
    assert_eq!(gtt.device_first, 0x8B80_0005);
    assert_eq!(gtt.outcome, "forwarded");
}

/// Every source a ROM may take its base from reads the host base under Xen
/// (no BAR0 mirror, BDSM passed through): all clean.
#[test]
fn xen_is_clean_whatever_the_rom_reads() {
    for s in StolenSource::ALL {
        let rom = rom(Personality::SklLegacy, s, None);
        let run = run(&rom, RemapperKind::Xen);
        assert_eq!(run.report.verdict, Verdict::Clean, "{}", s.name());
        assert_eq!(run.report.gtt[0].device_first, 0x8B80_0003, "{}", s.name());
    }
}

/// A ROM that bakes in another machine's host BDSM is still wrong under
/// Xen: nothing translates, so its PTEs land outside the identity mapping.
#[test]
fn xen_rom_baking_another_host_bdsm_still_fails() {
    let rom_low = rom(
        Personality::SklLegacy,
        StolenSource::Baked,
        Some(0x7000_0000),
    );
    let run_low = run(&rom_low, RemapperKind::Xen);
    assert_eq!(run_low.report.verdict, Verdict::Corrupt, "into guest RAM");
    assert_eq!(run_low.report.check.violations.len(), 256);
    assert_eq!(run_low.report.gtt[0].device_first, 0x7000_0003);
    let rom_high = rom(
        Personality::SklLegacy,
        StolenSource::Baked,
        Some(0x9800_0000),
    );
    let run_high = run(&rom_high, RemapperKind::Xen);
    assert_eq!(run_high.report.verdict, Verdict::Fault, "nothing mapped");
}

/// libxl refuses a domain whose RDM overlaps its RAM below
/// rdm_mem_boundary (policy strict).
#[test]
fn xen_rdm_overlapping_guest_ram_is_refused() {
    let rom = rom(Personality::SnbLegacy, StolenSource::ConfigBdsm, None);
    let mut sc = Scenario::for_rom(&rom, RemapperKind::Xen);
    sc.host_bdsm = 0x7000_0000;
    match session::run(&rom, &sc) {
        Err(SessionError::Vmm(e)) => assert_eq!(
            e,
            VmmError::XenRdmConflict {
                start: 0x7000_0000,
                end: 0x7400_0000,
                ram_end: 0x8000_0000,
                boundary: 0x8000_0000,
            }
        ),
        other => panic!(
            "expected an RDM conflict, got {:?}",
            other.map(|r| r.report)
        ),
    }
}

/// A 3 GiB guest: its RAM would run over the RDM, which starts above
/// rdm_mem_boundary, so libxl ends low RAM at the RDM and moves the rest
/// above 4 GiB.
#[test]
fn xen_lowers_lowmem_below_an_rdm_above_the_boundary() {
    let rom = rom(Personality::SnbLegacy, StolenSource::ConfigBdsm, None);
    let mut sc = Scenario::for_rom(&rom, RemapperKind::Xen);
    sc.machine.ram_size = 3 << 30;
    let run = session::run(&rom, &sc).expect("runs");
    assert_eq!(run.report.verdict, Verdict::Clean);
    let e820 = run.machine.state().e820().entries().to_vec();
    let ram: Vec<(u64, u64)> = e820
        .iter()
        .filter(|e| e.kind == E820Type::Ram)
        .map(|e| (e.base, e.base + e.len))
        .collect();
    assert_eq!(
        ram.iter().map(|r| r.1).filter(|&end| end < 1 << 32).max(),
        Some(DEFAULT_HOST_BDSM)
    );
    assert!(
        ram.contains(&(1 << 32, (1 << 32) + (3 << 30) - DEFAULT_HOST_BDSM)),
        "{ram:x?}"
    );
    assert!(reserved(&run, DEFAULT_HOST_BDSM, 64 * MIB));
}

/// skl-legacy under ACRN (0x1916 is in ACRN's gen 9 allowlist): BDSM reads
/// GPU_DSM_GPA, the IOMMU maps it onto host stolen memory; a ROM reading
/// config BDSM is clean, one reading the BAR0 mirror gets the host base,
/// which nothing maps on gen 9 (ACRN's reason for the gen 11+ identity map).
#[test]
fn acrn_gen9_maps_host_stolen_at_gpu_dsm_gpa() {
    let rom_cfg = rom(Personality::SklLegacy, StolenSource::ConfigBdsm, None);
    let mut run = run(&rom_cfg, RemapperKind::Acrn);
    assert_eq!(run.report.verdict, Verdict::Clean);
    assert_eq!(igd_read32(&mut run, 0x5C), 0x7C00_0001);
    // SKL host GGC: GMS 2 (64 MiB) in 15:8, GGMS 2 MiB... as the host has it.
    let ggc = igd_read32(&mut run, 0x50) & 0xFFFF;
    assert_eq!(u64::from(ggc), u64::from(run.report.device.ggc));
    assert_eq!(igd_read32(&mut run, 0xFC), 0x7BFF_B000);
    assert_eq!(host_bridge(&mut run), (0, 0, 0), "NetApp host bridge");
    assert_eq!(
        run.report.regions.guest_stolen,
        Some(Region::new(GuestPhys(0x7C00_0000), 64 * MIB))
    );
    assert!(reserved(&run, 0x7BFF_B000, 64 * MIB + 0x5000));
    let f = run.igd().expect("IGD");
    assert_eq!(
        f.dma().iommu().translate(Iova(0x7C00_1000), 4),
        Some(HostPhys(0x8B80_1000)),
        "GPU_DSM_GPA -> host DSM"
    );
    assert_eq!(run.report.gtt[0].guest_first, 0x7C00_0003);
    assert_eq!(run.report.gtt[0].device_first, 0x7C00_0003);
    assert!(run.report.caveat.is_some_and(|c| c.contains("OVMF")));
    let text = render::text(&run.report, 8);
    assert!(
        text.contains("note: ACRN documents GVT-d with OVMF"),
        "{text}"
    );

    let rom_bar0 = rom(Personality::SklLegacy, StolenSource::Bar0Unreal, None);
    let run =
        session::run(&rom_bar0, &Scenario::for_rom(&rom_bar0, RemapperKind::Acrn)).expect("runs");
    assert_eq!(run.report.verdict, Verdict::Escape);
    assert_eq!(run.report.gtt[0].device_first, 0x8B80_0003);
}

/// icl-legacy under ACRN: gen 11+ is identity mapped, 0xC0 reads the host
/// base's low dword, 0xC4 reads 0.
#[test]
fn acrn_gen11_is_identity_mapped() {
    let rom = rom(Personality::IclLegacy, StolenSource::ConfigBdsm, None);
    let mut run = run(&rom, RemapperKind::Acrn);
    assert_eq!(run.report.verdict, Verdict::Clean);
    assert_eq!(igd_read32(&mut run, 0xC0), 0x8B80_0001);
    assert_eq!(igd_read32(&mut run, 0xC4), 0);
    assert_eq!(
        run.report.regions.guest_stolen,
        Some(Region::new(GuestPhys(DEFAULT_HOST_BDSM), 64 * MIB))
    );
    assert_eq!(run.report.gtt[0].device_first, 0x8B80_0003);
}

/// Devices missing from ACRN's allowlist (pre-SKL) are taken for gen 11+;
/// their 0xC0 holds no BDSM, and igdemu refuses rather than map at 0.
#[test]
fn acrn_refuses_devices_outside_its_allowlist() {
    let rom = rom(Personality::SnbLegacy, StolenSource::ConfigBdsm, None);
    match session::run(&rom, &Scenario::for_rom(&rom, RemapperKind::Acrn)) {
        Err(SessionError::Vmm(e)) => {
            assert_eq!(
                e,
                VmmError::AcrnNoGen11Bdsm {
                    device_id: 0x0126,
                    read: 0
                }
            );
        }
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.report)),
    }
}
