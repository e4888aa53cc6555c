//! Fuzz target bodies, shared by the cargo-fuzz targets in `fuzz/` and the
//! regression test that replays every input they ever found
//! (`harness/tests/fuzz_regressions.rs`), so a saved input always runs
//! through exactly the code that failed on it. Each function takes arbitrary
//! bytes and panics only when an invariant breaks.

use std::time::Duration;

use crate::addr::{GuestPhys, HostPhys, Region};
use crate::check::sweep_gtt;
use crate::cpu::rom;
use crate::igd::generation::{PlatformInfo, PteFormat, PLATFORMS};
use crate::igd::{IgdConfig, IgdDevice};
use crate::machine::iommu::{AccessClass, Iommu, IommuDma, Mapping, SparseMemory};
use crate::passthrough::firmware::{
    default_opregion, intel_igd_setup, BdsmWrite, E820Entry, E820Type, FirmwareError, FirmwareInput,
};
use crate::passthrough::testing::write_pte;
use crate::passthrough::{GttWrite, HostIgd, Passthrough, PassthroughEvent, Remapper, Strict};
use crate::pci::cap_id;
use crate::session::{self, RemapperKind, Scenario, Step};

/// Instruction budget per run for [`load_and_run`].
pub const FUZZ_BUDGET: u64 = 200_000;
/// Wall-clock deadline per run for [`load_and_run`].
pub const FUZZ_DEADLINE: Duration = Duration::from_millis(500);

/// Parse arbitrary bytes as an option ROM; whatever comes back must be
/// consistent with the input.
pub fn rom_parser(data: &[u8]) {
    if let Ok(images) = rom::parse_images(data) {
        assert!(!images.is_empty() && images.len() <= 16);
        for img in &images {
            assert!(img.offset < data.len());
        }
    }
    if let Ok((img, bytes, ok)) = rom::select_x86(data) {
        assert_eq!(bytes.len(), img.size);
        assert!(img
            .offset
            .checked_add(img.size)
            .is_some_and(|e| e <= data.len()));
        assert_eq!(img.code_type, rom::CODE_TYPE_X86);
        assert_eq!(ok, rom::checksum(bytes) == 0);
    }
}

/// Arbitrary bytes as a ROM through the whole session (POST and a VBE mode
/// set) with a small budget; bad checksums are allowed so mutated images run.
/// Any outcome is fine except a panic or a run past its limits.
pub fn load_and_run(data: &[u8]) {
    let mut sc =
        Scenario::for_rom(data, RemapperKind::Strict).with_script(vec![Step::vbe(1024, 768, 32)]);
    sc.machine.budget = FUZZ_BUDGET;
    sc.machine.deadline = FUZZ_DEADLINE;
    sc.allow_bad_checksum = true;
    if let Ok(run) = session::run(data, &sc) {
        // POST and each step are bounded by the budget (blocks are counted
        // whole, so allow one block past it).
        let per_run = FUZZ_BUDGET + 4096;
        let runs = 1 + 256 + 2;
        assert!(run.report.instructions <= per_run * runs);
    }
}

/// Every PTE format: decoding an arbitrary entry and encoding the result
/// gives the entry back, and encoding a valid address decodes to it.
pub fn pte_decode(data: &[u8]) {
    let mut r = Reader(data);
    let raw = r.u64();
    let other = r.u64();
    for fmt in [
        PteFormat::Snb,
        PteFormat::Vlv,
        PteFormat::Hsw,
        PteFormat::Gen8,
        PteFormat::Gen12,
    ] {
        let raw = if fmt.size() == 4 {
            raw & 0xFFFF_FFFF
        } else {
            raw
        };
        let p = fmt.decode(raw);
        assert_eq!(p.valid, raw & 1 != 0);
        assert_eq!(p.addr % 4096, 0, "{fmt:?} {raw:#x}");
        assert!(p.addr < fmt.addr_limit(), "{fmt:?} {raw:#x}");
        assert_eq!(fmt.encode(p.addr, p.flags), Ok(raw), "{fmt:?} {raw:#x}");
        let addr = (other % fmt.addr_limit()) & !0xFFF;
        let flags = raw & fmt.flag_mask();
        let back = fmt.encode(addr, flags).map(|e| fmt.decode(e));
        assert_eq!(
            back.map(|q| (q.addr, q.flags)),
            Ok((addr, flags)),
            "{fmt:?} {addr:#x} {flags:#x}"
        );
    }
}

/// Reads op arguments off the fuzz input; zeros once it runs out.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }
    fn width(&mut self) -> usize {
        [1usize, 2, 4, 8]
            .get(usize::from(self.u8() % 4))
            .copied()
            .unwrap_or(4)
    }
    fn bytes(&mut self, w: usize) -> Vec<u8> {
        let v = self.u64().to_le_bytes();
        v.iter().take(w).copied().collect()
    }
}

/// A guest (the IGD behind `Strict`, firmware step done): the fixture of the
/// stateful fuzz target and of the adversarial property test.
pub struct World {
    /// The passthrough layer with the real device behind it.
    pub pt: Passthrough<IgdDevice, Strict>,
    /// Device DMA through the IOMMU into sparse guest memory.
    pub bus: IommuDma<SparseMemory>,
    /// The guest stolen region the firmware step reserved.
    pub stolen: Region<GuestPhys>,
    /// Offset of the Advanced Features capability (FLR), if any.
    pub af: Option<u16>,
}

/// Guest RAM below 4 GiB of a [`World`] (2 GiB).
const WORLD_RAM: u64 = 0x8000_0000;

/// The SeaBIOS-like firmware step of a [`World`]: reserve guest stolen memory
/// (and the OpRegion) below 2 GiB of RAM, write the platform's BDSM register
/// through `pt` and tell `pt` where stolen memory went.
pub fn firmware_step<H: HostIgd, R: Remapper + ?Sized>(
    pt: &mut Passthrough<H, R>,
    info: &PlatformInfo,
) -> Result<Option<Region<GuestPhys>>, FirmwareError> {
    let fw = intel_igd_setup(&FirmwareInput {
        ram_top_below_4g: WORLD_RAM,
        e820: vec![E820Entry {
            base: 0,
            len: WORLD_RAM,
            kind: E820Type::Ram,
        }],
        bdsm_size: pt.bdsm_size(),
        opregion: Some(default_opregion()),
        // Where the VMM emulates BDSM (the platform's register for Strict).
        bdsm_write: BdsmWrite::Generation(pt.bdsm_location().unwrap_or(info.bdsm)),
    })?;
    for poke in &fw.config_writes {
        pt.config_write(poke.offset, &poke.data);
    }
    pt.set_reserved_stolen(fw.stolen);
    Ok(fw.stolen)
}

/// The IOMMU of a [`World`]: its RAM mapped at host 64 GiB, guest stolen
/// memory `stolen`, host stolen memory at `host`.
#[must_use]
pub fn vm_iommu(stolen: Region<GuestPhys>, host: u64, host_stolen_size: u64) -> Iommu {
    Iommu::new(
        vec![Mapping {
            guest: Region::new(GuestPhys(0), WORLD_RAM),
            host: HostPhys(0x10_0000_0000),
        }],
        Some(stolen),
        Region::new(HostPhys(host), host_stolen_size),
    )
}

/// Every GTT entry the events wrote into the device (BAR4 data and BAR0 GTT
/// writes), in order.
pub fn gtt_writes<'a>(
    events: impl IntoIterator<Item = &'a PassthroughEvent>,
) -> impl Iterator<Item = &'a GttWrite> {
    events.into_iter().flat_map(|e| match e {
        PassthroughEvent::Bar4DataWrite { gtt, .. }
        | PassthroughEvent::Bar0GttWrite { gtt, .. } => gtt.as_slice(),
        _ => &[],
    })
}

/// Build a [`World`] for a platform with host BDSM `host` (2 GiB of guest RAM,
/// SeaBIOS-like firmware step writing the platform's BDSM register).
pub fn world(info: &'static PlatformInfo, host: u64) -> Option<World> {
    let id = *info.device_ids.first()?;
    let cfg = IgdConfig {
        host_bdsm: HostPhys(host),
        ..IgdConfig::for_device(id).ok()?
    };
    let mut pt = Passthrough::new(IgdDevice::new(cfg).ok()?, Box::new(Strict::default()));
    let stolen = firmware_step(&mut pt, info).ok()??;
    let iommu = vm_iommu(stolen, host, pt.host().stolen_size());
    let af = pt.host().config().find_capability(cap_id::AF);
    Some(World {
        pt,
        bus: IommuDma::new(iommu, SparseMemory::new()),
        stolen,
        af,
    })
}

/// Arbitrary guest operations against `Passthrough<IgdDevice, Strict>`; after
/// every one, no entry the device holds or was written maps outside guest
/// stolen memory, and every DMA access lands inside it.
pub fn strict_guest_ops(data: &[u8]) {
    let mut r = Reader(data);
    let Some(info) = PLATFORMS.get(usize::from(r.u8()) % PLATFORMS.len()) else {
        return;
    };
    let hosts = [0x8B00_0000u64, 0x3_8B00_0000, 0x7E00_0000];
    let host = hosts
        .get(usize::from(r.u8()) % hosts.len())
        .copied()
        .unwrap_or(0x8B00_0000);
    let host = if info.bdsm.width() == 4 {
        host & 0xFFFF_FFFF
    } else {
        host
    };
    let Some(mut w) = world(info, host) else {
        return;
    };
    let fmt = info.pte;
    let size = fmt.size();
    let gtt_base = info.gtt_offset_in_bar0();
    let mut steps = 0;
    while !r.0.is_empty() && steps < 4096 {
        steps += 1;
        match r.u8() % 10 {
            0 => {
                let off = r.u16() % 0x1000;
                let w_ = r.width().min(4);
                let b = r.bytes(w_);
                w.pt.config_write(off, &b);
            }
            1 => {
                let off = r.u16() % 0x1000;
                let mut b = vec![0u8; r.width().min(4)];
                w.pt.config_read(off, &mut b);
            }
            2 => {
                let off = u16::from(r.u8() % 8);
                let w_ = r.width().min(4);
                let b = r.bytes(w_);
                w.pt.io_write(off, &b);
            }
            3 => {
                let off = u16::from(r.u8() % 8);
                let mut b = vec![0u8; r.width().min(4)];
                w.pt.io_read(off, &mut b);
            }
            4 => {
                // A PTE through BAR4 index/data (or BAR0 where that is the way).
                let entry = u64::from(r.u8());
                let raw = r.u64();
                if info.iobar_gtt {
                    write_pte(&mut w.pt, entry, raw, false);
                } else {
                    let b = r.bytes(size as usize);
                    w.pt.mmio_write(gtt_base + entry * size, &b);
                }
            }
            5 => {
                let sel = r.u8();
                let off = match sel % 4 {
                    0 => gtt_base + u64::from(r.u16()),
                    1 => 0x1080C0 + u64::from(r.u8() % 8),
                    2 => u64::from(r.u16()) << 5,
                    _ => r.u64(),
                };
                let w_ = r.width();
                let b = r.bytes(w_);
                w.pt.mmio_write(off, &b);
            }
            6 => {
                let off = r.u64() % (4 << 20);
                let mut b = vec![0u8; r.width()];
                w.pt.mmio_read(off, &mut b);
            }
            7 | 8 => {
                let off = if r.u8() & 1 == 0 {
                    u64::from(r.u16()) << 4
                } else {
                    r.u64()
                };
                let len = usize::from(r.u8() % 128) + 1;
                if r.u8() & 1 == 0 {
                    let _ = w.pt.aperture_write(off, &vec![0xA5; len], &mut w.bus);
                } else {
                    let mut b = vec![0u8; len];
                    let _ = w.pt.aperture_read(off, &mut b, &mut w.bus);
                }
            }
            _ => match w.af {
                Some(af) => {
                    w.pt.config_write(af + 4, &[1]);
                }
                None => w.pt.flr(),
            },
        }
        let events = w.pt.take_events();
        for g in gtt_writes(&events) {
            let p = fmt.decode(g.new);
            assert!(
                !p.valid || w.stolen.contains_range(p.addr, 4096),
                "entry {} = {:#x} maps {:#x} outside {:?}",
                g.index,
                g.new,
                p.addr,
                w.stolen
            );
        }
        for a in w.bus.log.drain(..) {
            assert_eq!(a.class, AccessClass::GuestStolen, "DMA {a:?}");
        }
        assert!(w.pt.halted().is_none());
    }
    let mut bad = Vec::new();
    sweep_gtt(
        w.pt.host().gtt().bytes(),
        fmt,
        &w.bus.iommu,
        |i, raw, a, c| bad.push((i, raw, a, c)),
    );
    assert!(bad.is_empty(), "GTT sweep: {bad:x?}");
}

/// Seed inputs for [`strict_guest_ops`], one per platform and host BDSM:
/// the firmware-visible registers read back, then every kind of guest
/// operation (config writes including BDSM, BAR4 index/data, PTE writes of
/// host stolen and stray addresses, BAR0 GTT and mirror writes, aperture
/// writes and reads, FLR). Named `PLATFORM-hostN`.
#[must_use]
pub fn strict_guest_ops_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (p, info) in PLATFORMS.iter().enumerate() {
        for host in 0..3u8 {
            let mut d = vec![p as u8, host];
            let bdsm = info.bdsm.offset();
            // 1: read BDSM (4 bytes).
            d.extend([1]);
            d.extend(bdsm.to_le_bytes());
            d.push(2);
            // 4: PTE 0 = host stolen page 0; PTE 7 = a page outside it.
            // (Without the BAR4 path, the op takes the bytes for BAR0 too.)
            let pte = |d: &mut Vec<u8>, entry: u8, raw: u64| {
                d.extend([4, entry]);
                d.extend(raw.to_le_bytes());
                if !info.iobar_gtt {
                    d.extend(raw.to_le_bytes());
                }
            };
            pte(&mut d, 0, 0x8B00_0003);
            pte(&mut d, 7, 0x0000_1003);
            // 2: BAR4 index write (4 bytes), 3: data read.
            d.push(2);
            d.push(0);
            d.push(2);
            d.extend(1u64.to_le_bytes());
            d.push(3);
            d.push(4);
            d.push(2);
            // 5: BAR0 write through the GTT half and the BDSM mirror.
            d.push(5);
            d.push(0);
            d.extend(8u16.to_le_bytes());
            d.push(2);
            d.extend(0x7E00_0003u64.to_le_bytes());
            d.push(5);
            d.push(1);
            d.push(0);
            d.push(2);
            d.extend(0xFFF0_0000u64.to_le_bytes());
            // 7: aperture write at page 0, 8: read it back.
            d.push(7);
            d.push(0);
            d.extend(0u16.to_le_bytes());
            d.push(16);
            d.push(0);
            d.push(8);
            d.push(0);
            d.extend(0u16.to_le_bytes());
            d.push(16);
            d.push(1);
            // 0: config write of BDSM to the top of the 32-bit space.
            d.push(0);
            d.extend(bdsm.to_le_bytes());
            d.push(2);
            d.extend(0xFFF0_0000u64.to_le_bytes());
            // PTE 1 after that.
            pte(&mut d, 1, 0x8B00_1003);
            // 9: FLR.
            d.push(9);
            out.push((format!("{}-host{host}", info.name.to_lowercase()), d));
        }
    }
    out
}

/// Seed inputs for [`pte_decode`]: valid and invalid entries with high
/// address bits, flags and all-ones.
#[must_use]
pub fn pte_decode_seeds() -> Vec<(String, Vec<u8>)> {
    [
        ("zero", 0u64, 0u64),
        ("snb-valid", 0x8B80_0005, 0x7E00_0000),
        ("snb-high-bits", 0x8B80_0FF5, 0xF_FFFF_F000),
        ("gen8-valid", 0x0000_0003_8B80_0003, 0x3_8B80_0000),
        ("gen12-high", 0x0000_7FFF_FFFF_F003, 0x7F_FFFF_F000),
        ("all-ones", u64::MAX, u64::MAX),
    ]
    .into_iter()
    .map(|(name, raw, other)| {
        let mut d = raw.to_le_bytes().to_vec();
        d.extend(other.to_le_bytes());
        (name.to_string(), d)
    })
    .collect()
}
